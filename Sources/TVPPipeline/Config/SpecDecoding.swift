import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPModels
import TVPPrompting
import TVPTensor

/// What names a pipeline file is checked against.
public struct ValidationContext: Sendable {
    /// The dataset manifest: `data.*.dataset` and `weights.asset` must name its assets.
    public var manifest: Manifest
    /// The families the backend builds for surrogates and targets; nil accepts any name (no
    /// backend linked: stages that build models then fail when they run).
    public var modelFamilies: [String]?
    /// The families the backend builds for the TSE guide; nil accepts any name.
    public var guideFamilies: [String]?
    /// The pipeline file being loaded: `weights.path` values written in another file (an
    /// `extends:` base elsewhere) are rewritten relative to this file's folder.
    public var pipelinePath: String?

    /// `path` as written in file `declaringFile`, relative to the pipeline file's folder: unchanged
    /// when absolute, when written in the pipeline's own folder or on the command line (a
    /// `--set` source is not a file); otherwise the relative path between the two folders,
    /// normalized (`../base/../zoo/connectors` → `../zoo/connectors`).
    public func relativeToPipeline(_ path: String, declaredIn declaringFile: String) -> String {
        guard !path.hasPrefix("/"), let pipelinePath, FileManager.default.fileExists(atPath: declaringFile) else { return path }
        func folder(_ file: String) -> [String] {
            URL(fileURLWithPath: file).deletingLastPathComponent().standardizedFileURL.pathComponents
        }
        let base = folder(pipelinePath), declared = folder(declaringFile)
        guard base != declared else { return path }
        let target = URL(fileURLWithPath: declared.joined(separator: "/")).appendingPathComponent(path).standardizedFileURL.pathComponents
        let common = zip(base, target).prefix { $0 == $1 }.count
        let parts = Array(repeating: "..", count: base.count - common) + target.dropFirst(common)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// The manifest loaders the `load-split` stage reads.
    public static var supportedLoaders: [String] { SplitLoaders.supported }

    public init(manifest: Manifest, modelFamilies: [String]? = nil, guideFamilies: [String]? = nil) {
        self.manifest = manifest
        self.modelFamilies = modelFamilies
        self.guideFamilies = guideFamilies
    }
}

extension PipelineSpec {
    /// The top-level keys of a pipeline file.
    public static let topLevelKeys = ["name", "description", "extends", "data", "models", "surrogate", "guide", "targets",
                                      "prompt", "loss", "train", "evaluate", "report", "expect", "sweep"]

    /// Decodes and validates a composed pipeline tree (after `extends:`, overrides and sweep values).
    /// Every problem is a `YAMLError` at the node that causes it. `sweep:` is ignored here (see `SweepSpec`).
    public init(root: YAMLNode, context: ValidationContext) throws {
        if root["build"] != nil {
            self = try PipelineSpec(zooBuild: root, context: context)
            return
        }
        let top = try YAMLFields(root, path: "(pipeline)", allowed: PipelineSpec.topLevelKeys)
        let nameNode = try top.required("name")
        name = try nameNode.string()
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw YAMLError("'name' must be a non-empty name without '/', found '\(name)'", at: nameNode.mark)
        }
        _ = try top.optional("description")?.string()

        // Models first: roles refer to them.
        let modelsNode = try top.required("models")
        var models: [ModelSpec] = []
        for (key, value) in try modelsNode.entries() {
            models.append(try PipelineSpec.decodeModel(name: try key.string(), node: value, context: context))
        }
        guard !models.isEmpty else { throw YAMLError("'models' must define at least one model", at: modelsNode.mark) }
        self.models = models
        let modelNames = models.map(\.name)
        func modelReference(_ item: (text: String, node: YAMLNode), role: String, families: [String]?) throws -> String {
            guard let model = models.first(where: { $0.name == item.text }) else {
                throw unknownName(item.text, among: modelNames, what: "model", at: item.node.mark)
            }
            if let families, !families.contains(model.family) {
                let familyNode = (try? modelsNode.required(model.name).required("family")) ?? item.node
                throw unknownName(model.family, among: families, what: "\(role) family (model '\(model.name)' is used as \(role))",
                                  at: familyNode.mark)
            }
            return item.text
        }
        let surrogateItems = try YAMLFields.stringList(try top.required("surrogate", hint: "name the model (or list of models) the prompt is trained on"))
        surrogates = try surrogateItems.map { try modelReference($0, role: "surrogate", families: context.modelFamilies) }
        guard !surrogates.isEmpty else { throw YAMLError("'surrogate' names no model", at: top.mark("surrogate")) }
        let targetItems = try top.optional("targets").map(YAMLFields.stringList) ?? []
        targets = try targetItems.map { item in
            if surrogateItems.contains(where: { $0.text == item.text }) {
                throw YAMLError("'\(item.text)' is the surrogate; targets are the models the prompt transfers to", at: item.node.mark)
            }
            return try modelReference(item, role: "target", families: context.modelFamilies)
        }
        for list in [surrogateItems, targetItems] {
            for (index, item) in list.enumerated() where list[..<index].contains(where: { $0.text == item.text }) {
                throw YAMLError("model '\(item.text)' is listed twice", at: item.node.mark)
            }
        }
        guide = try top.optional("guide").map { try modelReference((try $0.string(), $0), role: "guide", families: context.guideFamilies) }

        tasks = try PipelineSpec.decodeTasks(try top.required("data"), context: context)
        prompt = try PipelineSpec.decodePrompt(top.optional("prompt"))
        let lossFields = try top.optional("loss").map { try YAMLFields($0, path: "loss", allowed: ["fca", "tse", "task"]) }
        loss = LossSpec(fca: try lossFields?.double("fca", default: 0.005, min: 0, max: LossSpec.maximumWeight) ?? 0.005,
                        tse: try lossFields?.double("tse", default: guide == nil ? 0 : 0.001, min: 0, max: LossSpec.maximumWeight) ?? (guide == nil ? 0 : 0.001),
                        task: try lossFields?.choice("task", LossSpec.tasks, default: "answer") ?? "answer")
        train = try PipelineSpec.decodeTrain(top.optional("train"))
        evaluate = try PipelineSpec.decodeEvaluate(top.optional("evaluate"))
        if loss.tse > 0 && guide == nil && evaluate.protocols.contains(.tvp) {
            throw YAMLError("loss.tse = \(loss.tse) needs a TSE guide model: add 'guide: MODEL' or set loss.tse to 0",
                            at: lossFields?.mark("tse") ?? root.mark)
        }

        let reportFields = try top.optional("report").map { try YAMLFields($0, path: "report", allowed: ["title", "metric", "digits", "images"]) }
        report = ReportSpec(title: try reportFields?.string("title", default: name) ?? name,
                            metric: try reportFields?.choice("metric", evaluate.metrics, default: evaluate.metrics[0]) ?? evaluate.metrics[0],
                            digits: try reportFields?.int("digits", default: 1, min: 0, max: 6) ?? 1,
                            images: try reportFields?.bool("images", default: true) ?? true)
        resolved = .null
        claims = []
        claims = try top.optional("expect").map { try decodeClaims($0) } ?? []
        var withoutSweep = root
        if case .mapping(let pairs, let mark) = root { withoutSweep = .mapping(pairs.filter { $0.key.scalarText != "sweep" }, mark) }
        resolved = try JSONValue(yaml: withoutSweep)
    }

    static func decodeModel(name: String, node: YAMLNode, context: ValidationContext) throws -> ModelSpec {
        let fields = try YAMLFields(node, path: "models.\(name)", allowed: ["family", "weights", "options"])
        let family = try fields.required("family").string()
        if let modelFamilies = context.modelFamilies, let guideFamilies = context.guideFamilies,
           !modelFamilies.contains(family) && !guideFamilies.contains(family) {
            throw unknownName(family, among: modelFamilies + guideFamilies, what: "model family", at: fields.mark("family"))
        }
        let weightsNode = try fields.required("weights", hint: "give {asset: NAME}, {path: FILE} or {random: SEED}")
        let weights = try YAMLFields(weightsNode, path: "models.\(name).weights", allowed: ["asset", "file", "path", "random"])
        let given = ["asset", "path", "random"].filter { weights.optional($0) != nil }
        guard given.count == 1 else {
            throw YAMLError("'models.\(name).weights' needs exactly one of asset, path, random; found " +
                            (given.isEmpty ? "none" : given.joined(separator: " and ")), at: weightsNode.mark)
        }
        let source: WeightSource
        switch given[0] {
        case "asset":
            let assetNode = try weights.required("asset")
            let assetName = try assetNode.string()
            guard let asset = context.manifest.assets.first(where: { $0.name == assetName }) else {
                throw unknownName(assetName, among: context.manifest.assets.filter { $0.kind != .dataset }.map(\.name),
                                  what: "asset", at: assetNode.mark)
            }
            let file = try weights.optional("file").map { node -> String in
                let text = try node.string()
                guard asset.file(named: text) != nil else { throw unknownName(text, among: asset.files.map(\.name), what: "file of \(assetName)", at: node.mark) }
                return text
            }
            source = .asset(assetName, file: file)
        case "path":
            if let file = weights.optional("file") { throw YAMLError("'file' goes with 'asset', not 'path'", at: file.mark) }
            let pathNode = try weights.required("path")
            source = .path(context.relativeToPipeline(try pathNode.string(), declaredIn: pathNode.mark.path))
        default:
            if let file = weights.optional("file") { throw YAMLError("'file' goes with 'asset', not 'random'", at: file.mark) }
            source = .random(seed: try weights.checkedInt(try weights.required("random"), key: "random", min: 0))
        }
        let options = try fields.optional("options").map { node -> JSONValue in
            guard case .mapping = node else { throw YAMLError("'models.\(name).options' must be a mapping, found \(node.kindDescription)", at: node.mark) }
            return try JSONValue(yaml: node)
        } ?? .object([:])
        return ModelSpec(name: name, family: family, weights: source, options: options)
    }

    static func decodeTasks(_ node: YAMLNode, context: ValidationContext) throws -> [TaskSpec] {
        var tasks: [TaskSpec] = []
        for (key, value) in try node.entries() {
            let name = try key.string()
            let path = "data.\(name)"
            let fields = try YAMLFields(value, path: path, allowed: ["dataset", "prefer", "train", "test", "limit", "sampling", "seed",
                                                                     "question", "classes", "caption", "prompt_from", "scoring"])
            let promptFrom = try fields.optional("prompt_from").map { node -> String in
                let source = try node.string()
                guard let earlier = tasks.first(where: { $0.name == source }) else {
                    let known = tasks.map(\.name)
                    throw YAMLError("'\(path).prompt_from' names the task whose prompts this one is evaluated with; it must be a task " +
                                    "defined before '\(name)'" + (known.isEmpty ? " (none is)" : " (\(known.joined(separator: ", ")))")
                                    + (suggest(source, from: known).map { "; did you mean '\($0)'?" } ?? ""), at: node.mark)
                }
                guard earlier.promptFrom == nil else {
                    throw YAMLError("task '\(source)' takes its prompts from '\(earlier.promptFrom!)' itself; name that task instead", at: node.mark)
                }
                return source
            }
            let datasetNode = try fields.required("dataset")
            let dataset = try datasetNode.string()
            /// A dataset's loader and split names: a manifest dataset, or one the pipeline renders.
            func resolve(_ name: String, at node: YAMLNode) throws -> (loader: String, splits: [String]) {
                if let splits = GeneratedDatasets.splits(of: name) { return (name, splits) }
                let datasets = context.manifest.assets.filter { $0.kind == .dataset }
                guard let asset = datasets.first(where: { $0.name == name }) else {
                    throw unknownName(name, among: datasets.map(\.name) + GeneratedDatasets.names, what: "dataset", at: node.mark)
                }
                guard ValidationContext.supportedLoaders.contains(asset.loader) else {
                    throw YAMLError("dataset '\(name)' uses loader '\(asset.loader)', which the load stage does not read; " +
                                    "supported: " + ValidationContext.supportedLoaders.joined(separator: ", "), at: node.mark)
                }
                return (asset.loader, asset.splits.map(\.name))
            }
            let (loader, splitNames) = try resolve(dataset, at: datasetNode)
            let generated = GeneratedDatasets.names.contains(dataset)
            let preferred = try fields.optional("prefer").map { node -> (name: String, loader: String, splits: [String]) in
                let name = try node.string()
                guard !GeneratedDatasets.names.contains(name) else { throw YAMLError("'\(path).prefer' names a dataset of the manifest", at: node.mark) }
                let resolved = try resolve(name, at: node)
                return (name, resolved.loader, resolved.splits)
            }
            let limit = try fields.optional("limit").map { try fields.checkedInt($0, key: "limit", min: 1) }
            func split(_ role: String) throws -> SplitSpec {
                let splitNode = try fields.required(role, hint: "name a split of \(dataset): " + splitNames.joined(separator: ", "))
                var spec: SplitSpec
                var nameNode = splitNode
                if case .mapping = splitNode {
                    let inner = try YAMLFields(splitNode, path: "\(path).\(role)", allowed: ["split", "limit", "skip"])
                    nameNode = try inner.required("split")
                    spec = SplitSpec(split: try nameNode.string(), limit: try inner.optional("limit").map { try inner.checkedInt($0, key: "limit", min: 1) } ?? limit,
                                     skip: try inner.int("skip", default: 0, min: 0))
                } else {
                    spec = SplitSpec(split: try splitNode.string(), limit: limit)
                }
                guard splitNames.contains(spec.split) else {
                    throw unknownName(spec.split, among: splitNames, what: "split of \(dataset)", at: nameNode.mark)
                }
                if let preferred, !preferred.splits.contains(spec.split) {
                    throw YAMLError("split '\(spec.split)' of \(dataset) is not a split of the preferred dataset \(preferred.name) " +
                                    "(\(preferred.splits.joined(separator: ", ")))", at: nameNode.mark)
                }
                if generated && (spec.limit == nil || spec.skip > 0) {
                    throw YAMLError("'\(path).\(role)' of \(dataset) needs a limit (the number of scenes it renders) and no skip", at: splitNode.mark)
                }
                if generated, let limit = spec.limit, limit > GeneratedDatasets.maximumScenes {
                    throw YAMLError("'\(path).\(role)' of \(dataset) renders \(limit) scenes; at most \(GeneratedDatasets.maximumScenes) per split", at: splitNode.mark)
                }
                return spec
            }
            let classes = try fields.optional("classes").map { node -> [String] in
                let items = try node.items().map { try $0.string() }
                guard items.count >= 2 else { throw YAMLError("'\(path).classes' needs at least two class names", at: node.mark) }
                return items
            }
            tasks.append(TaskSpec(
                name: name, dataset: dataset, loader: loader, preferred: preferred.map { ($0.name, $0.loader) },
                train: promptFrom != nil && fields.optional("train") == nil ? try split("test") : try split("train"), test: try split("test"),
                sampling: SamplingSpec(rawValue: try fields.choice("sampling", SamplingSpec.allCases.map(\.rawValue), default: "first"))!,
                seed: try fields.int("seed", default: 0),
                question: try fields.string("question", default: ClassificationPrompts.officialQuestion),
                classes: classes, caption: try fields.string("caption", default: "this is a photo of a {class}"), promptFrom: promptFrom,
                scoring: CandidateScoring(rawValue: try fields.choice("scoring", CandidateScoring.allCases.map(\.rawValue), default: "mean"))!))
        }
        guard !tasks.isEmpty else { throw YAMLError("'data' must define at least one task", at: node.mark) }
        return tasks
    }

    static func decodePrompt(_ node: YAMLNode?) throws -> PromptSpec {
        guard let node else { return PromptSpec(kind: .padding, imageSize: 224, frame: 30) }
        let fields = try YAMLFields(node, path: "prompt", allowed: ["kind", "image_size", "frame", "init"])
        let kind = PromptKind(rawValue: try fields.choice("kind", PromptKind.allCases.map(\.rawValue), default: "padding"))!
        let size = try fields.int("image_size", default: 224, min: 4, max: 4096)
        let frame = try fields.int("frame", default: min(30, size / 4), min: 1, max: 4096)
        let fits = kind == .padding || kind == .pad ? 2 * frame < size : frame <= size
        guard fits else {
            throw YAMLError("prompt.frame \(frame) does not fit a \(kind.rawValue) prompt on \(size) px images", at: fields.mark("frame"))
        }
        let initialization = try fields.optional("init").map {
            PromptInitialization(rawValue: try YAMLFields.choice($0, PromptInitialization.allCases.map(\.rawValue), what: "prompt.init"))!
        }
        if kind == .padding && initialization == .normal {
            throw YAMLError("prompt.init normal: the padding prompt starts at zero (the official initialization); use zeros or leave init out",
                            at: fields.mark("init"))
        }
        return PromptSpec(kind: kind, imageSize: size, frame: frame, initialization: initialization)
    }

    static func decodeTrain(_ node: YAMLNode?) throws -> TrainSpec {
        let fields = try node.map {
            try YAMLFields($0, path: "train", allowed: ["epochs", "batch", "optimizer", "lr", "schedule", "seed", "augment", "validation", "validate_every"])
        }
        return TrainSpec(epochs: try fields?.int("epochs", default: 1, min: 1, max: 100_000) ?? 1,
                         batch: try fields?.int("batch", default: 16, min: 1, max: 4096) ?? 16,
                         optimizer: try fields?.choice("optimizer", TrainSpec.optimizers, default: "tvp") ?? "tvp",
                         lr: try fields?.double("lr", default: 10, max: TrainSpec.maximumLearningRate, positive: true) ?? 10,
                         schedule: try fields?.choice("schedule", TrainSpec.schedules, default: "cosine") ?? "cosine",
                         seed: try fields?.int("seed", default: 42) ?? 42,
                         augment: try fields?.bool("augment", default: true) ?? true,
                         validation: try fields?.int("validation", default: 0, min: 0) ?? 0,
                         validateEvery: try fields?.int("validate_every", default: 8, min: 1) ?? 8)
    }

    static func decodeEvaluate(_ node: YAMLNode?) throws -> EvaluateSpec {
        let fields = try node.map { try YAMLFields($0, path: "evaluate", allowed: ["protocols", "metrics", "corruptions", "batch"]) }
        func uniqueChoices(_ key: String, _ choices: [String], default value: [String]) throws -> [String] {
            guard let node = fields?.optional(key) else { return value }
            let items = try YAMLFields.stringList(node)
            guard !items.isEmpty else { throw YAMLError("'evaluate.\(key)' is empty", at: node.mark) }
            var seen: [String] = []
            for item in items {
                guard choices.contains(item.text) else { throw unknownName(item.text, among: choices, what: "value in 'evaluate.\(key)'", at: item.node.mark) }
                guard !seen.contains(item.text) else { throw YAMLError("'\(item.text)' is listed twice", at: item.node.mark) }
                seen.append(item.text)
            }
            return seen
        }
        let protocols = try uniqueChoices("protocols", ProtocolSpec.allCases.map(\.rawValue),
                                          default: ["zero-shot-official", "vp", "tvp"]).map { ProtocolSpec(rawValue: $0)! }
        let metrics = try uniqueChoices("metrics", EvaluateSpec.metricNames, default: ["accuracy"])
        var corruptions: [CorruptionSpec] = []
        if let list = fields?.optional("corruptions") {
            for item in try list.items() {
                let entry = try YAMLFields(item, path: "evaluate.corruptions[\(corruptions.count)]", allowed: ["name", "severity"])
                let name = try YAMLFields.choice(try entry.required("name"), CorruptionSpec.names, what: "corruption")
                let corruption = CorruptionSpec(corruption: Corruption(rawValue: name)!,
                                                severity: try entry.checkedInt(try entry.required("severity"), key: "severity", min: 1, max: 5))
                guard !corruptions.contains(corruption) else { throw YAMLError("corruption \(corruption.label) is listed twice", at: item.mark) }
                corruptions.append(corruption)
            }
        }
        return EvaluateSpec(protocols: protocols, metrics: metrics, corruptions: corruptions,
                            batch: try fields?.int("batch", default: 16, min: 1, max: 4096) ?? 16)
    }

    func decodeClaims(_ node: YAMLNode) throws -> [Claim] {
        try node.items().map { item in
            var textNode = item
            var scope = ClaimScope.targets
            var tasks: [String] = []
            var metric = report.metric
            var corruption: String?
            var confidence = Statistics.defaultConfidence
            if case .mapping = item {
                let fields = try YAMLFields(item, path: "expect[]", allowed: ["claim", "over", "tasks", "metric", "corruption", "confidence"])
                textNode = try fields.required("claim")
                if let over = fields.optional("over") {
                    if case .sequence = over {
                        scope = .models(try YAMLFields.stringList(over).map { entry in
                            guard evaluatedModels.contains(entry.text) else { throw unknownName(entry.text, among: evaluatedModels, what: "evaluated model", at: entry.node.mark) }
                            return entry.text
                        })
                    } else {
                        switch try YAMLFields.choice(over, ["targets", "surrogates", "all"], what: "over") {
                        case "surrogates": scope = .surrogates
                        case "all": scope = .all
                        default: scope = .targets
                        }
                    }
                }
                tasks = try fields.optional("tasks").map { try YAMLFields.stringList($0).map { entry in
                    guard self.tasks.contains(where: { $0.name == entry.text }) else { throw unknownName(entry.text, among: self.tasks.map(\.name), what: "task", at: entry.node.mark) }
                    return entry.text
                } } ?? []
                metric = try fields.choice("metric", evaluate.metrics, default: metric)
                corruption = try fields.optional("corruption").map { try YAMLFields.choice($0, evaluate.corruptions.map(\.label), what: "corruption") }
                if let node = fields.optional("confidence") {
                    confidence = try node.double()
                    guard confidence > 0 && confidence < 1 else {
                        throw YAMLError("'expect[].confidence' is the two-sided confidence level of the claim's interval, a number " +
                                        "between 0 and 1 (exclusive) such as 0.95; found \(node.scalarText ?? "?")", at: node.mark)
                    }
                }
            }
            let text = try textNode.string()
            var column0 = textNode.mark.column
            if case .scalar(_, let info, _) = textNode, info.style == .singleQuoted || info.style == .doubleQuoted { column0 += 1 }
            let (left, comparison, right) = try Claim.parseExpression(text, mark: textNode.mark, column0: column0,
                                                                      protocols: evaluate.protocols, models: evaluatedModels)
            if scope == .targets && targets.isEmpty && [left, right].contains(where: { if case .statistic(_, let s, _) = $0 { if case .model = s { return false }; return true }; return false }) {
                throw YAMLError("claim '\(text)' ranges over the targets, but 'targets' lists none; add targets or 'over: all'", at: textNode.mark)
            }
            return Claim(text: text, left: left, comparison: comparison, right: right, scope: scope, tasks: tasks,
                         metric: metric, corruption: corruption, mark: textNode.mark, confidence: confidence)
        }
    }
}
