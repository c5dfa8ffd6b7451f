import TVPFormats
import TVPTensor
/// Element types found in checkpoints, and their bulk conversion to Float32.
enum ElementType: String, Sendable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// Converts `count` little-endian elements at `source` (any alignment) to Float32 at `destination`,
    /// in parallel for large counts.
    func convert(_ source: UnsafeRawPointer, count: Int, to destination: UnsafeMutablePointer<Float>) {
        if self == .float32 {
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
            return
        }
        let type = self
        Parallel.forRanges(count, costPerItem: 4) { range in
            type.convertRange(source, range, destination)
        }
    }

    private func convertRange(_ source: UnsafeRawPointer, _ range: Range<Int>, _ out: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            for i in range { out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        case .float64:
            for i in range { out[i] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
        case .float16:
            for i in range { out[i] = halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        case .bfloat16:
            for i in range { out[i] = bfloat16ToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        case .int64:
            for i in range { out[i] = Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))) }
        case .int32:
            for i in range { out[i] = Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
        case .int16:
            for i in range { out[i] = Float(Int16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))) }
        case .int8:
            for i in range { out[i] = Float(source.load(fromByteOffset: i, as: Int8.self)) }
        case .uint8:
            for i in range { out[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in range { out[i] = source.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }
}
