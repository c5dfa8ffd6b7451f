import Foundation
import TVPEngine
import TVPFormats
import TVPPrompting
import TVPZoo

/// A zoo build file (Pipelines/zoo.yaml): the embedded zoo's weights, rebuilt by the zoo's stages
/// (`PipelineCompiler.compileZoo`, bodies in `ZooStages`). Recognised by a top-level `build: zoo`;
/// loaded, overridden (`--set`, `scales:`), swept and validated like every pipeline file.
///
///     build: zoo
///     output: zoo/connectors        # where the F16 weight files go, relative to this file
///     scale: full                   # full (the committed zoo) | tiny (a one-minute smoke build)
///     models: [zoo-effnet-mlp, …]   # default: all four
///     connectors:                   # optional, per model: its LM stage's training (default: the scale's)
///       zoo-vit-mlp: {epochs: 1, batch: 8, lr: 0.001, weight_decay: 0.01, seed: 42}
public struct ZooSpec: Sendable, Equatable {
    /// The folder the weight files are written to (resolved against the file's folder).
    public var output: String
    /// `full` or `tiny`.
    public var scale: String
    /// The scale's options with `models` applied.
    public var options: ZooBuildOptions
    /// Each model's connector training: the scale's `options.connector` with `connectors.MODEL` applied.
    public var connectors: [String: ZooTrainingOptions]

    /// The keys of a zoo build file.
    public static let keys = ["build", "name", "description", "extends", "sweep", "output", "scale", "models", "connectors"]
    public static let scales = ["full", "tiny"]
    static let connectorKeys = ["epochs", "batch", "lr", "weight_decay", "seed"]

    /// Decodes a tree with `build:`; `pipelinePath` is the file `output` is relative to.
    init(root: YAMLNode, pipelinePath: String?) throws {
        let top = try YAMLFields(root, path: "(zoo build)", allowed: ZooSpec.keys)
        let build = try top.required("build")
        guard try build.string() == "zoo" else {
            throw YAMLError("'build' names what the file builds; the only one is 'zoo', found '\(try build.string())'", at: build.mark)
        }
        let outputNode = try top.required("output", hint: "name the folder the weight files go to, relative to this file (zoo/connectors)")
        let written = try outputNode.string()
        guard !written.isEmpty else { throw YAMLError("'output' names a folder, found an empty string", at: outputNode.mark) }
        let folder = pipelinePath.map { ($0 as NSString).deletingLastPathComponent } ?? ""
        output = normalizedPath(written.hasPrefix("/") || folder.isEmpty ? written : (folder as NSString).appendingPathComponent(written))
        scale = try top.optional("scale").map { try YAMLFields.choice($0, ZooSpec.scales, what: "scale") } ?? "full"
        var options = scale == "tiny" ? ZooBuildOptions.tiny : ZooBuildOptions()
        if let models = top.optional("models") {
            let items = try YAMLFields.stringList(models)
            guard !items.isEmpty else { throw YAMLError("'models' names no zoo model; the zoo has \(Zoo.modelNames.joined(separator: ", "))", at: models.mark) }
            for (index, item) in items.enumerated() {
                guard Zoo.modelNames.contains(item.text) else { throw unknownName(item.text, among: Zoo.modelNames, what: "zoo model", at: item.node.mark) }
                if items[..<index].contains(where: { $0.text == item.text }) { throw YAMLError("zoo model '\(item.text)' is listed twice", at: item.node.mark) }
            }
            options.models = items.map(\.text)
        }
        let defaults = options.connector
        var connectors = Dictionary(uniqueKeysWithValues: options.models.map { ($0, defaults) })
        if let section = top.optional("connectors") {
            _ = try YAMLFields(section, path: "connectors", allowed: options.models)
            for (key, body) in try section.entries() {
                let name = try key.string()
                let fields = try YAMLFields(body, path: "connectors.\(name)", allowed: ZooSpec.connectorKeys)
                var training = options.connector
                training.epochs = try fields.int("epochs", default: training.epochs, min: 1, max: 1000)
                training.batchSize = try fields.int("batch", default: training.batchSize, min: 1, max: 4096)
                training.lr = Float(try fields.double("lr", default: Double(training.lr), max: 1, positive: true))
                training.weightDecay = try fields.double("weight_decay", default: training.weightDecay, min: 0, max: 1)
                training.seed = UInt64(try fields.int("seed", default: Int(training.seed), min: 0))
                connectors[name] = training
            }
        }
        (self.options, self.connectors) = (options, connectors)
    }
}

extension PipelineSpec {
    /// A zoo build file as a pipeline spec: its stages are the zoo's (`zoo`), so it has no tasks,
    /// models or prompt; `name` defaults to `zoo` (the run folder goes to runs/zoo/).
    init(zooBuild root: YAMLNode, context: ValidationContext) throws {
        let zoo = try ZooSpec(root: root, pipelinePath: context.pipelinePath)
        _ = try root["description"].map { try $0.string() }
        let nameNode = root["name"]
        name = try nameNode.map { try $0.string() } ?? "zoo"
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw YAMLError("'name' must be a non-empty name without '/', found '\(name)'", at: nameNode?.mark ?? root.mark)
        }
        (tasks, models, surrogates, guide, targets, claims) = ([], [], [], nil, [], [])
        prompt = try PipelineSpec.decodePrompt(nil)
        loss = LossSpec(fca: 0, tse: 0)
        train = try PipelineSpec.decodeTrain(nil)
        evaluate = try PipelineSpec.decodeEvaluate(nil)
        report = ReportSpec(title: name, metric: evaluate.metrics[0], digits: 1, images: false)
        self.zoo = zoo
        var withoutSweep = root
        if case .mapping(let pairs, let mark) = root { withoutSweep = .mapping(pairs.filter { $0.key.scalarText != "sweep" }, mark) }
        resolved = try JSONValue(yaml: withoutSweep)
    }
}
