import Foundation

/// Where a computation's time goes, by named region: the profile `tvp-run bench --zoo` prints.
///
///     Profile.start()
///     try profiled("vision tower") { … }     // nested regions: each moment is charged to the innermost
///     let regions = Profile.stop()
///
/// - Time outside every region is charged to "other".
/// - An op recorded for backward remembers its region; its backward runs charged to
///   "<region> backward", and the walk's own bookkeeping to "autodiff".
/// - Every `Storage` allocation (buffer-pool take and zero fill) is charged to "allocation".
/// - Every sgemm adds its time and FLOPs to its region's GEMM totals (inside the region's time).
///
/// Only the thread that called `start` is profiled (work it hands to other threads is charged to
/// whatever it waits in). With profiling off every hook is one flag test; the profile is not for
/// timing itself — time the same work unprofiled for the numbers you report.
public enum Profile {
    public struct Region: Sendable {
        /// Seconds charged to this region alone (not to regions nested in it).
        public var seconds = 0.0
        /// Times the region was entered.
        public var entries = 0
        /// Seconds inside sgemm and the FLOPs those GEMMs executed (2·m·n·k each).
        public var gemmSeconds = 0.0, gemmFLOPs = 0.0
    }

    nonisolated(unsafe) private static var on = false
    nonisolated(unsafe) private static var owner = pthread_self()
    nonisolated(unsafe) private static var current = "other"
    nonisolated(unsafe) private static var since = 0.0
    nonisolated(unsafe) private static var inGEMM = false
    nonisolated(unsafe) private static var regions: [String: Region] = [:]

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Whether this call is on the profiled thread while a profile runs.
    @inline(__always) static var active: Bool { on && pthread_equal(pthread_self(), owner) != 0 }

    /// Starts a new profile on the calling thread.
    public static func start() {
        (owner, current, regions, inGEMM) = (pthread_self(), "other", [:], false)
        since = now()
        on = true
    }

    /// Ends the profile and returns its regions.
    public static func stop() -> [String: Region] {
        guard on else { return [:] }
        charge()
        on = false
        return regions
    }

    /// Charges the time since the last event to the current region.
    private static func charge() {
        let t = now()
        regions[current, default: Region()].seconds += t - since
        since = t
    }

    /// Makes `label` the current region; returns the one to restore with `leave` (nil when not profiling).
    @inline(__always) static func enter(_ label: String) -> String? {
        guard active else { return nil }
        charge()
        let previous = current
        current = label
        regions[label, default: Region()].entries += 1
        return previous
    }

    @inline(__always) static func leave(_ previous: String?) {
        guard let previous else { return }
        charge()
        current = previous
    }

    /// The region an op recorded now belongs to (nil when not profiling).
    static var recordingRegion: String? { active ? current : nil }

    /// Runs one GEMM (or a batch of them) of `flops`, adding its time to the current region's GEMM totals.
    @usableFromInline static func gemm(flops: Double, _ body: () -> Void) {
        guard active && !inGEMM else { return body() }
        inGEMM = true
        let t = now()
        body()
        regions[current, default: Region()].gemmSeconds += now() - t
        regions[current, default: Region()].gemmFLOPs += flops
        inGEMM = false
    }
}

/// Runs `body` as the profile region `label` (see `Profile`); without a profile running, just runs it.
@inline(__always)
public func profiled<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
    let previous = Profile.enter(label)
    defer { Profile.leave(previous) }
    return try body()
}
