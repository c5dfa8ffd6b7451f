import Foundation

/// A progress bar with rate and ETA: `\r`-updated in place on a terminal, fitted to its width
/// (never wrapping, so no stale lines are left behind), and plain lines (at 25 % steps and at the
/// end, no carriage returns) otherwise, so CI logs stay readable.
///
///     toy[lr=0.5]/train[digits/tvp]  [##########--------------]  42%  21/50 img  3.1 img/s  ETA 9s
public final class ProgressBar: @unchecked Sendable {
    public let label: String
    public let unit: String
    public let isTTY: Bool
    private let width: Int
    private let columns: () -> Int
    private let clock: () -> Double
    private let write: (String) -> Void
    private let lock = NSLock()
    private let start: Double
    private var lastQuarter = -1
    private var finished = false

    /// `columns`: the terminal's width, read at every redraw (a resized window is followed).
    public init(label: String, unit: String = "it", isTTY: Bool, width: Int = 24, columns: @escaping () -> Int = { terminalColumns() },
                clock: @escaping () -> Double = { Date().timeIntervalSinceReferenceDate },
                write: @escaping (String) -> Void) {
        self.label = label
        self.unit = unit
        self.isTTY = isTTY
        self.width = width
        self.columns = columns
        self.clock = clock
        self.write = write
        start = clock()
    }

    /// Shows `completed` of `total` done (with an optional note).
    public func update(completed: Int, total: Int, note: String = "") {
        lock.lock(); defer { lock.unlock() }
        guard !finished else { return }
        let line = ProgressBar.format(label: label, completed: completed, total: total, unit: unit,
                                      elapsed: clock() - start, width: width, note: note, columns: isTTY ? columns() : nil)
        if isTTY {
            write("\r" + line + "\u{1B}[K")
            if completed >= total { write("\n"); finished = true }
        } else {
            let quarter = total > 0 ? min(4, completed * 4 / total) : 4
            if quarter > lastQuarter {
                lastQuarter = quarter
                write(line + "\n")
            }
            if completed >= total { finished = true }
        }
    }

    /// The bar's text for a state (no escape codes). With `columns`, the line is fitted to fewer
    /// than `columns` characters (a line that fills the last column wraps on some terminals): the
    /// note goes first, then the bar narrows to 10, then the label is shortened in the middle (its
    /// start and its end, the stage and the sweep point, stay), and a terminal too narrow even for
    /// that gets the line cut.
    public static func format(label: String, completed: Int, total: Int, unit: String, elapsed: Double, width: Int = 24,
                              note: String = "", columns: Int? = nil) -> String {
        let fraction = total > 0 ? min(1, max(0, Double(completed) / Double(total))) : 1
        var stats = "\(String(format: "%3d", Int((fraction * 100).rounded(.down))))%  \(completed)/\(total) \(unit)"
        // A rate over less than a quarter second (the first update) says nothing; leave it out.
        if elapsed >= 0.25 && completed > 0 {
            let rate = Double(completed) / elapsed
            stats += "  " + (rate >= 10 ? String(format: "%.0f", rate) : String(format: "%.1f", rate)) + " \(unit)/s"
            if completed < total { stats += "  ETA " + ProgressBar.duration(Double(total - completed) / rate) }
        }
        func line(_ label: String, _ barWidth: Int, _ note: String) -> String {
            let filled = Int((fraction * Double(barWidth)).rounded(.down))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled)
            let text = "\(label)  [\(bar)]  \(stats)"
            return note.isEmpty ? text : text + "  " + note
        }
        guard let columns else { return line(label, width, note) }
        let budget = max(1, columns - 1)
        let full = line(label, width, note)
        if full.count <= budget { return full }
        // Label and bar share what the brackets, the numbers and their separators leave.
        let room = budget - line("", 0, "").count
        let minimumBar = min(width, 10)
        let barWidth = max(minimumBar, min(width, room - label.count))
        let fitted = line(truncateMiddle(label, to: max(8, room - barWidth)), barWidth, "")
        return fitted.count <= budget ? fitted : String(fitted.prefix(budget))
    }

    /// `9s`, `2m05s`, `1h02m`.
    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}

/// Where a run's console output goes, filtered by verbosity.
///
/// - quiet: failures, the final table and the run folder;
/// - normal: also each stage started, finished or skipped, and progress bars;
/// - verbose: also every progress step, fetch details and path notes.
public final class Console: @unchecked Sendable {
    public enum Verbosity: Int, Sendable, Comparable {
        case quiet, normal, verbose
        public static func < (a: Verbosity, b: Verbosity) -> Bool { a.rawValue < b.rawValue }
    }

    public let verbosity: Verbosity
    public let isTTY: Bool
    private let out: (String) -> Void
    private let err: (String) -> Void
    private let lock = NSLock()

    public init(verbosity: Verbosity = .normal, isTTY: Bool = isatty(STDOUT_FILENO) != 0,
                out: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) },
                err: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.verbosity = verbosity
        self.isTTY = isTTY
        self.out = out
        self.err = err
    }

    /// A console that prints nothing (tests, library use).
    public static func silent() -> Console { Console(verbosity: .quiet, isTTY: false, out: { _ in }, err: { _ in }) }

    private func emit(_ text: String, toError: Bool = false) {
        lock.lock(); defer { lock.unlock() }
        (toError ? err : out)(text)
    }

    /// An executor log line, shown according to verbosity (failures always, on stderr).
    public func engine(_ line: String) {
        if line.contains(" FAILED ") || line.hasPrefix("FAILED") { emit(line + "\n", toError: true); return }
        let isProgress = line.range(of: #"^\[\d+/\d+\] +\d+%"#, options: .regularExpression) != nil
        if verbosity == .verbose || (verbosity == .normal && !isProgress) { emit(line + "\n") }
    }

    /// A line shown in normal and verbose mode.
    public func info(_ line: String) { if verbosity >= .normal { emit(line + "\n") } }
    /// A line shown only in verbose mode.
    public func detail(_ line: String) { if verbosity == .verbose { emit(line + "\n") } }
    /// Always shown (results, the run folder).
    public func result(_ text: String) { emit(text.hasSuffix("\n") ? text : text + "\n") }
    /// An error, on stderr.
    public func error(_ text: String) { emit(text.hasSuffix("\n") ? text : text + "\n", toError: true) }

    /// A progress bar, or nil in quiet mode (and in verbose mode, where progress lines are logged instead).
    public func bar(label: String, unit: String) -> ProgressBar? {
        guard verbosity == .normal else { return nil }
        return ProgressBar(label: label, unit: unit, isTTY: isTTY) { [weak self] text in self?.emit(text) }
    }
}
