import TVPFormats
import TVPTensor
// GGUF v2/v3 (ggml-org/llama.cpp, gguf-py/gguf/constants.py), little-endian:
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count × (string key, u32 value type, value),          string = u64 length + UTF-8 bytes
//   tensor_count × (string name, u32 n_dims, n_dims × u64 ne (fastest-varying first), u32 ggml type, u64 offset),
//   padding to `general.alignment` (default 32), then the data section; offsets are relative to it.

/// A GGUF metadata value. Arrays keep their declared element type (also when empty).
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The value as an Int when it is an integer of any width that fits.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a Double when it is a float or an integer.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The elements of an array value.
    public var array: [GGUFValue]? { if case .array(_, let a) = self { return a } else { return nil } }
    /// An array of strings (e.g. `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    public var strings: [String]? { elements(\.string) }
    /// An array of integers (e.g. `tokenizer.ggml.token_type`).
    public var ints: [Int]? { elements(\.int) }
    /// An array of numbers (e.g. `tokenizer.ggml.scores`).
    public var doubles: [Double]? { elements(\.double) }

    /// The elements of an array value read as `T`; nil when the value is no array or one element is
    /// not a `T`.
    private func elements<T>(_ read: KeyPath<GGUFValue, T?>) -> [T]? {
        guard let a = array else { return nil }
        var out: [T] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard let element = v[keyPath: read] else { return nil }
            out.append(element)
        }
        return out
    }
}

/// GGUF metadata value type codes.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// A ggml tensor type code, with its name; only some can be dequantized (`isSupported`).
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0), f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2), q4_1 = GGMLType(rawValue: 3)
    public static let q8_0 = GGMLType(rawValue: 8), bf16 = GGMLType(rawValue: 30)

    static let names: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
        11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
        27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]

    public var description: String { Self.names[rawValue] ?? "type \(rawValue)" }

    /// (elements per block, bytes per block) for the types this reader dequantizes.
    var block: (elements: Int, bytes: Int)? {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q8_0: return (32, 34)    // f16 d, 32 × int8
        case .q4_0: return (32, 18)    // f16 d, 16 bytes of nibbles
        case .q4_1: return (32, 20)    // f16 d, f16 m, 16 bytes of nibbles
        default: return nil
        }
    }

    /// Whether `GGUFFile.tensor(_:)` can turn this type into Float32.
    public var isSupported: Bool { block != nil }
}

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    /// Row-major shape: GGUF's `ne` list reversed (`token_embd.weight` is [n_vocab, n_embd]).
    public let shape: [Int]
    public let type: GGMLType
    /// Byte offset of the tensor data relative to the data section.
    public let offset: Int
}

/// A GGUF file opened by memory mapping: header, metadata and tensor infos parsed and checked up
/// front; tensors dequantized to Float32 by `tensor(_:)` or all at once by `tensors()`. Counts,
/// dimensions, offsets and the alignment come from the file: they are combined with `CheckedSize`
/// and compared with the bytes present before anything is reserved or read.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// Every metadata key/value pair, by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// `general.alignment`, or 32.
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    private let file: MappedFile
    private let infoByName: [String: Int]

    /// Most elements one metadata array may hold. Each becomes a `GGUFValue` of 24 bytes or more,
    /// so a byte array as long as the file would take 24 times its size; real tokenizer arrays
    /// hold under a million entries.
    public static let maxArrayElements = 1 << 24

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = ByteReader(file.bytes, file: path)
        let magic = try r.u32("magic")
        guard magic == 0x4655_4747 else {
            throw FormatError(path, "not a GGUF file: magic 0x\(String(magic, radix: 16)) instead of \"GGUF\"")
        }
        let version = Int(try r.u32("version"))
        guard version == 2 || version == 3 else { throw FormatError(path, "GGUF version \(version) is not supported (2 or 3 expected)") }
        self.version = version
        let tensorCount = try r.u64("tensor count"), kvCount = try r.u64("metadata count")
        // Every entry takes at least 8 bytes, which bounds honest counts by the file size.
        guard tensorCount <= UInt64(file.count / 8), kvCount <= UInt64(file.count / 8) else {
            throw FormatError(path, "header claims \(tensorCount) tensors and \(kvCount) metadata entries, impossible in \(file.count) bytes")
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<Int(kvCount) {
            let key = try Self.string(&r, "metadata key #\(i)")
            let rawType = try r.u32("type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else { throw FormatError(path, "metadata '\(key)': unknown value type \(rawType)") }
            if metadata[key] != nil { throw FormatError(path, "metadata key '\(key)' appears twice") }
            metadata[key] = try Self.value(&r, type, key: key, depth: 0)
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        if let a = metadata["general.alignment"] {
            guard let n = a.int, n > 0, n & (n - 1) == 0 else {
                throw FormatError(path, "general.alignment \(a) is not a positive power of two")
            }
            alignment = n
        } else {
            alignment = 32
        }

        var infos: [GGUFTensorInfo] = []
        var byName: [String: Int] = [:]
        for i in 0..<Int(tensorCount) {
            let name = try Self.string(&r, "name of tensor #\(i)")
            let nDims = try r.u32("rank of tensor '\(name)'")
            guard nDims <= 8 else { throw FormatError(path, "tensor '\(name)': rank \(nDims) (at most 8 expected)") }
            var ne: [Int] = []
            for d in 0..<Int(nDims) {
                let n = try r.u64("dimension \(d) of tensor '\(name)'")
                guard n <= UInt64(Int32.max) else { throw FormatError(path, "tensor '\(name)': dimension \(d) is \(n)") }
                ne.append(Int(n))
            }
            let type = GGMLType(rawValue: try r.u32("type of tensor '\(name)'"))
            let offset = try r.u64("offset of tensor '\(name)'")
            guard offset <= UInt64(file.count) else { throw FormatError(path, "tensor '\(name)': data offset \(offset) beyond the file (\(file.count) bytes)") }
            if byName[name] != nil { throw FormatError(path, "tensor '\(name)' appears twice") }
            byName[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, shape: ne.reversed(), type: type, offset: Int(offset)))
        }
        tensorInfos = infos
        infoByName = byName
        guard let padded = CheckedSize.sum(r.position, alignment - 1) else {
            throw FormatError(path, "general.alignment \(alignment) is too large for a file of \(file.count) bytes")
        }
        dataOffset = padded / alignment * alignment

        // Check every supported tensor's bytes now, so a truncated file fails at open.
        for info in infos where info.type.isSupported {
            _ = try byteRange(info)
        }
    }

    private static func string(_ r: inout ByteReader, _ what: @autoclosure () -> String) throws -> String {
        let n = try r.u64("length of \(what())")
        guard n <= UInt64(r.remaining) else {
            throw FormatError(r.file, "truncated: \(what()) claims \(n) bytes at offset \(r.position), only \(r.remaining) left")
        }
        return try r.utf8(Int(n), what())
    }

    private static func value(_ r: inout ByteReader, _ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try r.u8(what))
        case .int8: return .int8(Int8(bitPattern: try r.u8(what)))
        case .uint16: return .uint16(try r.u16(what))
        case .int16: return .int16(Int16(bitPattern: try r.u16(what)))
        case .uint32: return .uint32(try r.u32(what))
        case .int32: return .int32(Int32(bitPattern: try r.u32(what)))
        case .float32: return .float32(try r.f32(what))
        case .uint64: return .uint64(try r.u64(what))
        case .int64: return .int64(Int64(bitPattern: try r.u64(what)))
        case .float64: return .float64(try r.f64(what))
        case .bool:
            let b = try r.u8(what)
            guard b <= 1 else { throw FormatError(r.file, "metadata '\(key)': bool byte \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try string(&r, what))
        case .array:
            guard depth < 4 else { throw FormatError(r.file, "metadata '\(key)': arrays nested deeper than 4") }
            let rawType = try r.u32("element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw FormatError(r.file, "metadata '\(key)': unknown array element type \(rawType)")
            }
            let count = try r.u64("element count of '\(key)'")
            guard count <= UInt64(maxArrayElements) else {
                throw FormatError(r.file, "metadata '\(key)': array of \(count) elements, more than the \(maxArrayElements) a GGUF metadata array may hold here (tokenizer arrays hold under a million)")
            }
            // Each element takes at least this many bytes in the file, which bounds the reservation.
            let smallest: UInt64
            switch elementType {
            case .uint8, .int8, .bool: smallest = 1
            case .uint16, .int16: smallest = 2
            case .uint32, .int32, .float32: smallest = 4
            case .uint64, .int64, .float64, .string: smallest = 8
            case .array: smallest = 12
            }
            guard count <= UInt64(r.remaining) / smallest else {
                throw FormatError(r.file, "metadata '\(key)': array of \(count) \(elementType) elements cannot fit in the \(r.remaining) bytes left")
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { items.append(try value(&r, elementType, key: key, depth: depth + 1)) }
            return .array(elementType, items)
        }
    }

    /// Tensor names in file order.
    public var names: [String] { tensorInfos.map(\.name) }

    /// The info of tensor `name`, if present.
    public func info(_ name: String) -> GGUFTensorInfo? { infoByName[name].map { tensorInfos[$0] } }

    private func byteRange(_ info: GGUFTensorInfo) throws -> Range<Int> {
        guard let block = info.type.block else {
            throw FormatError(path, "tensor '\(info.name)' \(describe(info.shape)) has ggml type \(info.type), which cannot be dequantized (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)")
        }
        let rowLength = info.shape.last ?? 1
        guard rowLength % block.elements == 0 else {
            throw FormatError(path, "tensor '\(info.name)' \(describe(info.shape)) of type \(info.type): row length \(rowLength) is not a multiple of the block size \(block.elements)")
        }
        guard info.offset % alignment == 0 else {
            throw FormatError(path, "tensor '\(info.name)': offset \(info.offset) is not a multiple of the alignment \(alignment)")
        }
        guard let count = CheckedSize.product(info.shape),
              let bytes = CheckedSize.product(count / block.elements, block.bytes),
              let start = CheckedSize.sum(dataOffset, info.offset), let end = CheckedSize.sum(start, bytes), end <= file.count else {
            throw FormatError(path, "tensor '\(info.name)' \(describe(info.shape)) \(info.type) at data offset \(info.offset): its bytes lie beyond the end of the file (\(file.count) bytes): truncated or damaged?")
        }
        return start..<end
    }

    /// The tensor `name` dequantized to Float32 in its row-major shape.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else { throw FormatError(path, "no tensor '\(name)' in this GGUF file (\(tensorInfos.count) tensors)") }
        let range = try byteRange(info)
        let out = Tensor(uninitialized: info.shape)
        if out.count > 0 {
            GGUFDequantize.run(info.type, file.bytes.baseAddress! + range.lowerBound, count: out.count, into: out.data)
        }
        return out
    }

    /// Every tensor dequantized to Float32, by name. Throws on the first unsupported type.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for info in tensorInfos { out[info.name] = try tensor(info.name) }
        return out
    }
}

/// ggml block layouts (ggml/src/ggml-quants.c, dequantize_row_*), one plain loop per type.
enum GGUFDequantize {
    static func run(_ type: GGMLType, _ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32: ElementType.float32.convert(source, count: count, to: out)
        case .f16: ElementType.float16.convert(source, count: count, to: out)
        case .bf16: ElementType.bfloat16.convert(source, count: count, to: out)
        case .q8_0: blocks(count, 34, source, out, q8_0)
        case .q4_0: blocks(count, 18, source, out, q4_0)
        case .q4_1: blocks(count, 20, source, out, q4_1)
        default: preconditionFailure("unsupported types are rejected by byteRange")
        }
    }

    private static func blocks(_ count: Int, _ blockBytes: Int, _ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>,
                               _ kernel: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) {
        Parallel.forRanges(count / 32, costPerItem: 64) { range in
            for b in range { kernel(source + b * blockBytes, out + b * 32) }
        }
    }

    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ at: Int) -> Float {
        halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
    }

    /// Q8_0: f16 d, then 32 int8 q; x = q·d.
    private static func q8_0(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        for j in 0..<32 { y[j] = Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    /// Q4_0: f16 d, then 16 bytes; byte j holds element j (low nibble) and j+16 (high); x = (q−8)·d.
    private static func q4_0(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        for j in 0..<16 {
            let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = Float(Int(q & 0x0f) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    /// Q4_1: f16 d, f16 m, then 16 bytes as in Q4_0; x = q·d + m.
    private static func q4_1(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), m = half(block, 2)
        for j in 0..<16 {
            let q = block.load(fromByteOffset: 4 + j, as: UInt8.self)
            y[j] = Float(q & 0x0f) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }
}
