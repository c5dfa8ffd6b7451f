import Foundation
import TVPEngine
import TVPPrompting

/// Runs a sweep with `prune: halving` (`HalvingSpec`): round r trains every point still in the
/// search to rung r (stages `train[TASK/VARIANT/STEPS]` that continue the point's previous rung),
/// ranks them by the validation point each training kept so far (mean accuracy over the point's
/// trainings, then lower mean validation loss, then sweep order) and keeps the top `keep` fraction
/// for the next rung. The points that reach the last rung are evaluated, aggregated and reported
/// as any sweep point; the run folder lists every point with the rung it reached.
///
/// Every decision is a function of cached rung results, so a killed search run again replays its
/// cached rungs, takes the same decisions and trains only what is missing; a search with more rungs
/// or more samples finds the rungs it shares with an earlier one in the cache.
struct HalvingSearch {
    /// Where the search left a point.
    struct Standing: Sendable {
        /// The step count of the last rung the point trained to.
        var steps: Int
        /// Whether it reached the last rung (and was evaluated).
        var finished: Bool
        /// Its kept validation point at that rung, averaged over its trainings (nil: its first rung failed).
        var accuracy: Double?
        var loss: Double?
        /// Validation items per training, and the number of trainings averaged.
        var n: Int?
        var trainings: Int
        /// Its mean validation accuracy at each rung it reached (steps → accuracy).
        var history: [(steps: Int, accuracy: Double)]
        /// The rung (step count) whose training failed, if one did.
        var failedAt: Int? = nil

        var json: JSONValue {
            ["steps": .integer(steps), "finished": .bool(finished), "validation_accuracy": accuracy.map { .double($0) } ?? .null,
             "validation_loss": loss.map { .double($0) } ?? .null, "validation_n": n.map { .integer($0) } ?? .null,
             "trainings": .integer(trainings), "failed_at": failedAt.map { .integer($0) } ?? .null,
             "rungs": .array(history.map { ["steps": .integer($0.steps), "validation_accuracy": .double($0.accuracy)] })]
        }
    }

    let session: PipelineSession
    let halving: HalvingSpec

    init(session: PipelineSession) throws {
        guard let halving = session.loaded.halving else { throw PipelineError.stage("sweep", "the pipeline declares no halving search") }
        self.session = session
        self.halving = halving
    }

    /// Where the search stands between rounds.
    struct Progress {
        /// The points still in the search, in sweep order.
        var alive: [Int]
        /// Per point, the index of the last rung it trained to (-1: none yet).
        var reached: [Int]
        var standings: [Standing]
        /// The stages rounds could not run ({stage, error}).
        var failures: [JSONValue] = []
        /// The next round: 1…rungs (a rung), rungs + 1 (the evaluation of the last rung's points).
        var round = 1
    }

    /// The number of rounds: one per rung, then the evaluation.
    var rounds: Int { halving.rungs.count + 1 }

    func start() -> Progress {
        let points = session.loaded.points
        return Progress(alive: Array(points.indices), reached: points.map { _ in -1 },
                        standings: points.map { _ in Standing(steps: 0, finished: false, trainings: 0, history: []) })
    }

    /// The session of `progress.round`: the points still in to its rung; after the last rung, every
    /// point to the last rung it trained to, the last rung's points on to their evaluation (a point
    /// whose first rung failed, to that rung: it runs again and says why).
    func session(for progress: Progress) throws -> PipelineSession {
        let loaded = session.loaded
        guard progress.round <= halving.rungs.count else {
            let plans = loaded.points.indices.map { point in
                RungPlan(rungs: Array(halving.rungs[...max(0, progress.reached[point])]), evaluates: progress.standings[point].finished)
            }
            let final = try PipelineSession(loaded: loaded, registry: session.registry, cache: session.cache, plans: plans)
            final.standings = progress.standings
            final.searchFailures = progress.failures
            return final
        }
        var round = loaded
        round.points = progress.alive.map { loaded.points[$0] }
        let plan = RungPlan(rungs: Array(halving.rungs[..<progress.round]), evaluates: false)
        return try PipelineSession(loaded: round, registry: session.registry, cache: session.cache, plans: progress.alive.map { _ in plan })
    }

    /// Ranks the round's points by what the cache holds of their rung and moves on to the next round,
    /// with the top `keep` fraction (after the last rung: all that trained, now finished).
    func advance(_ progress: inout Progress, roundSession: PipelineSession, log: Bool) throws {
        let loaded = session.loaded, console = session.registry.console
        let rung = progress.round - 1, steps = halving.rungs[rung]
        var ranked: [(point: Int, accuracy: Double, loss: Double)] = []
        for (point, pipeline) in zip(progress.alive, roundSession.pipelines) {
            let kept = try keptPoints(pipeline, steps: steps, session: roundSession)
            guard !kept.isEmpty, kept.allSatisfy({ $0 != nil }) else {
                progress.standings[point].failedAt = steps
                continue
            }
            let points = kept.compactMap { $0 }
            let accuracy = points.map(\.accuracy).reduce(0, +) / Double(points.count)
            let loss = points.map(\.loss).reduce(0, +) / Double(points.count)
            progress.reached[point] = rung
            progress.standings[point].steps = steps
            progress.standings[point].trainings = kept.count
            (progress.standings[point].accuracy, progress.standings[point].loss, progress.standings[point].n) = (accuracy, loss, points[0].n)
            progress.standings[point].history.append((steps, accuracy))
            ranked.append((point, accuracy, loss))
        }
        ranked.sort { ($0.accuracy, -$0.loss, -$0.point) > ($1.accuracy, -$1.loss, -$1.point) }
        let kept = rung == halving.rungs.count - 1 ? ranked.map(\.point) : ranked.prefix(halving.survivors(of: ranked.count)).map(\.point)
        if rung == halving.rungs.count - 1 { for point in kept { progress.standings[point].finished = true } }
        if log {
            // Each point's validation accuracy, and its loss where accuracies tie.
            let accuracies = ranked.map(\.accuracy)
            func named(_ points: [Int]) -> String {
                points.map { point in
                    let standing = progress.standings[point], accuracy = standing.accuracy ?? 0
                    let tie = accuracies.filter { $0 == accuracy }.count > 1
                    return String(format: tie ? "%@ (%.1f%%, loss %.4f)" : "%@ (%.1f%%)", loaded.points[point].label, 100 * accuracy, standing.loss ?? 0)
                }.joined(separator: ", ")
            }
            let broken = progress.alive.filter { progress.standings[$0].failedAt == steps }
            let stopped = ranked.dropFirst(kept.count).map(\.point)
            console.result("halving: after \(steps) steps " + (rung == halving.rungs.count - 1 ? "finished: " : "keeping ") + named(kept)
                           + (stopped.isEmpty ? "" : "; stopping " + named(stopped))
                           + (broken.isEmpty ? "" : "; failed: " + broken.map { loaded.points[$0].label }.joined(separator: ", ")))
        }
        progress.alive = kept.sorted()
        // No point left to train (every one failed): straight to the evaluation round.
        progress.round = progress.alive.isEmpty ? rounds : progress.round + 1
    }

    /// The progress at the start of `round`, from the earlier rounds' rungs in the cache (what a
    /// Slurm worker of that round, or a resubmission, recomputes: the same decisions).
    func replay(to round: Int) throws -> Progress {
        var progress = start()
        while progress.round < round {
            try advance(&progress, roundSession: try session(for: progress), log: false)
        }
        return progress
    }

    /// Runs the rounds here, then the last round's points to their evaluation, and writes the run folder.
    func run(options: RunOptions, now: Date = Date()) throws -> RunResult {
        let loaded = session.loaded, console = session.registry.console
        let started = Date()
        let marker = RunMarker(loaded: loaded, runsDirectory: options.runsDirectory, started: started)
        defer { marker?.remove() }
        var progress = start()
        while progress.round <= halving.rungs.count && !progress.alive.isEmpty {
            let steps = halving.rungs[progress.round - 1]
            console.result("halving: rung \(progress.round) of \(halving.rungs.count), \(progress.alive.count) point"
                           + "\(progress.alive.count == 1 ? "" : "s") to \(steps) steps")
            let roundSession = try session(for: progress)
            let execution = try Executor(graph: roundSession.graph, cache: session.cache, options: ExecutorOptions(
                threads: options.threads, failFast: options.failFast, log: { console.engine($0) })).run()
            for node in roundSession.graph.nodes {
                if case .failed(let message) = execution.outcomes[node.index] {
                    progress.failures.append(["stage": .string(node.name), "error": .string(message)])
                }
            }
            if options.failFast && !execution.succeeded {
                console.result("halving: a rung failed; stopping the search (--fail-fast)")
                break
            }
            try advance(&progress, roundSession: roundSession, log: true)
        }
        progress.round = rounds
        var result = try session(for: progress).run(options: options, now: now, started: started, marker: false)
        result.searchFailed = !progress.failures.isEmpty
        return result
    }

    /// The validation point each training of `pipeline` kept by rung `steps` (nil where it is not in the cache).
    func keptPoints(_ pipeline: Pipeline, steps: Int, session: PipelineSession) throws -> [ValidationPoint?] {
        try pipeline.stages.filter { $0.kind == StageKinds.trainPrompt && TrainingRungs.steps($0.parameters) == steps }.map { stage in
            guard let node = try session.nodeIndex(pipeline.name, stage.id), session.cache.contains(session.graph.nodes[node].key) else { return nil }
            return TrainingRungs.keptPoint(try session.cache.payload(for: session.graph.nodes[node].key).result())
        }
    }
}
