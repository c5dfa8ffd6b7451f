import Foundation

/// The process's peak resident set size in MiB: on Linux the high-water mark `VmHWM` of
/// /proc/self/status, which `resetPeakRSS()` restarts from the current size, so a stage can measure
/// its own peak inside a longer run; elsewhere (or when /proc is unreadable) `getrusage`'s peak of
/// the whole process. What a training records for the cost table, and what `tvp-run bench` prints.
public func peakRSSMiB() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kib = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
        return kib / 1024
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Restarts the peak `peakRSSMiB()` reports from the current resident size (Linux: writes 5 to
/// /proc/self/clear_refs); returns whether it could. Stages that run at the same time in one
/// process share the mark, so each then reports the peak of the time they ran together.
@discardableResult
public func resetPeakRSS() -> Bool {
    guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? handle.close() }
    return (try? handle.write(contentsOf: Data("5".utf8))) != nil
}
