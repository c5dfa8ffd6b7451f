import Foundation

/// The thread count of the numeric library the stages compute with, which the executor sets to its
/// core budget while `.compute` stages run (tvp's: `Parallel`, its kernels and OpenBLAS together).
public struct ComputeThreads: Sendable {
    public var current: @Sendable () -> Int
    public var set: @Sendable (Int) -> Void

    public init(current: @escaping @Sendable () -> Int, set: @escaping @Sendable (Int) -> Void) {
        self.current = current
        self.set = set
    }

    /// No library to configure: the budget only limits how many stages run at once.
    public static let unmanaged = ComputeThreads(current: { ProcessInfo.processInfo.activeProcessorCount }, set: { _ in })
}

/// How an `Executor` runs a graph.
public struct ExecutorOptions: Sendable {
    /// The core budget: at most this many stages at once, and the threads `computeThreads` gets for a
    /// `.compute` stage. Default: `computeThreads.current()`.
    public var threads: Int
    /// The numeric library's thread setting.
    public var computeThreads: ComputeThreads
    /// Stop starting stages after the first failure (default: keep going with everything that does
    /// not depend on the failed stage).
    public var failFast: Bool
    /// Run only these stages (names or ids); their inputs must be cached.
    public var only: [String]
    /// Run only these stages and what depends on them.
    public var from: [String]
    /// Run only these stages and what they depend on.
    public var until: [String]
    /// Receives each progress line as it happens (failures the moment they happen). Default: stdout.
    public var log: @Sendable (String) -> Void

    public init(threads: Int? = nil, computeThreads: ComputeThreads = .unmanaged, failFast: Bool = false, only: [String] = [],
                from: [String] = [], until: [String] = [], log: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.threads = max(1, threads ?? computeThreads.current())
        self.computeThreads = computeThreads
        self.failFast = failFast
        self.only = only
        self.from = from
        self.until = until
        self.log = log
    }
}

/// What happened to one stage in a run.
public enum StageOutcome: Equatable, Sendable, CustomStringConvertible {
    /// Its entry was finished before the run started.
    case cached
    /// This run computed it, in this many seconds.
    case computed(seconds: Double)
    /// Another run sharing the cache computed it while this one waited for the lock.
    case computedElsewhere
    /// The stage threw; the error's text.
    case failed(String)
    /// Not run: an input failed or was skipped, the filters left it out, or fail-fast stopped the run.
    case skipped(String)

    /// Whether the stage's output is in the cache after the run.
    public var isAvailable: Bool {
        switch self {
        case .cached, .computed, .computedElsewhere: return true
        case .failed, .skipped: return false
        }
    }

    public var description: String {
        switch self {
        case .cached: return "cached"
        case .computed(let seconds): return "computed in \(formatSeconds(seconds))"
        case .computedElsewhere: return "computed by another run"
        case .failed(let message): return "failed: \(message)"
        case .skipped(let reason): return "skipped: \(reason)"
        }
    }
}

/// The result of `Executor.run()`: one outcome per graph node.
public struct ExecutionReport: Sendable {
    public let names: [String]
    public let outcomes: [StageOutcome]

    /// The outcome of the node named `name`, or nil.
    public func outcome(_ name: String) -> StageOutcome? {
        names.firstIndex(of: name).map { outcomes[$0] }
    }

    /// Names of the stages this run computed, in graph order.
    public var computed: [String] {
        names.indices.filter { if case .computed = outcomes[$0] { return true }; return false }.map { names[$0] }
    }

    /// Names and messages of the stages that failed.
    public var failures: [(name: String, message: String)] {
        names.indices.compactMap { if case .failed(let message) = outcomes[$0] { return (names[$0], message) }; return nil }
    }

    /// True when no stage failed (stages left out by filters do not count).
    public var succeeded: Bool { failures.isEmpty }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : "\(Double(Int(seconds * 10)) / 10) s"
}
