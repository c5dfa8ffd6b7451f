import Foundation
import TVPFormats

// Checking bytes against the manifest, and remembering that a cached file was checked.
//
// The sidecar `<file>.verified` records the file's size and modification time when it was last
// verified, and which checksum it matched. While size and mtime are unchanged and that checksum is
// still one the manifest accepts, the file is trusted without rehashing (100 MB takes seconds).

/// Nil when the bytes at `path` with `digests` have one of `forms`; otherwise why not (for the first form).
func mismatch(_ digests: FileDigests, path: String, file: FileEntry, forms: [AcceptedForm]) -> (reason: String?, form: AcceptedForm?) {
    var firstReason: String?
    for form in forms {
        var reason: String?
        if let size = form.size, size != digests.size {
            reason = "size is \(digests.size) bytes, the manifest says \(size)"
        } else if !form.checksum.matches(sha256: digests.sha256, md5: digests.md5) {
            let actual = form.checksum.needsMD5 ? "md5:\(digests.md5 ?? "?")" : "sha256:\(digests.sha256 ?? "?")"
            reason = "checksum is \(actual), the manifest expects \(form.checksum)"
        } else if form.needsContentCheck, let expected = file.contentSha256 {
            reason = contentMismatch(path: path, expectedSha256: expected, expectedSize: file.contentSize)
        }
        if reason == nil { return (nil, form) }
        if firstReason == nil { firstReason = reason }
    }
    return (firstReason ?? "no accepted form", nil)
}

/// Nil when the gzip file at `path` inflates to bytes of the expected sha256 (and size); else why not.
private func contentMismatch(path: String, expectedSha256: String, expectedSize: Int?) -> String? {
    let content: [UInt8]
    do { content = try Gzip.read(path) } catch { return "does not decompress: \(error)" }
    if let expectedSize, content.count != expectedSize {
        return "decompresses to \(content.count) bytes, the manifest says \(expectedSize)"
    }
    let actual = sha256Hex(content)
    return actual == expectedSha256 ? nil : "decompressed bytes have sha256:\(actual), the manifest expects content_sha256 \(expectedSha256)"
}

/// The sidecar that records a successful verification of `path`.
func sidecarPath(_ path: String) -> String { path + ".verified" }

/// Whether `path`'s sidecar vouches for it: same size and mtime as recorded, and the recorded checksum
/// is still among `forms` (for a file without a published checksum, the recorded "none published").
func sidecarVouches(for path: String, forms: [AcceptedForm]) -> Bool {
    guard let stamp = fileStamp(path),
          let text = try? String(contentsOfFile: sidecarPath(path), encoding: .utf8) else { return false }
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1)
        if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
    }
    guard fields["size"] == String(stamp.size), fields["mtime_ns"] == String(stamp.mtimeNanoseconds),
          let recorded = fields["checksum"] else { return false }
    return forms.contains { $0.checksum.description == recorded }
}

/// Records that `path` (as it is now) matched `form`; written by temp file + rename.
func writeSidecar(for path: String, form: AcceptedForm, digests: FileDigests) throws {
    guard let stamp = fileStamp(path) else { throw DataError(path, "vanished right after it was verified") }
    var text = "tvp-verified 1\nsize \(stamp.size)\nmtime_ns \(stamp.mtimeNanoseconds)\nchecksum \(form.checksum)\n"
    if let sha = digests.sha256 { text += "sha256 \(sha)\n" }
    let destination = sidecarPath(path)
    let temp = partialPath(for: destination)
    do {
        try text.write(toFile: temp, atomically: false, encoding: .utf8)
    } catch {
        unlink(temp)
        throw DataError(destination, "cannot write: \(error)")
    }
    guard rename(temp, destination) == 0 else {
        unlink(temp)
        throw DataError(destination, "cannot rename into place: \(String(cString: strerror(errno)))")
    }
}

/// The temp name a file is written under before it is renamed to `path`: hidden, same folder (so the
/// rename is atomic), tagged with this process's id so a later run can tell a dead writer's leftovers.
func partialPath(for path: String) -> String {
    let directory = (path as NSString).deletingLastPathComponent
    let base = (path as NSString).lastPathComponent
    return (directory as NSString).appendingPathComponent(".\(base).partial-\(getpid())")
}

/// Removes partial files of `path` (and of its sidecar) left by processes that no longer run.
func removeStalePartials(of path: String) {
    let directory = (path as NSString).deletingLastPathComponent
    let base = (path as NSString).lastPathComponent
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for name in names {
        for prefix in [".\(base).partial-", ".\(base).verified.partial-"] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), !processIsAlive(pid) {
                unlink((directory as NSString).appendingPathComponent(name))
            }
        }
    }
}

/// Whether a process with this id exists (signal 0 checks without sending anything).
func processIsAlive(_ pid: Int32) -> Bool {
    pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
}
