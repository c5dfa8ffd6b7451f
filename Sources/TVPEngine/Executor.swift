import Foundation

/// Runs the stages of a graph that are not cached, in dependency order, each under its cache lock.
///
/// Threading policy. The numeric library's thread count (`options.computeThreads`; tvp's kernels and
/// OpenBLAS together) is one global setting, so stages cannot each get a private slice of it. The
/// executor therefore sorts stages by `StageResources`:
/// - at most one `.compute` stage runs at a time, with that count set to `options.threads`
///   for the whole run (and restored afterwards), so numeric stages use every core without
///   oversubscribing BLAS;
/// - `.light` stages (I/O, bookkeeping, tiny tensors; `context.threads` is 1) run beside it and
///   beside each other;
/// - at most `options.threads` stages run at once in all.
///
/// Failures are logged the moment they happen. By default the run keeps going with every stage
/// that does not depend on a failed one (those are skipped, naming the failed input); with
/// `failFast` no stage starts after the first failure. Because entries are only valid once their
/// `done` marker is written, a run that was killed or failed, started again, computes exactly what
/// is left. Several executors (threads or processes) may share a cache: each key is computed once.
public final class Executor: @unchecked Sendable {
    public let graph: StageGraph
    public let cache: StageCache
    public let options: ExecutorOptions

    public init(graph: StageGraph, cache: StageCache, options: ExecutorOptions = ExecutorOptions()) {
        self.graph = graph
        self.cache = cache
        self.options = options
    }

    /// Shared between the scheduling thread and the stage threads; guarded by `condition`.
    private final class RunState: @unchecked Sendable {
        let condition = NSCondition()
        var outcomes: [StageOutcome?]
        var started: [Bool]
        var running = 0
        var computeRunning = false
        var stopping = false
        var startedCount = 0

        init(count: Int) {
            outcomes = Array(repeating: nil, count: count)
            started = Array(repeating: false, count: count)
        }
    }

    static let leftOut = "left out by --only/--from/--until"

    /// The nodes that `only`, `from` and `until` select (all when none is given).
    public func selection() throws -> Set<Int> {
        var selected = Set(graph.nodes.indices)
        if !options.only.isEmpty {
            selected = Set(try options.only.flatMap { try graph.nodes(named: $0) })
        }
        if !options.from.isEmpty {
            selected.formIntersection(try closure(of: options.from, graph.descendants))
        }
        if !options.until.isEmpty {
            selected.formIntersection(try closure(of: options.until, graph.ancestors))
        }
        return selected
    }

    /// The nodes named in `names` with everything `related` reaches from them.
    private func closure(of names: [String], _ related: (Int) -> Set<Int>) throws -> Set<Int> {
        var nodes: Set<Int> = []
        for index in try names.flatMap({ try graph.nodes(named: $0) }) {
            nodes.insert(index)
            nodes.formUnion(related(index))
        }
        return nodes
    }

    /// Runs what is not cached. Throws only for unknown stage names in the filters; stage failures
    /// are in the report.
    public func run() throws -> ExecutionReport {
        let selected = try selection()
        let state = RunState(count: graph.nodes.count)
        for node in graph.nodes {
            if cache.contains(node.key), let problem = cache.damage(of: node.key) {
                // Never served: the entry becomes unfinished and is computed again like any other.
                options.log("damaged \(node.name): \(problem); computing it again")
                try cache.discard(node.key)
            }
            if cache.contains(node.key) {
                state.outcomes[node.index] = .cached
                pointIndexes(of: node)
            } else if !selected.contains(node.index) {
                state.outcomes[node.index] = .skipped(Executor.leftOut)
            }
        }
        let pending = graph.nodes.filter { state.outcomes[$0.index] == nil }
        let cachedCount = state.outcomes.filter { $0 == .cached }.count
        options.log("plan: \(graph.nodes.count) stages, \(cachedCount) cached, \(pending.count) to run")

        let savedThreads = options.computeThreads.current()
        let setThreads = pending.contains { $0.stage.resources == .compute } && savedThreads != options.threads
        if setThreads { options.computeThreads.set(options.threads) }
        defer { if setThreads { options.computeThreads.set(savedThreads) } }

        schedule(state, total: pending.count)

        let outcomes = state.outcomes.map { $0 ?? .skipped("not reached") }
        let computed = outcomes.filter { if case .computed = $0 { return true }; return false }.count
        let failed = outcomes.filter { if case .failed = $0 { return true }; return false }.count
        let skipped = outcomes.filter { if case .skipped(let reason) = $0 { return reason != Executor.leftOut }; return false }.count
        options.log("done: \(computed) computed, \(cachedCount) cached, \(failed) failed, \(skipped) skipped")
        return ExecutionReport(names: graph.nodes.map(\.name), outcomes: outcomes)
    }

    /// The scheduling loop: in topological order, skip what cannot run, start what is ready within
    /// the budget, then sleep until a stage finishes.
    private func schedule(_ state: RunState, total: Int) {
        state.condition.lock()
        defer { state.condition.unlock() }
        while true {
            for node in graph.nodes where state.outcomes[node.index] == nil && !state.started[node.index] {
                if let bad = node.inputs.first(where: { state.outcomes[$0].map { !$0.isAvailable } ?? false }) {
                    let input = graph.nodes[bad].name
                    let reason: String
                    switch state.outcomes[bad]! {
                    case .failed: reason = "input '\(input)' failed"
                    case .skipped(Executor.leftOut): reason = "input '\(input)' is not cached and was \(Executor.leftOut)"
                    default: reason = "input '\(input)' was skipped"
                    }
                    state.outcomes[node.index] = .skipped(reason)
                    options.log("skip   \(node.name): \(reason)")
                    continue
                }
                guard node.inputs.allSatisfy({ state.outcomes[$0] != nil }) else { continue }
                if state.stopping {
                    state.outcomes[node.index] = .skipped("not started: --fail-fast stopped the run")
                    options.log("skip   \(node.name): not started (--fail-fast)")
                    continue
                }
                guard state.running < options.threads, node.stage.resources == .light || !state.computeRunning else { continue }
                start(node, state, total: total)
            }
            if state.running == 0 { return }
            state.condition.wait()
        }
    }

    /// Marks `node` started and runs it on its own thread (called with the condition locked).
    private func start(_ node: StageNode, _ state: RunState, total: Int) {
        state.started[node.index] = true
        state.running += 1
        if node.stage.resources == .compute { state.computeRunning = true }
        state.startedCount += 1
        let tag = "[\(state.startedCount)/\(total)]"
        options.log("\(tag) run    \(node.name)")
        let thread = Thread { [self] in
            let outcome = execute(node, tag: tag)
            state.condition.lock()
            state.outcomes[node.index] = outcome
            state.running -= 1
            if node.stage.resources == .compute { state.computeRunning = false }
            if case .failed = outcome, options.failFast, !state.stopping {
                state.stopping = true
                options.log("stopping: --fail-fast is on, no further stage starts")
            }
            state.condition.signal()
            state.condition.unlock()
        }
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Runs one stage through the cache and logs how it went.
    private func execute(_ node: StageNode, tag: String) -> StageOutcome {
        let log = options.log
        let name = node.name
        let context = StageContext(
            stageID: node.stage.id, displayName: name, key: node.key, parameters: node.stage.parameters,
            threads: node.stage.resources == .compute ? options.threads : 1, workDirectory: cache.workDirectory(for: node.key),
            inputIDs: node.stage.inputs,
            inputPayloads: node.inputs.map { cache.payload(for: graph.nodes[$0].key) },
            report: { fraction, message in
                log("\(tag) \(Int((fraction * 100).rounded()))%    \(name)\(message.isEmpty ? "" : ": " + message)")
            })
        do {
            let outcome = try cache.compute(manifest: node.manifest, stageID: node.stage.id, inputIDs: node.stage.inputs,
                                            onWait: { log("\(tag) wait   \(name): another run is computing it") },
                                            body: { try node.stage.body(context) })
            switch outcome {
            case .computed(let seconds):
                pointIndexes(of: node)
                log("\(tag) done   \(name) (\(formatSeconds(seconds)))")
                return .computed(seconds: seconds)
            case .foundFinished:
                pointIndexes(of: node)
                log("\(tag) found  \(name): computed by another run")
                return .computedElsewhere
            }
        } catch {
            log("\(tag) FAILED \(name): \(error)")
            return .failed("\(error)")
        }
    }

    /// Records the node's key as the last one of every stage id that collapsed into it (for `why`).
    private func pointIndexes(of node: StageNode) {
        for id in Set(node.occurrences.map(\.id)) { try? cache.pointIndex(ofStageID: id, at: node.key) }
    }
}
