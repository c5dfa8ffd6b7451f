import Foundation
import TVPFormats

extension StreamingDigester {
    /// Hashers needed to check any of `checksums`; SHA-256 always (it is recorded in the sidecar).
    init(for checksums: [Checksum]) {
        self.init(sha256: true, md5: checksums.contains { $0.needsMD5 })
    }
}

/// Digests of the file at `path`, read in 1 MiB chunks.
func digestFile(_ path: String, for checksums: [Checksum]) throws -> FileDigests {
    var digester = StreamingDigester(for: checksums)
    try readFileChunks(path) { digester.update($0) }
    return digester.finish()
}

/// Copies `source` to `destination` (created or truncated), hashing on the way.
func copyHashing(from source: String, to destination: String, for checksums: [Checksum]) throws -> FileDigests {
    var digester = StreamingDigester(for: checksums)
    let out = try OutputFile(destination)
    defer { out.close() }
    try readFileChunks(source) { chunk in
        digester.update(chunk)
        try out.write(chunk)
    }
    try out.finish()
    return digester.finish()
}

/// Writes `bytes` to `destination` (created or truncated), hashing on the way.
func writeHashing(_ bytes: UnsafeRawBufferPointer, to destination: String, for checksums: [Checksum]) throws -> FileDigests {
    var digester = StreamingDigester(for: checksums)
    let out = try OutputFile(destination)
    defer { out.close() }
    var offset = 0
    while offset < bytes.count {
        let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(offset + fileChunkSize, bytes.count)])
        digester.update(chunk)
        try out.write(chunk)
        offset += chunk.count
    }
    try out.finish()
    return digester.finish()
}

/// A file opened for writing with POSIX calls; `finish` flushes it to disk before it is renamed into place.
private final class OutputFile {
    let path: String
    private var fd: Int32

    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw DataError(path, "cannot create: \(String(cString: strerror(errno)))") }
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < chunk.count {
            let n = Foundation.write(fd, chunk.baseAddress! + done, chunk.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw DataError(path, "write failed: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    func finish() throws {
        guard fsync(fd) == 0 else { throw DataError(path, "fsync failed: \(String(cString: strerror(errno)))") }
    }

    func close() {
        if fd >= 0 { _ = Foundation.close(fd); fd = -1 }
    }
}

/// Size and modification time (nanoseconds) of `path`, or nil when it does not exist.
func fileStamp(_ path: String) -> (size: Int, mtimeNanoseconds: Int)? {
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    return (Int(info.st_size), Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec))
}

/// Human-readable byte count: "612 B", "1.4 MB", "92.9 MB" (decimal units).
public func formatBytes(_ count: Int) -> String {
    if count < 1000 { return "\(count) B" }
    let units = ["kB", "MB", "GB", "TB"]
    var value = Double(count) / 1000
    var unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    return String(format: "%.1f", value) + " " + units[unit]
}
