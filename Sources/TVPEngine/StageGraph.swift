import TVPFormats
/// A named list of stages whose inputs refer to each other by id.
public struct Pipeline: Sendable {
    public var name: String
    public var stages: [Stage]

    public init(name: String, stages: [Stage]) {
        self.name = name
        self.stages = stages
    }
}

/// Where a graph node came from: a stage `id` of the pipeline `pipeline`.
public struct StageOccurrence: Sendable, Equatable {
    public var pipeline: String
    public var id: String

    public init(pipeline: String, id: String) {
        self.pipeline = pipeline
        self.id = id
    }
}

/// One node of the DAG: every stage (of any pipeline) with the same key.
public struct StageNode: Sendable {
    /// Position in `StageGraph.nodes`.
    public let index: Int
    /// The name shown and matched: the stage id, or `pipeline/id` when several nodes share the id.
    public internal(set) var name: String
    /// The first stage with this key; it is the one that runs.
    public let stage: Stage
    public let manifest: StageManifest
    public var key: StageKey { manifest.key }
    /// The nodes this one reads, in the order of `stage.inputs`.
    public let inputs: [Int]
    /// The nodes that read this one, in graph order.
    public internal(set) var dependents: [Int]
    /// Every pipeline stage that collapsed into this node.
    public internal(set) var occurrences: [StageOccurrence]
}

/// The stages of one or more pipelines as a DAG in topological order (every node after its
/// inputs). Stages with the same key collapse into one node, so the points of a sweep share
/// their identical upstream work.
public struct StageGraph: Sendable {
    public private(set) var nodes: [StageNode] = []

    /// Builds the graph; throws on duplicate ids, unknown inputs and cycles (naming the cycle).
    public init(pipelines: [Pipeline]) throws {
        var nodeByKey: [StageKey: Int] = [:]
        for pipeline in pipelines {
            var keyByID: [String: StageKey] = [:]
            for index in try StageGraph.topologicalOrder(pipeline) {
                let stage = pipeline.stages[index]
                let manifest = StageManifest(kind: stage.kind, parameters: stage.parameters,
                                             inputKeys: stage.inputs.map { keyByID[$0]! },
                                             assets: stage.assets, code: stage.code)
                let key = manifest.key
                keyByID[stage.id] = key
                let occurrence = StageOccurrence(pipeline: pipeline.name, id: stage.id)
                if let existing = nodeByKey[key] {
                    nodes[existing].occurrences.append(occurrence)
                    continue
                }
                let inputs = manifest.inputKeys.map { nodeByKey[$0]! }
                let node = StageNode(index: nodes.count, name: stage.id, stage: stage, manifest: manifest,
                                     inputs: inputs, dependents: [], occurrences: [occurrence])
                for input in Set(inputs) { nodes[input].dependents.append(node.index) }
                nodeByKey[key] = node.index
                nodes.append(node)
            }
        }
        // Names: the stage id, qualified by pipeline where several nodes share it.
        var countByID: [String: Int] = [:]
        for node in nodes { countByID[node.stage.id, default: 0] += 1 }
        var used: Set<String> = []
        for index in nodes.indices where countByID[nodes[index].stage.id]! > 1 {
            let occurrence = nodes[index].occurrences[0]
            var name = occurrence.pipeline.isEmpty ? "#\(index)/\(occurrence.id)" : "\(occurrence.pipeline)/\(occurrence.id)"
            if used.contains(name) { name += "#\(index)" }
            used.insert(name)
            nodes[index].name = name
        }
    }

    /// The graph of a single pipeline.
    public init(stages: [Stage], pipeline: String = "") throws {
        try self.init(pipelines: [Pipeline(name: pipeline, stages: stages)])
    }

    /// Stage indices of `pipeline` with inputs first (depth first, in declaration order).
    static func topologicalOrder(_ pipeline: Pipeline) throws -> [Int] {
        var indexByID: [String: Int] = [:]
        for (index, stage) in pipeline.stages.enumerated() {
            guard indexByID[stage.id] == nil else { throw PipelineError.duplicateStage(pipeline: pipeline.name, id: stage.id) }
            indexByID[stage.id] = index
        }
        for stage in pipeline.stages {
            for input in stage.inputs where indexByID[input] == nil {
                throw PipelineError.unknownInput(pipeline: pipeline.name, stage: stage.id, input: input)
            }
        }
        enum Mark { case unvisited, onPath, finished }
        var marks = [Mark](repeating: .unvisited, count: pipeline.stages.count)
        var path: [Int] = []
        var order: [Int] = []
        func visit(_ index: Int) throws {
            marks[index] = .onPath
            path.append(index)
            for input in pipeline.stages[index].inputs {
                let next = indexByID[input]!
                switch marks[next] {
                case .onPath:
                    let cycle = path[path.lastIndex(of: next)!...].map { pipeline.stages[$0].id }
                    throw PipelineError.cycle(pipeline: pipeline.name, path: cycle + [pipeline.stages[next].id])
                case .unvisited: try visit(next)
                case .finished: break
                }
            }
            path.removeLast()
            marks[index] = .finished
            order.append(index)
        }
        for index in pipeline.stages.indices where marks[index] == .unvisited { try visit(index) }
        return order
    }

    /// The nodes called `name`: the node with that name, else every node with a stage of that id.
    public func nodes(named name: String) throws -> [Int] {
        if let exact = nodes.firstIndex(where: { $0.name == name }) { return [exact] }
        let matches = nodes.indices.filter { nodes[$0].occurrences.contains { $0.id == name } }
        guard !matches.isEmpty else { throw PipelineError.unknownStage(name: name, known: nodes.map(\.name)) }
        return matches
    }

    /// Every node `index` reads from, directly or not.
    public func ancestors(of index: Int) -> Set<Int> { reachable(from: index, along: \.inputs) }

    /// Every node that reads `index`, directly or not.
    public func descendants(of index: Int) -> Set<Int> { reachable(from: index, along: \.dependents) }

    /// Every node reached from `index` by following `edges` one or more times.
    private func reachable(from index: Int, along edges: KeyPath<StageNode, [Int]>) -> Set<Int> {
        var seen: Set<Int> = []
        var stack = nodes[index][keyPath: edges]
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack += nodes[next][keyPath: edges]
        }
        return seen
    }
}
