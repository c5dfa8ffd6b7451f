import Foundation
import TVPFormats

/// The weight and checkpoint containers tvp reads, told apart by content (never by extension).
/// More than one byte decides: a safetensors header length of 128 mod 256 starts with 0x80 just
/// like a pickle, and its second byte can look like a protocol number.
public enum WeightFileFormat: String, Sendable, CustomStringConvertible {
    /// 8-byte little-endian header length N, then N bytes of JSON starting with `{`, inside the file.
    case safetensors
    /// A ZIP archive (`PK\3\4`), as `torch.save` writes since torch 1.6.
    case torchZip = "PyTorch ZIP checkpoint"
    /// A legacy `torch.save` stream: PROTO 0x80, a protocol 2…5, then a pickle opcode.
    case torchLegacy = "legacy PyTorch checkpoint"
    /// `GGUF` magic.
    case gguf = "GGUF"

    public var description: String { rawValue }

    /// The container `bytes` (a whole file, or at least its first 16 bytes plus `fileSize`) holds,
    /// or nil when it is none of them.
    public static func detect(_ bytes: UnsafeRawBufferPointer, fileSize: Int? = nil) -> WeightFileFormat? {
        let size = fileSize ?? bytes.count
        if bytes.count >= 9 {
            let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
            if length >= 2, length <= UInt64(size - 8), bytes[8] == UInt8(ascii: "{") { return .safetensors }
        }
        if bytes.count >= 4 {
            let magic = bytes.loadUnaligned(as: UInt32.self)
            if magic == UInt32(0x0403_4b50).littleEndian { return .torchZip }
            if magic == UInt32(0x4655_4747).littleEndian { return .gguf }
        }
        // Pickle opcodes that can follow PROTO in a torch.save stream: LONG1 (the magic number),
        // FRAME, or the start of a value (EMPTY_DICT, MARK, GLOBAL, …) for a bare pickle.
        if bytes.count >= 3, bytes[0] == 0x80, (2...5).contains(bytes[1]),
           [0x8a, 0x95, 0x7d, 0x5d, 0x28, 0x63, 0x8c, 0x58].contains(bytes[2]) {
            return .torchLegacy
        }
        return nil
    }

    /// The container of the file at `path`, read from its first bytes; nil when it is none of them.
    public static func detect(path: String) throws -> WeightFileFormat? {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FormatError(path, "cannot open for reading") }
        defer { try? handle.close() }
        let head = try handle.read(upToCount: 16) ?? Data()
        let size = try handle.seekToEnd()
        return head.withUnsafeBytes { detect($0, fileSize: Int(size)) }
    }
}
