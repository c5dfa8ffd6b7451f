import Foundation
import TVPData
import TVPEngine
import TVPTensor

/// How `PipelineSession.run` runs.
public struct RunOptions: Sendable {
    /// Where run folders go: `<runsDirectory>/<pipeline>/<timestamp>/` (default `runs` in the current folder).
    public var runsDirectory: String
    public var failFast: Bool
    public var only: [String]
    public var from: [String]
    public var until: [String]
    public var threads: Int
    /// The command line, recorded in meta.json.
    public var commandLine: [String]

    public init(runsDirectory: String = "runs", failFast: Bool = false, only: [String] = [], from: [String] = [],
                until: [String] = [], threads: Int = Parallel.threads, commandLine: [String] = []) {
        self.runsDirectory = runsDirectory
        self.failFast = failFast
        self.only = only
        self.from = from
        self.until = until
        self.threads = threads
        self.commandLine = commandLine
    }
}

/// What a run did.
public struct RunResult: Sendable {
    public var execution: ExecutionReport
    /// The run folder written, if any.
    public var folder: String?
    /// Per point: whether no claim fails (holds or inconclusive; nil when the aggregate did not run).
    public var claimsPassed: [Bool?]
    /// The final tables, as printed.
    public var summary: String

    /// Whether a round of a halving search had a failed stage (the final execution may not show it).
    public var searchFailed = false

    /// 0 when every stage succeeded and no claim fails, 1 otherwise.
    public var exitCode: Int32 {
        execution.succeeded && !searchFailed && claimsPassed.allSatisfy({ $0 != false }) ? 0 : 1
    }
}

/// A loaded pipeline compiled against a cache: plan it, draw it, explain a stage, run it.
public final class PipelineSession {
    public let loaded: LoadedPipeline
    public let registry: StageRegistry
    public let cache: StageCache
    public let pipelines: [Pipeline]
    public let graph: StageGraph
    /// What compiling decided that the run should say (which dataset each `prefer:` task reads).
    public let notes: [String]

    /// How far each point of a halving search is compiled (nil: no search).
    public let plans: [RungPlan?]?
    /// Each point's standing in the halving search that ran (set by `HalvingSearch`, for the run folder).
    var standings: [HalvingSearch.Standing]?
    /// The stages the search's earlier rounds could not run ({stage, error}), for meta.json.
    var searchFailures: [JSONValue] = []

    /// Compiles every point and builds the graph (identical stages of sweep points collapse). A
    /// halving search's points are compiled as `plans` says; by default every point to the last rung
    /// and its evaluation (the graph if no point were pruned: what `plan` and `dag` show).
    public init(loaded: LoadedPipeline, registry: StageRegistry, cache: StageCache, plans: [RungPlan?]? = nil) throws {
        self.loaded = loaded
        self.registry = registry
        self.cache = cache
        self.plans = plans ?? loaded.halving.map { halving in loaded.points.map { _ in RungPlan(rungs: halving.rungs, evaluates: true) } }
        let base = (loaded.path as NSString).deletingLastPathComponent
        var compiler = PipelineCompiler(registry: registry, baseDirectory: base.isEmpty ? "." : base)
        pipelines = try compiler.compile(loaded, plans: self.plans)
        notes = compiler.notes
        graph = try StageGraph(pipelines: pipelines)
    }

    /// Each stage: cached or to run, and why.
    public func plan() throws -> [StagePlan] { try graph.plan(cache: cache) }

    /// `tvp-run why`: the stage's status and what changed since its last run.
    public func why(_ stage: String) throws -> String { try graph.why(stage, cache: cache) }

    /// Runs what is not cached, then writes the run folder (config, meta, results, tables, plots,
    /// prompt images, report.html) for every point whose report stage is available.
    /// A sweep with `prune: halving` runs as a `HalvingSearch`.
    public func run(options: RunOptions, now: Date = Date()) throws -> RunResult {
        if loaded.halving != nil {
            guard options.only.isEmpty && options.from.isEmpty && options.until.isEmpty else {
                throw UsageError("--only, --from and --until do not go with a halving search (its rounds decide what runs)")
            }
            return try HalvingSearch(session: self).run(options: options, now: now)
        }
        return try run(options: options, now: now, started: Date(), marker: true)
    }

    /// `run`, for a run that began at `started` (a halving search's earlier rounds), with or without
    /// its own `RunMarker`.
    func run(options: RunOptions, now: Date, started: Date, marker writesMarker: Bool) throws -> RunResult {
        let console = registry.console
        let marker = writesMarker ? RunMarker(loaded: loaded, runsDirectory: options.runsDirectory, started: started) : nil
        defer { marker?.remove() }
        let executor = Executor(graph: graph, cache: cache, options: ExecutorOptions(
            threads: options.threads, computeThreads: .tensorLibrary, failFast: options.failFast, only: options.only, from: options.from, until: options.until,
            log: { console.engine($0) }))
        let execution = try executor.run()
        let finished = Date()
        var claims: [Bool?] = []
        var summary = ""
        var points: [RunFolder.Point] = []
        for (point, pipeline) in zip(loaded.points, pipelines) {
            let aggregate = try nodeIndex(pipeline.name, "aggregate").flatMap { execution.outcomes[$0].isAvailable ? $0 : nil }
            let report = try nodeIndex(pipeline.name, "report").flatMap { execution.outcomes[$0].isAvailable ? $0 : nil }
            let aggregateResult = try aggregate.map { try cache.payload(for: graph.nodes[$0].key).result() }
            let reportResult = try report.map { try cache.payload(for: graph.nodes[$0].key).result() }
            claims.append(aggregateResult.map { $0["passed"] == .bool(true) })
            if let aggregateResult {
                if loaded.points.count > 1 { summary += "\n[\(point.label)]\n" }
                summary += ResultsTable(aggregate: aggregateResult, metric: point.spec.report.metric, digits: point.spec.report.digits,
                                        corruption: nil).text
                let paired = PairedTable(aggregate: aggregateResult, digits: point.spec.report.digits, corruption: nil)
                if !paired.rows.isEmpty { summary += paired.text }
                for claim in aggregateResult["claims"]?.arrayValue ?? [] { summary += ClaimText.line(claim) + "\n" }
                for training in aggregateResult["trainings"]?.arrayValue ?? [] {
                    let name = trainingName(training)
                    if let best = training["best_step"]?.intValue, let points = training["validation"]?.arrayValue,
                       let kept = points.first(where: { $0["step"]?.intValue == best }), let accuracy = kept["accuracy"]?.doubleValue {
                        let start = points.first { $0["step"]?.intValue == 0 }?["accuracy"]?.doubleValue
                        let unprompted = start.map { String(format: "; %.1f%% unprompted", 100 * $0) } ?? ""
                        summary += "\(name) prompt: kept step \(best) of validation ("
                            + String(format: "%.1f%% on %d held-out items", 100 * accuracy, kept["n"]?.intValue ?? 0) + unprompted + ")\n"
                    }
                    for warning in training["warnings"]?.arrayValue ?? [] { summary += "WARNING: \(name) prompt: \(warning.stringValue ?? "")\n" }
                }
            }
            if let zoo = point.spec.zoo { summary += try writeZoo(zoo, point: point, pipeline: pipeline.name, execution: execution) }
            let prompts = try aggregate.map { try trainedPrompts(aggregateNode: $0, pipeline: pipeline.name) } ?? []
            points.append(RunFolder.Point(point: point, aggregate: aggregateResult, report: reportResult, prompts: prompts,
                                          standing: standings?[points.count]))
        }
        if let seeds = SeedSummary(points: points.map { ($0.point, $0.aggregate) }, digits: loaded.points[0].spec.report.digits) {
            summary += "\n" + seeds.text
        }
        let folder = try RunFolder.write(loaded: loaded, points: points, graph: graph, execution: execution, options: options,
                                         started: started, finished: finished, now: now, searchFailures: searchFailures)
        return RunResult(execution: execution, folder: folder, claimsPassed: claims, summary: summary)
    }

    /// The prompts a point trained (the aggregate's last inputs, in its `trainings` order), named as
    /// the report's pictures: `prompt-TASK-VARIANT.safetensors`, with the training's task, variant,
    /// stage key and `prompt_sha256` in the file's metadata.
    func trainedPrompts(aggregateNode: Int, pipeline: String) throws -> [RunFolder.Prompt] {
        let node = graph.nodes[aggregateNode]
        let trainings = node.stage.parameters["trainings"]?.arrayValue ?? []
        let results = try cache.payload(for: node.key).result()["trainings"]?.arrayValue ?? []
        return try zip(trainings, node.inputs.suffix(trainings.count)).enumerated().map { offset, entry in
            let (training, input) = entry
            let task = training["task"]?.stringValue ?? "", variant = training["variant"]?.stringValue ?? ""
            let source = graph.nodes[input]
            let prompt = try trainedPrompt(cache.payload(for: source.key), stage: source.name)
            var metadata = ["task": task, "variant": variant, "pipeline": pipeline, "stage": source.stage.id, "stage_key": source.key.hex]
            if offset < results.count, let digest = results[offset]["prompt_sha256"]?.stringValue { metadata["prompt_sha256"] = digest }
            return RunFolder.Prompt(name: "prompt-\(fileSafe(task))-\(variant).safetensors", prompt: prompt, metadata: metadata)
        }
    }

    /// The graph node that stage `id` of pipeline `name` collapsed into.
    func nodeIndex(_ pipeline: String, _ id: String) throws -> Int? {
        graph.nodes.firstIndex { $0.occurrences.contains(StageOccurrence(pipeline: pipeline, id: id)) }
    }

    /// Every key of the graph (what `cache gc --keep-pipelines` keeps).
    public var keys: Set<StageKey> { Set(graph.nodes.map(\.key)) }

    /// Checks the `only`/`from`/`until` stage names of `options` before anything runs: the nodes they
    /// select (an unknown name throws).
    public func executorSelection(_ options: RunOptions) throws -> Set<Int> {
        try Executor(graph: graph, cache: cache, options: ExecutorOptions(computeThreads: .tensorLibrary, only: options.only, from: options.from, until: options.until,
                                                                          log: { _ in })).selection()
    }
}
