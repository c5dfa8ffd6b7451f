import TVPEngine
/// A pipeline's stages cut into pieces that cluster jobs run: shared upstream work first, then
/// independent units (one array task each), then the final aggregation.
///
/// The cut depends only on the graph (never on what is cached), so the submitting process and every
/// worker that recomputes it agree on unit numbers:
/// - a sweep: unit i is sweep point i — the stages only that point uses; stages two or more points
///   use (fetch, load, shared features, shared zero-shot evaluations, …) are shared;
/// - one pipeline: one unit per evaluated model — its `evaluate` stages (a zoo build: per zoo model,
///   its `zoo-match` and `zoo-connector` stages); everything upstream of them (fetch, load,
///   features, training; the zoo's renders, ViT, features and guide) is shared;
/// - `aggregate`, `report` and `zoo-zero-shot` stages belong to the final job in both cases.
public struct WorkSplit: Sendable, Equatable {
    /// One independent unit: an array task.
    public struct Unit: Sendable, Equatable {
        /// Its stable number (the array task id).
        public var id: Int
        /// The sweep point's label or the model's name.
        public var label: String
        /// Its graph nodes, in graph order.
        public var nodes: [Int]
    }

    /// What a unit is: a sweep point or a model.
    public var unitKind: String
    public var shared: [Int]
    public var units: [Unit]
    /// The aggregate and report stages.
    public var final: [Int]

    static let finalKinds: Set<String> = [StageKinds.aggregate, StageKinds.report, StageKinds.zooZeroShot]
    /// The kinds a single pipeline's units are made of, one unit per model they name.
    static let modelKinds: Set<String> = [StageKinds.evaluate, StageKinds.zooMatch, StageKinds.zooConnector]

    /// Splits `graph`; `points` are the pipelines' names and labels, in sweep order.
    public init(graph: StageGraph, points: [(pipeline: String, label: String)]) {
        final = graph.nodes.filter { WorkSplit.finalKinds.contains($0.stage.kind) }.map(\.index)
        let work = graph.nodes.filter { !WorkSplit.finalKinds.contains($0.stage.kind) }
        if points.count > 1 {
            unitKind = "point"
            let pointOf = Dictionary(points.enumerated().map { ($1.pipeline, $0) }, uniquingKeysWith: { a, _ in a })
            var units = points.enumerated().map { Unit(id: $0.offset, label: $0.element.label, nodes: []) }
            var shared: [Int] = []
            for node in work {
                let users = Set(node.occurrences.compactMap { pointOf[$0.pipeline] })
                if users.count == 1, let point = users.first { units[point].nodes.append(node.index) } else { shared.append(node.index) }
            }
            self.shared = shared
            self.units = units
        } else {
            unitKind = "model"
            var labels: [String] = []
            var nodesByLabel: [String: [Int]] = [:]
            var shared: [Int] = []
            for node in work {
                guard WorkSplit.modelKinds.contains(node.stage.kind), let model = WorkSplit.modelName(node.stage.parameters["model"]) else {
                    shared.append(node.index)
                    continue
                }
                if nodesByLabel[model] == nil { labels.append(model) }
                nodesByLabel[model, default: []].append(node.index)
            }
            self.shared = shared
            units = labels.enumerated().map { Unit(id: $0.offset, label: $0.element, nodes: nodesByLabel[$0.element]!) }
        }
    }

    /// The model an evaluation reads: its name, else its description's canonical text.
    static func modelName(_ model: JSONValue?) -> String? {
        guard let model, model != .null else { return nil }
        return model["name"]?.stringValue ?? model.stringValue ?? model.canonicalText
    }

    /// The split of a compiled session.
    public init(session: PipelineSession) {
        self.init(graph: session.graph, points: zip(session.loaded.points, session.pipelines).map { ($1.name, $0.label) })
    }
}

extension PipelineSession {
    /// Runs one piece of the split here, as a job script's worker does: `shared` or a unit number,
    /// with whatever of its stages' inputs is not cached. In a halving search, `round` is the round
    /// whose split the unit belongs to: its session is replayed from the earlier rounds' rungs in
    /// the cache. Returns whether every stage succeeded; an unknown unit or round is a `UsageError`.
    public func runUnit(_ unit: String, round: Int?, threads: Int, failFast: Bool) throws -> Bool {
        if let round {
            let search = try HalvingSearch(session: self)
            guard round <= search.rounds else { throw UsageError("--round \(round): the search has \(search.rounds) rounds") }
            return try search.session(for: try search.replay(to: round)).runPiece(unit, threads: threads, failFast: failFast)
        }
        if loaded.halving != nil {
            throw UsageError("--unit of a halving search needs --round R (the round whose split it belongs to; the job scripts pass both)")
        }
        return try runPiece(unit, threads: threads, failFast: failFast)
    }

    private func runPiece(_ unit: String, threads: Int, failFast: Bool) throws -> Bool {
        let split = WorkSplit(session: self), console = registry.console
        let nodes: [Int]
        if unit == "shared" {
            nodes = split.shared
        } else {
            guard let id = Int(unit), id < split.units.count else {
                throw UsageError("--unit \(unit): the pipeline has \(split.units.count) units (0…\(split.units.count - 1)) and the shared stages")
            }
            nodes = split.units[id].nodes
            console.result("unit \(id) (\(split.unitKind) \(split.units[id].label)): \(nodes.count) stages")
        }
        guard !nodes.isEmpty else { return true }
        let executor = Executor(graph: graph, cache: cache, options: ExecutorOptions(
            threads: threads, computeThreads: .tensorLibrary, failFast: failFast, until: nodes.map { graph.nodes[$0].name },
            log: { console.engine($0) }))
        return try executor.run().succeeded
    }
}
