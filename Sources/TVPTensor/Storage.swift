import Foundation

/// A reference-counted block of Float32 values. Blocks come from and return to `BufferPool`,
/// so a training loop that repeats the same shapes stops calling malloc after its first step.
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// A block of `count` floats, zero-filled when `zeroed` (the default).
    public init(count: Int, zeroed: Bool = true) {
        let region = Profile.enter("allocation")
        defer { Profile.leave(region) }
        self.count = count
        self.pointer = BufferPool.shared.take(count)
        if zeroed && count > 0 { pointer.update(repeating: 0, count: count) }
    }

    deinit { BufferPool.shared.give(pointer, count) }
}

/// Recycles freed blocks by exact size. Bounded: past `limitBytes` of idle blocks, frees instead.
/// Thread-safe. `peakBytes` tracks the most memory ever held by live plus idle blocks.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    private var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var idleBytes = 0
    private var liveBytes = 0
    public private(set) var peakBytes = 0
    public var limitBytes = 4 << 30
    private let lock = NSLock()

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        lock.lock()
        defer { lock.unlock() }
        liveBytes += n * 4
        if var list = idle[n], let p = list.popLast() {
            idle[n] = list
            idleBytes -= n * 4
            return p
        }
        peakBytes = max(peakBytes, liveBytes + idleBytes)
        // 64-byte alignment keeps SIMD loads and BLAS happy.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = max(count, 1)
        lock.lock()
        defer { lock.unlock() }
        liveBytes -= n * 4
        if idleBytes + n * 4 <= limitBytes {
            idle[n, default: []].append(p)
            idleBytes += n * 4
        } else {
            UnsafeMutableRawPointer(p).deallocate()
        }
    }

    /// Frees every idle block (live blocks are untouched).
    public func trim() {
        lock.lock()
        defer { lock.unlock() }
        for (_, list) in idle { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
        idle = [:]
        idleBytes = 0
    }

    /// Bytes held by tensors that are alive now.
    public var live: Int { lock.lock(); defer { lock.unlock() }; return liveBytes }

    /// Starts a new peak measurement from the memory held now.
    public func resetPeak() { lock.lock(); peakBytes = liveBytes + idleBytes; lock.unlock() }
}
