import Foundation
import TVPFormats

/// The element types `NPYFile` reads (numpy `descr` strings).
public enum NPYElement: String, Sendable {
    case uint8 = "|u1"
    case int32 = "<i4"
    case int64 = "<i8"
    case float32 = "<f4"

    public var size: Int {
        switch self {
        case .uint8: return 1
        case .int32, .float32: return 4
        case .int64: return 8
        }
    }
}

/// A numpy `.npy` file (format versions 1, 2 and 3), memory-mapped: magic "\x93NUMPY", version
/// bytes, a little-endian header length (2 bytes in v1, 4 in v2/v3), a Python dict literal
/// `{'descr': '|u1', 'fortran_order': False, 'shape': (N, …), }`, then the C-order values.
/// Only C order and the `NPYElement` types are accepted; rows (along axis 0) are read on demand.
public final class NPYFile {
    public let path: String
    public let shape: [Int]
    public let element: NPYElement
    /// Byte offset of the first value.
    public let dataOffset: Int
    private let file: MappedFile

    public init(_ path: String) throws {
        self.path = path
        do { file = try MappedFile(path: path) } catch let error as FormatError { throw DataError(path, error.message) }
        let bytes = file.bytes
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes.prefix(6)) == magic else {
            throw DataError(path, "not a .npy file: it starts with \(hexPrefix(Array(bytes.prefix(8)))), expected \\x93NUMPY")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw DataError(path, "truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw DataError(path, ".npy format version \(major).\(bytes[7]) is not supported (1, 2 or 3)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw DataError(path, "truncated: the .npy header needs \(headerLength) bytes, the file has \(bytes.count - headerStart) after the prefix")
        }
        let header = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<headerStart + headerLength]), as: UTF8.self)
        let dict = try NPYHeader.parse(header, file: path)
        guard case .string(let descr)? = dict["descr"] else { throw DataError(path, "the .npy header has no 'descr' string: \(header)") }
        guard let element = NPYElement(rawValue: descr == "<u1" ? "|u1" : descr) else {
            throw DataError(path, "dtype '\(descr)' is not supported; expected one of |u1, <i4, <i8, <f4")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else { throw DataError(path, "the .npy header has no 'fortran_order': \(header)") }
        guard !fortran else { throw DataError(path, "fortran_order True is not supported (save a C-order array)") }
        guard case .shape(let shape)? = dict["shape"] else { throw DataError(path, "the .npy header has no 'shape' tuple: \(header)") }
        self.element = element
        self.shape = shape
        self.dataOffset = headerStart + headerLength
        guard let needed = CheckedSize.bytes(shape: shape, elementSize: element.size) else {
            throw DataError(path, "shape \(shape) of \(descr) needs more data bytes than can be counted, the file has \(bytes.count - dataOffset)")
        }
        guard bytes.count - dataOffset == needed else {
            throw DataError(path, "shape \(shape) of \(descr) needs \(needed) data bytes, the file has \(bytes.count - dataOffset)\(bytes.count - dataOffset < needed ? " (truncated)" : "")")
        }
    }

    /// Values per row (the product of the dimensions after the first).
    public var rowSize: Int { shape.dropFirst().reduce(1, *) }

    /// The bytes of rows `rows` along axis 0 (a view into the mapping, valid while `self` lives).
    public func rawRows(_ rows: Range<Int>) throws -> UnsafeRawBufferPointer {
        guard let count = shape.first, rows.lowerBound >= 0, rows.upperBound <= count else {
            throw DataError(path, "rows \(rows) are outside the array's \(shape.first ?? 0) rows (shape \(shape))")
        }
        let stride = rowSize * element.size
        let start = dataOffset + rows.lowerBound * stride
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<start + rows.count * stride])
    }

    /// Rows of an integer array (|u1, <i4 or <i8) as Ints.
    public func integers(_ rows: Range<Int>) throws -> [Int] {
        let raw = try rawRows(rows)
        switch element {
        case .uint8: return raw.map(Int.init)
        case .int32: return (0..<raw.count / 4).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case .int64: return (0..<raw.count / 8).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .float32: throw DataError(path, "expected integers, the array holds <f4 floats")
        }
    }

    /// Rows of any supported array as Floats (integers converted exactly where they fit).
    public func floats(_ rows: Range<Int>) throws -> [Float] {
        if element == .float32 {
            let raw = try rawRows(rows)
            return (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        return try integers(rows).map(Float.init)
    }
}

/// The Python dict literal of a .npy header: string keys, values that are strings, booleans or
/// tuples of integers.
enum NPYHeader {
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case shape([Int])
    }

    static func parse(_ text: String, file: String) throws -> [String: Value] {
        var s = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        func fail(_ what: String) -> DataError { DataError(file, "bad .npy header (\(what)): \(text)") }
        func skipSpace() { while let c = s.first, c == " " || c == "\n" { s.removeFirst() } }
        func quoted() throws -> String {
            guard let q = s.first, q == "'" || q == "\"" else { throw fail("expected a quoted string") }
            s.removeFirst()
            guard let end = s.firstIndex(of: q) else { throw fail("unterminated string") }
            let value = String(s[..<end])
            s = s[s.index(after: end)...]
            return value
        }
        guard s.first == "{" else { throw fail("expected '{'") }
        s.removeFirst()
        var dict: [String: Value] = [:]
        while true {
            skipSpace()
            if s.first == "}" { break }
            let key = try quoted()
            skipSpace()
            guard s.first == ":" else { throw fail("expected ':' after '\(key)'") }
            s.removeFirst()
            skipSpace()
            if s.first == "'" || s.first == "\"" {
                dict[key] = .string(try quoted())
            } else if s.hasPrefix("True") || s.hasPrefix("False") {
                dict[key] = .bool(s.hasPrefix("True"))
                s = s.dropFirst(s.hasPrefix("True") ? 4 : 5)
            } else if s.first == "(" {
                guard let close = s.firstIndex(of: ")") else { throw fail("unterminated tuple") }
                let inner = s[s.index(after: s.startIndex)..<close]
                var dims: [Int] = []
                for part in inner.split(separator: ",") {
                    let item = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
                    guard let d = Int(item), d >= 0 else { throw fail("shape entry '\(item)' is not a size") }
                    dims.append(d)
                }
                dict[key] = .shape(dims)
                s = s[s.index(after: close)...]
            } else {
                throw fail("unexpected value for '\(key)'")
            }
            skipSpace()
            if s.first == "," { s.removeFirst() }
        }
        return dict
    }
}
