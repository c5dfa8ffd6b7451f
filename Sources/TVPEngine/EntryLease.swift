import Foundation
#if canImport(Glibc)
import Glibc
import TVPFormats
#endif

/// A claim on a cache entry that expires unless its holder keeps renewing it: the `lease` file of
/// the entry folder, `{"owner", "host", "pid", "renewals"}`.
///
/// Why besides `flock`: `flock` excludes processes on one host and, on NFSv4, across hosts (the
/// server drops a dead client's locks when its lease ends). On NFSv3 with `nolock`, Lustre with
/// `localflock`, some FUSE and object-store mounts, `flock` only excludes processes of the same host,
/// and on NFSv3 with a lock manager a host that dies keeps its lock until it comes back. The lease
/// covers both: it is created with `link(2)` (atomic and exclusive on every POSIX filesystem, NFS
/// included), renewed by a heartbeat thread every quarter of `seconds`, and another worker takes it
/// over when it has not changed for `seconds` by that worker's own clock (so clock skew between
/// nodes does not matter). On the holder's own host a lease whose process is gone is taken over at
/// once.
public final class EntryLease: @unchecked Sendable {
    let path: String
    let seconds: Double
    /// Unique per acquisition: host, pid and a random number.
    let owner: String
    private let condition = NSCondition()
    private var renewals = 0
    private var stopping = false
    private var heartbeat: Thread?
    private var held = false

    init(path: String, seconds: Double) {
        self.path = path
        self.seconds = seconds
        owner = "\(EntryLease.host):\(getpid()):\(UInt64.random(in: 0...UInt64.max))"
    }

    deinit { release() }

    static let host = ProcessInfo.processInfo.hostName

    /// How often a waiter looks again.
    var pollSeconds: Double { min(0.25, max(0.01, seconds / 8)) }

    /// The text of the lease file, or nil when there is none.
    public static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private func text() -> String {
        JSONValue.object(["owner": .string(owner), "host": .string(EntryLease.host), "pid": .integer(Int(getpid())),
                          "renewals": .integer(renewals)]).canonicalText
    }

    /// Creates the lease file with our text if there is none; returns whether it did. The text is
    /// written to a private file first and linked into place, so a lease is never seen half-written.
    func tryCreate() throws -> Bool {
        let temporary = "\(path).new-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError.cache(path: path, message: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text().utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, bytes.count) }
        close(fd)
        defer { unlink(temporary) }
        guard written == bytes.count else { throw PipelineError.cache(path: path, message: "cannot write \(temporary)") }
        if link(temporary, path) == 0 { held = true; return true }
        // EEXIST: someone holds it. ENOENT: the holder removed our private file with its leftovers; look again.
        if errno == EEXIST || errno == ENOENT { return false }
        throw PipelineError.cache(path: path, message: "cannot create the lease: \(String(cString: strerror(errno)))")
    }

    /// Watches another holder's lease: dead when its text has not changed for `seconds` (by our
    /// clock), or at once when it names a process of this host that no longer exists and
    /// `holdingLock` says we hold the entry's flock (so no live process here can be computing it).
    struct Watch {
        var text: String?
        var since = Date()

        mutating func holderIsDead(_ current: String?, seconds: Double, holdingLock: Bool) -> Bool {
            guard let current else { text = nil; return false }
            if holdingLock, let json = try? JSONValue.parse(current, source: "lease"), json["host"]?.stringValue == EntryLease.host,
               let pid = json["pid"]?.intValue, pid != Int(getpid()), kill(pid_t(pid), 0) != 0, errno == ESRCH {
                return true
            }
            if current != text { text = current; since = Date(); return false }
            return Date().timeIntervalSince(since) >= seconds
        }
    }

    /// Takes the lease, waiting while a live holder renews it and taking over a dead holder's.
    /// Returns false without taking it when `isFinished()` becomes true meanwhile.
    func acquire(holdingLock: Bool, isFinished: () -> Bool, onWait: () -> Void) throws -> Bool {
        var watch = Watch()
        var warned = false
        while true {
            if isFinished() { return false }
            if try tryCreate() { return true }
            let current = EntryLease.read(path)
            if watch.holderIsDead(current, seconds: seconds, holdingLock: holdingLock), let current {
                takeOver(expected: current)
                watch = Watch()
                continue
            }
            if !warned { onWait(); warned = true }
            usleep(useconds_t(pollSeconds * 1_000_000))
        }
    }

    /// Removes a dead holder's lease, exactly the one observed: it is renamed to a private name
    /// first (only one of several racing workers succeeds), and put back if it was not the one seen.
    func takeOver(expected: String) {
        let moved = "\(path).stale-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard rename(path, moved) == 0 else { return }
        if EntryLease.read(moved) != expected { _ = link(moved, path) }
        unlink(moved)
    }

    /// Renews the lease every quarter of `seconds` until `release`.
    func startHeartbeat() {
        let thread = Thread { [self] in
            condition.lock()
            while !stopping {
                _ = condition.wait(until: Date().addingTimeInterval(seconds / 4))
                if stopping { break }
                renewals += 1
                renew()
            }
            condition.unlock()
        }
        heartbeat = thread
        thread.start()
    }

    /// Rewrites the lease with the next renewal count, if it is still ours.
    private func renew() {
        guard let current = EntryLease.read(path), (try? JSONValue.parse(current, source: path))?["owner"]?.stringValue == owner else { return }
        try? writeTextFileAtomically(text(), to: path)
    }

    /// Stops renewing and removes the lease if it is still ours.
    func release() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        heartbeat = nil
        guard held else { return }
        held = false
        if let current = EntryLease.read(path), (try? JSONValue.parse(current, source: path))?["owner"]?.stringValue == owner {
            unlink(path)
        }
    }
}
