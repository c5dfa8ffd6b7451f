import TVPFormats

/// Reading the pickles of Python 2 programs (CIFAR's python batches) the way Python 3's
/// `pickle.load(f, encoding="bytes")` does, with TVPFormats' `Unpickler`: Python 2 `str` objects
/// (BINSTRING, SHORT_BINSTRING) become bytes, and numpy arrays become `NumpyArray`s.
public enum PythonPickle {
    /// Unpickles `bytes`; Python 2 strings come back as `.bytes`, so binary payloads stay intact.
    public static func load(_ bytes: [UInt8], file: String) throws -> PickleValue {
        do {
            return try bytes.withUnsafeBytes { raw in
                var unpickler = Unpickler(ByteReader(raw, file: file), python2StringsAsBytes: true) { _ in
                    throw FormatError(file, "persistent ids are not expected in a data pickle")
                }
                return try unpickler.load()
            }
        } catch let error as FormatError {
            throw DataError(file, error.message)
        }
    }

    /// The bytes a value stands for: `.bytes`, a `str` of code points below 256 (Latin-1), or the
    /// `_codecs.encode(str, "latin1")` call Python 3 writes for bytes under protocol 2.
    public static func bytes(_ value: PickleValue) -> [UInt8]? {
        switch value {
        case .bytes(let b): return b
        case .string(let s): return latin1(s)
        case .call(let f, let args, _) where f == "_codecs.encode":
            guard case .string(let s)? = args.first else { return nil }
            if args.count > 1, case .string(let encoding) = args[1], !["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased()) {
                return nil
            }
            return latin1(s)
        case .call(let f, let args, _) where (f == "__builtin__.bytes" || f == "builtins.bytes") && args.isEmpty:
            return []
        default: return nil
        }
    }

    /// Text of a str or bytes value (bytes as UTF-8, which covers the ASCII names in CIFAR).
    public static func text(_ value: PickleValue) -> String? {
        if case .string(let s) = value { return s }
        return bytes(value).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func latin1(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for scalar in s.unicodeScalars {
            guard scalar.value < 256 else { return nil }
            out.append(UInt8(scalar.value))
        }
        return out
    }

    /// The value under `key` in a dict whose keys are str or bytes.
    public static func lookup(_ dict: PickleDict, _ key: String) -> PickleValue? {
        dict.entries.first { text($0.key) == key }?.value
    }
}
