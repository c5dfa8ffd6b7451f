import Foundation

/// The process's peak resident set size so far, in MiB (`getrusage`; Linux reports KiB): what a
/// training records for the cost table, and what `tvp-run bench` prints beside its timings.
public func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
