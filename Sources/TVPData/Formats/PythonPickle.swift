import TVPFormats

/// Reading the pickles of Python 2 programs (CIFAR's python batches) the way Python 3's
/// `pickle.load(f, encoding="bytes")` does, with TVPFormats' `Unpickler`: Python 2 `str` objects
/// (BINSTRING, SHORT_BINSTRING) become bytes, and numpy arrays become `NumpyArray`s.
public enum PythonPickle {
    /// Unpickles `bytes`; Python 2 strings come back as `.bytes`, so binary payloads stay intact.
    public static func load(_ bytes: [UInt8], file: String) throws -> PickleValue {
        var rewritten = bytes
        try markStringsAsBytes(&rewritten, file: file)
        do {
            return try rewritten.withUnsafeBytes { raw in
                var unpickler = Unpickler(ByteReader(raw, file: file)) { _ in
                    throw FormatError(file, "persistent ids are not expected in a data pickle")
                }
                return try unpickler.load()
            }
        } catch let error as FormatError {
            throw DataError(file, error.message)
        }
    }

    /// Rewrites each BINSTRING ('T') opcode to BINBYTES ('B') and SHORT_BINSTRING ('U') to
    /// SHORT_BINBYTES ('C'): the operands have the same layout, only the type changes. Walks the
    /// opcode stream (as `pickletools.genops`), so payload bytes are never mistaken for opcodes.
    static func markStringsAsBytes(_ bytes: inout [UInt8], file: String) throws {
        var i = 0
        var at = 0   // where the current opcode starts
        func fail(_ message: String) -> DataError { DataError(file, "pickle at offset \(at): \(message)") }
        func need(_ n: Int) throws { if n < 0 || i + n > bytes.count { throw fail("truncated (\(n) more bytes needed, \(bytes.count - i) left)") } }
        func le(_ n: Int) throws -> Int {
            try need(n)
            var v = 0
            for k in 0..<n { v |= Int(bytes[i + k]) << (8 * k) }
            return v
        }
        func skipLine() throws {
            while i < bytes.count, bytes[i] != 0x0A { i += 1 }
            try need(1)
            i += 1
        }
        while i < bytes.count {
            at = i
            let op = bytes[i]
            i += 1
            switch op {
            case 0x2E: return                                               // STOP
            case 0x54:                                                      // BINSTRING → BINBYTES
                bytes[at] = 0x42
                let n = try le(4); i += 4; try need(n); i += n
            case 0x55:                                                      // SHORT_BINSTRING → SHORT_BINBYTES
                bytes[at] = 0x43
                let n = try le(1); i += 1; try need(n); i += n
            case 0x42, 0x58, 0x8B:                                          // BINBYTES, BINUNICODE, LONG4
                let n = try le(4); i += 4; try need(n); i += n
            case 0x43, 0x8C, 0x8A:                                          // SHORT_BINBYTES, SHORT_BINUNICODE, LONG1
                let n = try le(1); i += 1; try need(n); i += n
            case 0x8D, 0x8E, 0x96:                                          // BINUNICODE8, BINBYTES8, BYTEARRAY8
                let n = try le(8); i += 8; try need(n); i += n
            case 0x80, 0x4B, 0x71, 0x68, 0x82: try need(1); i += 1         // PROTO, BININT1, BINPUT, BINGET, EXT1
            case 0x4D, 0x83: try need(2); i += 2                            // BININT2, EXT2
            case 0x4A, 0x72, 0x6A, 0x84: try need(4); i += 4                // BININT, LONG_BINPUT, LONG_BINGET, EXT4
            case 0x47, 0x95: try need(8); i += 8                            // BINFLOAT, FRAME
            case 0x63, 0x69: try skipLine(); try skipLine()                 // GLOBAL, INST: module and name lines
            case 0x49, 0x4C, 0x46, 0x53, 0x56, 0x50, 0x67, 0x70: try skipLine()   // INT LONG FLOAT STRING UNICODE PERSID GET PUT
            case 0x28, 0x29, 0x30, 0x31, 0x32, 0x4E, 0x51, 0x52, 0x5D, 0x61, 0x62, 0x64, 0x65, 0x6C, 0x6F,
                 0x73, 0x74, 0x75, 0x7D, 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8F, 0x90, 0x91, 0x92, 0x93,
                 0x94, 0x97, 0x98:
                break                                                       // opcodes without operands
            default:
                throw fail("unknown pickle opcode 0x\(String(op, radix: 16))")
            }
        }
        at = i
        throw fail("no STOP opcode: the pickle is truncated")
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
