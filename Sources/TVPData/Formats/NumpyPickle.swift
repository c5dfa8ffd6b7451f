import TVPFormats

/// A numpy array restored from a pickle: `numpy.core.multiarray._reconstruct(ndarray, (0,), b"b")`
/// followed by BUILD with the state `(version, shape, dtype, is_fortran, raw bytes)`, where dtype is
/// `numpy.dtype(descr, align, copy)` built with `(3, byte order, …)`.
public struct NumpyArray {
    public let shape: [Int]
    /// The dtype with its byte order, as numpy spells it: "|u1", "<i8", "<f4", …
    public let descr: String
    public let fortranOrder: Bool
    /// The raw element bytes in the array's order.
    public let data: [UInt8]

    static let reconstructors: Set<String> = ["numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"]

    /// Interprets a pickled value as a numpy array; `what` names it in errors.
    public init(_ value: PickleValue, file: String, what: String) throws {
        func fail(_ message: String) -> DataError { DataError(file, "\(what): \(message)") }
        guard case .call(let function, _, let state) = value, Self.reconstructors.contains(function) else {
            throw fail("expected a pickled numpy array, found \(value.typeName)")
        }
        guard case .tuple(var fields)? = state else { throw fail("the numpy array has no BUILD state") }
        if fields.count == 5 { fields.removeFirst() }   // the version number (1); older pickles omit it
        guard fields.count == 4 else { throw fail("numpy array state has \(fields.count) fields, expected 4 or 5") }
        guard case .tuple(let dims) = fields[0] else { throw fail("numpy array shape is \(fields[0].typeName), expected a tuple") }
        var shape: [Int] = []
        for d in dims {
            guard case .int(let n) = d, n >= 0 else { throw fail("numpy array shape entry \(d.typeName) is not a size") }
            shape.append(n)
        }
        guard case .call("numpy.dtype", let dtypeArgs, let dtypeState) = fields[1],
              let name = dtypeArgs.first.flatMap(PythonPickle.text) else {
            throw fail("numpy array dtype is \(fields[1].typeName), expected numpy.dtype(…)")
        }
        var order = "|"
        if case .tuple(let s)? = dtypeState, s.count > 1, let o = PythonPickle.text(s[1]) { order = o }
        guard case .bool(let fortran) = fields[2] else { throw fail("numpy array is_fortran flag is \(fields[2].typeName)") }
        guard let raw = PythonPickle.bytes(fields[3]) else {
            throw fail("numpy array data is \(fields[3].typeName), expected raw bytes (object arrays are not supported)")
        }
        let size = Int(name.dropFirst().filter(\.isNumber)) ?? 0
        guard size > 0, let needed = CheckedSize.bytes(shape: shape, elementSize: size), raw.count == needed else {
            throw fail("\(raw.count) data bytes do not fill shape \(shape) of dtype \(order)\(name)")
        }
        self.shape = shape
        self.descr = order + name
        self.fortranOrder = fortran
        self.data = raw
    }

    /// The values of an unsigned-byte array in C order; other dtypes and Fortran order are refused.
    public func uint8Values(file: String, what: String) throws -> [UInt8] {
        guard descr == "|u1" || descr == "<u1" || descr == "=u1" else {
            throw DataError(file, "\(what): dtype \(descr) is not uint8")
        }
        guard !fortranOrder || shape.count < 2 else { throw DataError(file, "\(what): Fortran-order arrays are not supported") }
        return data
    }
}
