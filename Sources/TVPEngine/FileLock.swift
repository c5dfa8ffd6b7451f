import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` lock on a file, held from `acquire` until `release` (or until the process
/// dies: the kernel drops it, so a killed run never leaves a stale lock behind).
///
/// `flock` locks belong to the open file description, so two `FileLock`s on one path exclude each
/// other across processes and also across threads of one process. After locking, the lock checks
/// that the path still names the locked file (a cache `gc` may have removed it meanwhile) and
/// retries on a fresh file if not.
public final class FileLock {
    public let path: String
    private var fd: Int32 = -1

    public init(path: String) { self.path = path }

    deinit { release() }

    /// Locks, waiting as long as another holder keeps it. `onWait` is called once if it must wait.
    public func acquire(onWait: () -> Void = {}) throws {
        _ = try acquire(onWait: onWait, pollSeconds: nil, giveUp: { false })
    }

    /// Locks; with `pollSeconds`, waits by trying again at that interval and returns false (without
    /// the lock) as soon as `giveUp()` says so; without, blocks in `flock`.
    func acquire(onWait: () -> Void, pollSeconds: Double?, giveUp: () -> Bool) throws -> Bool {
        var warned = false
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            if descriptor < 0, errno == ENOENT {  // the folder went away (gc): make it again
                try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                continue
            }
            guard descriptor >= 0 else { throw PipelineError.cache(path: path, message: "cannot open lock file: \(String(cString: strerror(errno)))") }
            if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK else {
                    close(descriptor)
                    throw PipelineError.cache(path: path, message: "cannot lock: \(String(cString: strerror(errno)))")
                }
                if !warned { onWait(); warned = true }
                if let pollSeconds {
                    var locked = false
                    while !locked {
                        if giveUp() { close(descriptor); return false }
                        usleep(useconds_t(pollSeconds * 1_000_000))
                        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { locked = true; continue }
                        guard errno == EWOULDBLOCK || errno == EINTR else {
                            close(descriptor)
                            throw PipelineError.cache(path: path, message: "cannot lock: \(String(cString: strerror(errno)))")
                        }
                    }
                }
                while pollSeconds == nil, flock(descriptor, LOCK_EX) != 0 {
                    guard errno == EINTR else {
                        close(descriptor)
                        throw PipelineError.cache(path: path, message: "cannot lock: \(String(cString: strerror(errno)))")
                    }
                }
            }
            var held = stat(), named = stat()
            if fstat(descriptor, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                fd = descriptor
                return true
            }
            close(descriptor)  // removed while we waited: lock the file that is there now
        }
    }

    /// Locks only if nobody holds the lock now; returns whether it did.
    func tryAcquire() -> Bool {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { close(descriptor); return false }
        fd = descriptor
        return true
    }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
