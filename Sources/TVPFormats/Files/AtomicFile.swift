import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A sibling of `path` to write before an atomic rename: same folder (so the rename stays on one file
/// system), tagged with this process's id and a random number so concurrent writers never collide.
public func temporarySibling(of path: String) -> String {
    "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

/// Writes a file all-or-nothing: `body` streams its bytes through the `write` it is given into a
/// temporary sibling, which is flushed to disk and then renamed over `path`. Readers see the old file
/// or the whole new one, never a part; a failure (or a throw from `body`) removes the temporary file.
public func writeFileAtomically(_ path: String, _ body: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    let temporary = temporarySibling(of: path)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FormatError(path, "cannot create the temporary file \(temporary): \(String(cString: strerror(errno)))") }
    var closed = false
    do {
        try body { chunk in
            var done = 0
            while done < chunk.count {
                let n = write(fd, chunk.baseAddress! + done, chunk.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FormatError(path, "write failed: \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
        guard fsync(fd) == 0 else { throw FormatError(path, "fsync failed: \(String(cString: strerror(errno)))") }
        closed = true
        guard close(fd) == 0 else { throw FormatError(path, "close failed: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw FormatError(path, "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))") }
    } catch {
        if !closed { close(fd) }
        unlink(temporary)
        throw error
    }
}

/// Writes `bytes` to `path` all-or-nothing (see `writeFileAtomically(_:_:)`).
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    try writeFileAtomically(path) { write in try bytes.withUnsafeBytes { try write($0) } }
}

/// Writes `text` as UTF-8 to `path` all-or-nothing (see `writeFileAtomically(_:_:)`).
public func writeTextFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Array(text.utf8), to: path)
}

/// The whole file at `path` as UTF-8 text (invalid sequences become U+FFFD).
public func readTextFile(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw FormatError(path, "cannot read the file: \(String(cString: strerror(errno)))")
    }
    return String(decoding: data, as: UTF8.self)
}
