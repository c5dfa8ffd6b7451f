import CZlib
import Foundation
import TVPFormats

/// Whole-file reads through zlib's gz interface: gzip files are inflated, plain files pass through.
public enum Gzip {
    /// The (inflated) bytes of the file at `path`; more than `ReaderLimits.maxExpandedBytes` is an
    /// error (a gzip bomb turns a few megabytes into gigabytes).
    public static func read(_ path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw DataError(path, "cannot open: \(String(cString: strerror(errno)))")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
                gzclose(file)
                throw DataError(path, "corrupt or truncated gzip data: \(message)")
            }
            if n == 0 { break }
            if let problem = ReaderLimits.expandedProblem(bytes.count + Int(n), "the content") {
                gzclose(file)
                throw DataError(path, problem)
            }
            bytes.append(contentsOf: chunk[0..<Int(n)])
        }
        // zlib reports a stream cut short only when the file is closed.
        let closed = gzclose(file)
        guard closed == Z_OK else { throw DataError(path, "truncated gzip data (zlib code \(closed)); fetch the file again") }
        return bytes
    }

    /// Writes `bytes` gzip-compressed to `path` atomically (temp file + rename).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temp = path + ".tmp-\(getpid())"
        guard let file = gzopen(temp, "wb") else { throw DataError(path, "cannot create: \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        let closed = gzclose(file)
        guard written == Int32(bytes.count) || bytes.isEmpty, closed == Z_OK else {
            unlink(temp)
            throw DataError(path, "write failed")
        }
        guard rename(temp, path) == 0 else { unlink(temp); throw DataError(path, "cannot rename into place: \(String(cString: strerror(errno)))") }
    }
}
