#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. The mapping lives as long as this object; readers
/// keep it alive while they hand out pointers into it, and copy out what they return.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path` read-only; throws a `FormatError` naming the file when it cannot be opened.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError(path, "cannot open for reading: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FormatError(path, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw FormatError(path, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    public var count: Int { bytes.count }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// A little-endian cursor over bytes that throws (naming the file) instead of reading past the end.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public let file: String
    public var position: Int

    public init(_ bytes: UnsafeRawBufferPointer, file: String, position: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.position = position
    }

    public var remaining: Int { bytes.count - position }

    /// Throws unless `n` more bytes are available; `what` says what was being read.
    public func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        if n < 0 || n > remaining {
            throw FormatError(file, "truncated: \(what()) needs \(n) bytes at offset \(position), only \(max(remaining, 0)) left (file has \(bytes.count) bytes)")
        }
    }

    public mutating func scalar<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    public mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 { try scalar(UInt8.self, what()) }
    public mutating func u16(_ what: @autoclosure () -> String) throws -> UInt16 { try scalar(UInt16.self, what()) }
    public mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try scalar(UInt32.self, what()) }
    public mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try scalar(UInt64.self, what()) }

    public mutating func f32(_ what: @autoclosure () -> String) throws -> Float { Float(bitPattern: try u32(what())) }
    public mutating func f64(_ what: @autoclosure () -> String) throws -> Double { Double(bitPattern: try u64(what())) }

    /// The next `n` bytes (a view into the mapping, valid while it lives).
    public mutating func slice(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        let s = UnsafeRawBufferPointer(rebasing: bytes[position..<position + n])
        position += n
        return s
    }

    /// `n` bytes decoded as UTF-8; invalid UTF-8 is an error, not a silent replacement.
    public mutating func utf8(_ n: Int, _ what: @autoclosure () -> String) throws -> String {
        let s = try slice(n, what())
        guard let text = String(validating: s, as: UTF8.self) else {
            throw FormatError(file, "\(what()) at offset \(position - n) is not valid UTF-8")
        }
        return text
    }
}
