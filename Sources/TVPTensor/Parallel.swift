import CBLAS
import Dispatch
import Foundation

/// The one threading policy of tvp.
///
/// - `Parallel.threads` workers, by default the number of active cores (or `TVP_THREADS`).
/// - OpenBLAS runs with the same count. BLAS is only ever called either from a single thread with
///   all workers (large GEMMs), or from inside `forEachWithSerialBLAS` with OpenBLAS pinned to one
///   thread (batches of small GEMMs). The two never nest, so the machine is never oversubscribed.
/// - Our own elementwise and reduction kernels split work with `forRanges` only when the
///   work is large enough to pay for the dispatch; they never call each other inside a region.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads: Int = {
        let n = defaultThreads()
        openblas_set_num_threads(Int32(n))
        return n
    }()

    static func defaultThreads() -> Int {
        if let s = ProcessInfo.processInfo.environment["TVP_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Sets the worker count for our kernels and OpenBLAS together.
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges, in parallel when
    /// `count * costPerItem` is large enough (about 32k float operations per worker) to be worth it.
    @inlinable
    public static func forRanges(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, max(1, count * costPerItem / 32_768), count)
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = count * w / workers, hi = count * (w + 1) / workers
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(item, scratch)` for every item in `0..<count`, split like `forRanges`; each worker
    /// has its own scratch buffer of `scratch` floats (uninitialized), reused across its items.
    public static func forEachWithScratch(_ count: Int, costPerItem: Int = 1, scratch: Int,
                                          _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        forRanges(count, costPerItem: costPerItem) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            defer { buffer.deallocate() }
            for item in range { body(item, buffer) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` across the workers, with OpenBLAS held to one
    /// thread for the duration so BLAS calls inside `body` do not oversubscribe the cores.
    public static func forEachWithSerialBLAS(_ count: Int, _ body: (Int) -> Void) {
        let workers = min(threads, count)
        if workers <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        openblas_set_num_threads(1)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = count * w / workers
            let hi = count * (w + 1) / workers
            while i < hi { body(i); i += 1 }
        }
        openblas_set_num_threads(Int32(threads))
    }
}
