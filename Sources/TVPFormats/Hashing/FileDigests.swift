import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Size and digests of some bytes, computed in one streaming pass (only the digests asked for).
public struct FileDigests: Equatable, Sendable {
    public var size: Int
    public var sha256: String?
    public var md5: String?
}

/// Hashes bytes as they stream by, for the checksums a file needs.
public struct StreamingDigester {
    private var sha: SHA256?
    private var md5: MD5?
    private var size = 0

    public init(sha256: Bool, md5: Bool) {
        self.sha = sha256 ? SHA256() : nil
        self.md5 = md5 ? MD5() : nil
    }

    public mutating func update(_ chunk: UnsafeRawBufferPointer) {
        size += chunk.count
        sha?.update(chunk)
        md5?.update(chunk)
    }

    public func finish() -> FileDigests {
        FileDigests(size: size, sha256: sha.map { hexString($0.finalize()) }, md5: md5.map { hexString($0.finalize()) })
    }
}

/// The buffer size files are streamed through: 1 MiB.
public let fileChunkSize = 1 << 20

/// Size and SHA-256 of the file at `path`, read in 1 MiB chunks.
public func fileSHA256(_ path: String) throws -> FileDigests {
    var digester = StreamingDigester(sha256: true, md5: false)
    try readFileChunks(path) { digester.update($0) }
    return digester.finish()
}

/// Streams the file at `path` through `body` in chunks of `fileChunkSize` bytes.
public func readFileChunks(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FormatError(path, "cannot open for reading: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: fileChunkSize, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let n = read(fd, buffer.baseAddress, fileChunkSize)
        if n < 0 {
            if errno == EINTR { continue }
            throw FormatError(path, "read failed: \(String(cString: strerror(errno)))")
        }
        if n == 0 { return }
        try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
}
