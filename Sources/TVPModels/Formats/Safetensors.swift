import Foundation
import TVPFormats
import TVPTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
import TVPTensor
#endif

// safetensors (huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}, then the
// data section; offsets are relative to its start. Writers pad the JSON with spaces so that the
// data starts 8-byte aligned.

/// One tensor's entry in a safetensors header.
public struct SafetensorsEntry: Equatable, Sendable {
    public let name: String
    /// The safetensors dtype string: "F32", "F16", "BF16", "I64", …
    public let dtype: String
    public let shape: [Int]
    /// Byte range inside the data section (after the header).
    public let dataOffsets: Range<Int>

    public init(name: String, dtype: String, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }
}

/// A safetensors file opened by memory mapping: the header is parsed and validated up front,
/// tensors are converted to Float32 on request.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    /// Every tensor's header entry, by name.
    public let entries: [String: SafetensorsEntry]
    private let file: MappedFile
    private let dataStart: Int

    /// Largest header accepted, as in the reference implementation.
    static let maxHeaderBytes = 100_000_000
    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
    ]

    /// Maps `path` and validates its header: JSON shape, dtypes, offsets inside the data section,
    /// byte counts matching shapes, no two tensors overlapping.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var reader = ByteReader(file.bytes, file: path)
        let headerLength = try reader.u64("the 8-byte header length")
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw FormatError(path, "header length \(headerLength) is larger than the 100 MB limit (not a safetensors file?)")
        }
        guard Int(headerLength) <= reader.remaining else {
            throw FormatError(path, "header length \(headerLength) goes beyond the end of the file (\(file.count) bytes): truncated or not a safetensors file")
        }
        let headerBytes = try reader.slice(Int(headerLength), "header")
        dataStart = reader.position
        let dataSize = file.count - dataStart

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw FormatError(path, "header is not valid JSON (\(headerLength) bytes): \(error.localizedDescription)")
        }
        guard let object = json as? [String: Any] else { throw FormatError(path, "header JSON is not an object") }

        var metadata: [String: String] = [:]
        var entries: [String: SafetensorsEntry] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw FormatError(path, "__metadata__ is not an object") }
                for (k, v) in map {
                    guard let s = v as? String else { throw FormatError(path, "__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let fields = value as? [String: Any] else { throw FormatError(path, "tensor '\(name)': header entry is not an object") }
            guard let dtype = fields["dtype"] as? String else { throw FormatError(path, "tensor '\(name)': missing or non-string \"dtype\"") }
            guard let elementSize = Self.dtypeSizes[dtype] else {
                throw FormatError(path, "tensor '\(name)': unknown dtype \"\(dtype)\" (known: \(Self.dtypeSizes.keys.sorted().joined(separator: ", ")))")
            }
            guard let shape = Self.integers(fields["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw FormatError(path, "tensor '\(name)': \"shape\" must be a list of non-negative integers")
            }
            guard let offsets = Self.integers(fields["data_offsets"]), offsets.count == 2 else {
                throw FormatError(path, "tensor '\(name)': \"data_offsets\" must be a list of two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw FormatError(path, "tensor '\(name)' (\(dtype) \(describe(shape))): data_offsets [\(begin), \(end)] out of range of the \(dataSize)-byte data section (file truncated?)")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, n in
                let (p, o) = acc.0.multipliedReportingOverflow(by: n); return (p, acc.1 || o)
            }
            guard !overflow, count.multipliedReportingOverflow(by: elementSize).overflow == false,
                  count * elementSize == end - begin else {
                throw FormatError(path, "tensor '\(name)' (\(dtype) \(describe(shape))): data_offsets [\(begin), \(end)] hold \(end - begin) bytes, shape needs \(overflow ? "too many" : String(count * elementSize))")
            }
            entries[name] = SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
        }
        let byStart = entries.values.filter { !$0.dataOffsets.isEmpty }
            .sorted { ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name) }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.dataOffsets.lowerBound < a.dataOffsets.upperBound {
            throw FormatError(path, "tensors '\(a.name)' [\(a.dataOffsets.lowerBound), \(a.dataOffsets.upperBound)] and '\(b.name)' [\(b.dataOffsets.lowerBound), \(b.dataOffsets.upperBound)] overlap")
        }
        self.metadata = metadata
        self.entries = entries
    }

    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var out: [Int] = []
        for item in list {
            guard let i = item as? Int else { return nil }
            out.append(i)
        }
        return out
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The tensor `name` as Float32 (F32 copied, F16 and BF16 converted); other dtypes throw.
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else {
            throw FormatError(path, "no tensor '\(name)' (the file has \(entries.count): \(names.prefix(8).joined(separator: ", "))\(entries.count > 8 ? ", …" : ""))")
        }
        let type: ElementType
        switch entry.dtype {
        case "F32": type = .float32
        case "F16": type = .float16
        case "BF16": type = .bfloat16
        default:
            throw FormatError(path, "tensor '\(name)' \(describe(entry.shape)) has dtype \(entry.dtype); only F32, F16 and BF16 can be read as Float32")
        }
        let out = Tensor(uninitialized: entry.shape)
        if out.count > 0 {
            type.convert(file.bytes.baseAddress! + dataStart + entry.dataOffsets.lowerBound, count: out.count, to: out.data)
        }
        return out
    }

    /// Every tensor as Float32, by name.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in names { out[name] = try tensor(name) }
        return out
    }
}

/// Reading and writing whole safetensors files.
public enum Safetensors {
    /// Every tensor of the file at `path` as Float32 (F32, F16, BF16; other dtypes throw).
    public static func read(_ path: String) throws -> [String: Tensor] {
        try SafetensorsFile(path: path).tensors()
    }

    /// The element types `write` stores.
    public enum StoredType: String, Sendable {
        /// 32-bit floats: exact.
        case f32 = "F32"
        /// IEEE half floats: half the size, for committed weights (values beyond ±65504 or non-finite throw).
        case f16 = "F16"

        var byteCount: Int { self == .f32 ? 4 : 2 }
    }

    /// Writes `tensors` to `path` atomically (a temporary file in the same folder, then rename), keys
    /// sorted by their UTF-8 bytes, data in that order, `__metadata__` when non-empty, and the header
    /// padded with spaces to a multiple of 8 bytes like the reference writer.
    public static func write(_ tensors: [String: Tensor], as type: StoredType = .f32, metadata: [String: String] = [:],
                             to path: String) throws {
        if tensors["__metadata__"] != nil { throw FormatError(path, "'__metadata__' is reserved and cannot name a tensor") }
        let names = tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .map { "\(canonicalJSONString($0)):\(canonicalJSONString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            if type == .f16, let i = (0..<t.count).first(where: { abs(t.data[$0]) > 65504 || !t.data[$0].isFinite }) {
                throw FormatError(path, "tensor '\(name)' holds \(t.data[i]) at \(i), which F16 cannot represent")
            }
            let bytes = t.count * type.byteCount
            parts.append("\(canonicalJSONString(name)):{\"dtype\":\"\(type.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var headerBytes = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)

        try writeFileAtomically(path) { sink in
            var length = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink($0) }
            try headerBytes.withUnsafeBytes { try sink($0) }
            for name in names {
                let t = tensors[name]!
                switch type {
                case .f32:
                    // Float32 is stored little-endian, the host order on every platform we build for.
                    try sink(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
                case .f16:
                    let halves = (0..<t.count).map { Float16(t.data[$0]).bitPattern.littleEndian }
                    try halves.withUnsafeBytes { try sink($0) }
                }
            }
        }
    }
}
