import Foundation
import TVPData
import TVPEngine
import TVPFormats

/// Compiles validated pipelines into engine stages:
///
/// ```
/// fetch[ASSET] or render[SPLIT/…] → load[TASK/train|test] → features[TASK/SURROGATE] (fca > 0)
///                                       → text[TASK/GUIDE]        (tse > 0)
///              → train[TASK/vp|tvp] → eval[TASK/MODEL/PROTOCOL(/CORRUPTION)] → aggregate → report
/// ```
///
/// Each stage's parameters hold exactly what its result depends on, so the points of a sweep share
/// every stage their values do not reach (one clean-feature pass and one zero-shot evaluation serve
/// every `loss.fca`), and the graph collapses them into one node.
public struct PipelineCompiler {
    public let registry: StageRegistry
    /// The folder `weights: {path: …}` is resolved against (the pipeline file's folder).
    public let baseDirectory: String
    /// What the compilation decided that a person should hear (which dataset a task reads), once each.
    public private(set) var notes: [String] = []
    /// SHA-256 of each local weight file or folder hashed so far: every point of a sweep reads it once.
    private var weightDigests: [String: String] = [:]

    public init(registry: StageRegistry, baseDirectory: String = ".") {
        self.registry = registry
        self.baseDirectory = baseDirectory
    }

    /// One engine pipeline per point, named `PipelinePoint.pipelineName`; `plans` (one per point)
    /// compile points of a halving search to a rung.
    public mutating func compile(_ loaded: LoadedPipeline, plans: [RungPlan?]? = nil) throws -> [Pipeline] {
        try loaded.points.enumerated().map { try compile($1.spec, name: $1.pipelineName, rungs: plans?[$0]) }
    }

    /// The stages of one validated spec; with `rungs`, its trainings in rungs (`RungPlan`).
    public mutating func compile(_ spec: PipelineSpec, name: String, rungs: RungPlan? = nil) throws -> Pipeline {
        if let zoo = spec.zoo { return try compileZoo(zoo, name: name) }
        var stages: [Stage] = []
        var ids: Set<String> = []
        // A stage with the same kind, parameters, assets and (recursively) inputs as one already added
        // is that stage: `add` returns the first one's id (two tasks reading the same split share its
        // load and its prompt training).
        var idBySignature: [String: String] = [:], signatureByID: [String: String] = [:]
        @discardableResult
        func add(_ id: String, _ kind: String, _ parameters: JSONValue, inputs: [String] = [], assets: [String: String] = [:]) throws -> String {
            if ids.contains(id) { return id }
            let signature = JSONValue.object([
                "kind": .string(kind), "parameters": parameters, "inputs": .array(inputs.map { .string(signatureByID[$0] ?? $0) }),
                "assets": .object(assets.mapValues { .string($0) }),
            ]).canonicalText
            if let existing = idBySignature[signature] { return existing }
            ids.insert(id)
            idBySignature[signature] = id
            signatureByID[id] = signature
            stages.append(try registry.stage(id: id, kind: kind, parameters: parameters, inputs: inputs, assets: assets))
            return id
        }
        // Models: their stage JSON, the fetch stage they need and their weight checksums.
        var modelInfo: [String: (json: JSONValue, inputs: [String], assets: [String: String])] = [:]
        for model in spec.models {
            var inputs: [String] = [], assets: [String: String] = [:]
            if case .asset(let assetName, let file) = model.weights {
                let asset = try registry.manifest.asset(named: assetName)
                try add("fetch[\(assetName)]", StageKinds.fetch, ["asset": .string(assetName)], assets: checksums(asset))
                inputs = ["fetch[\(assetName)]"]
                assets = checksums(asset).filter { file == nil || $0.key == "\(assetName)/\(file!)" }
            } else if case .path(let path) = model.weights {
                let resolved = resolve(path)
                guard FileManager.default.fileExists(atPath: resolved) else {
                    throw MissingWeights(model: model.name, path: resolved, hint: registry.backend?.weightsHint(family: model.family))
                }
                if let files = registry.backend?.weightFiles(family: model.family, name: model.name, options: model.options), isDirectory(resolved) {
                    for file in files {
                        let path = (resolved as NSString).appendingPathComponent(file)
                        guard FileManager.default.fileExists(atPath: path) else {
                            throw MissingWeights(model: model.name, path: path, hint: registry.backend?.weightsHint(family: model.family))
                        }
                        assets["\(model.name):\(path)"] = try weightDigest(path)
                    }
                } else {
                    assets = ["\(model.name):\(resolved)": try weightDigest(resolved)]
                }
            }
            // Assets the family reads besides its weights: fetched first, their checksums in the key.
            for assetName in registry.backend?.requiredAssets(family: model.family, options: model.options) ?? [] {
                let asset = try registry.manifest.asset(named: assetName)
                try add("fetch[\(assetName)]", StageKinds.fetch, ["asset": .string(assetName)], assets: checksums(asset))
                if !inputs.contains("fetch[\(assetName)]") { inputs.append("fetch[\(assetName)]") }
                assets.merge(checksums(asset)) { a, _ in a }
            }
            modelInfo[model.name] = (modelJSON(model), inputs, assets)
        }
        let layout = spec.prompt
        let promptJSON = layout.json
        var evaluations: [JSONValue] = [], evaluationIDs: [String] = []
        var trainings: [JSONValue] = [], trainingIDs: [String] = []
        var trainIDsByTask: [String: [PromptVariant: String]] = [:]
        let variants = PromptVariant.allCases.filter { variant in spec.evaluate.protocols.contains { $0.variant == variant } }

        var datasetsUsed: [String: JSONValue] = [:]
        func note(_ text: String) { if !notes.contains(text) { notes.append(text) } }
        for task in spec.tasks {
            // The dataset this run reads: `prefer:` when its files are fetched, else `dataset:`.
            var dataset = task.dataset, loader = task.loader
            if let preferred = task.preferred {
                let asset = try registry.manifest.asset(named: preferred.name)
                if asset.files.allSatisfy({ registry.fetcher.state(of: $0, in: asset) != .missing }) {
                    (dataset, loader) = preferred
                    note("task \(task.name): using \(preferred.name) (fetched) instead of \(task.dataset)")
                } else {
                    note("task \(task.name): using \(task.dataset) (\(preferred.name) is not fetched; `tvp-run fetch \(preferred.name)` to use it)")
                }
            }
            datasetsUsed[task.name] = .string(dataset)
            let generated = GeneratedDatasets.names.contains(dataset)
            let asset = generated ? nil : try registry.manifest.asset(named: dataset)
            var sourceInputs: [String] = []
            var requires: [JSONValue] = []
            if let asset {
                try add("fetch[\(dataset)]", StageKinds.fetch, ["asset": .string(dataset)], assets: checksums(asset))
                sourceInputs = ["fetch[\(dataset)]"]
                // Assets the dataset requires (POPE: the COCO images): fetched too, their entries handed to the load.
                for name in asset.requires {
                    let required = try registry.manifest.asset(named: name)
                    try add("fetch[\(name)]", StageKinds.fetch, ["asset": .string(name)], assets: checksums(required))
                    requires.append(["asset": .string(name), "entries": entriesJSON(required.splits.first?.entries ?? [])])
                    sourceInputs.append("fetch[\(name)]")
                }
            }
            /// The load stage of a split (after its render stage, for a generated dataset); returns its id.
            func load(_ role: String, _ split: SplitSpec) throws -> String {
                var inputs = sourceInputs
                if generated {
                    let renderSplit = GeneratedDatasets.renderSplit(split.split)
                    let count = split.limit ?? 0   // validated: generated splits have a limit, no skip
                    let renderID = "render[\(renderSplit)/\(count)/\(layout.imageSize)px/seed\(task.seed)]"
                    inputs = [try add(renderID, StageKinds.render, ["split": .string(renderSplit), "count": .integer(count),
                                                           "size": .integer(layout.imageSize), "seed": .integer(task.seed)])]
                }
                let parameters: [String: JSONValue] = [
                    "dataset": .string(dataset), "loader": .string(loader), "split": .string(split.split),
                    "entries": entriesJSON(asset?.splits.first { $0.name == split.split }?.entries ?? []),
                    "requires": .array(requires), "image_size": .integer(spec.prompt.imageSize),
                    // A generated split is read whole: its render has `limit` scenes (POPE: several probes each).
                    "limit": generated ? .null : split.limit.map { .integer($0) } ?? .null, "skip": .integer(split.skip),
                    "sampling": .string(task.sampling.rawValue),
                    "seed": .integer(task.seed),
                    "classes": task.classes.map { .array($0.map { .string($0) }) } ?? .null, "question": .string(task.question),
                ]
                return try add("load[\(task.name)/\(role)]", StageKinds.loadSplit, .object(parameters), inputs: inputs)
            }
            // A task evaluated with another task's prompts reads no train split.
            let trainLoad = task.promptFrom == nil ? try load("train", task.train) : ""
            let testLoad = try load("test", task.test)

            var trainIDs: [PromptVariant: String] = [:]
            // Cross-dataset transfer: evaluated with an earlier task's prompts, trains none of its own.
            if let source = task.promptFrom { trainIDs = trainIDsByTask[source] ?? [:] }
            for variant in variants where task.promptFrom == nil {
                let loss = variant == .tvp ? spec.loss : LossSpec(fca: 0, tse: 0, task: spec.loss.task)
                var inputs = [trainLoad]
                for surrogate in spec.surrogates where loss.fca > 0 {
                    let info = modelInfo[surrogate]!
                    let id = try add("features[\(task.name)/\(surrogate)]", StageKinds.cleanFeatures, .object([
                        "model": info.json, "prompt": promptJSON, "epochs": .integer(spec.train.epochs), "batch": .integer(spec.train.batch),
                        "seed": .integer(spec.train.seed), "augment": .bool(spec.train.augment),
                    ].merging(spec.train.validation > 0 ? ["validation": .integer(spec.train.validation)] : [:]) { a, _ in a }),
                            inputs: [trainLoad] + info.inputs, assets: info.assets)
                    inputs.append(id)
                }
                var guideJSON: JSONValue = .null
                var assets: [String: String] = [:]
                if loss.tse > 0, let guide = spec.guide {
                    let info = modelInfo[guide]!
                    guideJSON = info.json
                    assets.merge(info.assets) { a, _ in a }
                    let id = try add("text[\(task.name)/\(guide)]", StageKinds.guideText, ["guide": info.json, "caption": .string(task.caption)],
                            inputs: [trainLoad] + info.inputs, assets: info.assets)
                    inputs.append(id)
                    inputs += info.inputs
                }
                for surrogate in spec.surrogates {
                    let info = modelInfo[surrogate]!
                    assets.merge(info.assets) { a, _ in a }
                    inputs += info.inputs.filter { !inputs.contains($0) }
                }
                var trainParameters: [String: JSONValue] = [
                    // No task name here: tasks that train on the same split share one training.
                    "variant": .string(variant.rawValue),
                    "surrogates": .array(spec.surrogates.map { modelInfo[$0]!.json }), "guide": guideJSON,
                    "prompt": promptJSON, "loss": loss.json, "train": spec.train.json, "caption": .string(task.caption),
                ]
                // Validation scores candidates as the task's evaluation does (only a non-default scoring enters the key).
                // So does the candidates task loss.
                if (spec.train.validation > 0 || loss.task != "answer") && task.scoring != .mean {
                    trainParameters["scoring"] = .string(task.scoring.rawValue)
                }
                var id = ""
                if let rungs {
                    // Each rung continues the one before (its last input): `TrainingRungs`.
                    for (index, steps) in rungs.rungs.enumerated() {
                        var parameters = trainParameters
                        parameters["rung"] = ["steps": .integer(steps), "continues": .bool(index > 0)]
                        id = try add("train[\(task.name)/\(variant.rawValue)/\(steps)]", StageKinds.trainPrompt, .object(parameters),
                                     inputs: inputs + (index > 0 ? [id] : []), assets: assets)
                    }
                } else {
                    id = try add("train[\(task.name)/\(variant.rawValue)]", StageKinds.trainPrompt, .object(trainParameters),
                                 inputs: inputs, assets: assets)
                }
                trainIDs[variant] = id
                if !trainingIDs.contains(id) {
                    trainings.append(["task": .string(task.name), "variant": .string(variant.rawValue)])
                    trainingIDs.append(id)
                }
            }

            trainIDsByTask[task.name] = trainIDs

            for corruption in rungs?.evaluates == false ? [] : [nil] + spec.evaluate.corruptions.map(Optional.some) {
                for evaluation in spec.evaluate.protocols {
                    for modelName in spec.evaluatedModels {
                        let info = modelInfo[modelName]!
                        var inputs = [testLoad]
                        if let variant = evaluation.variant, let train = trainIDs[variant] { inputs.append(train) }
                        let id = "eval[\(task.name)/\(modelName)/\(evaluation.rawValue)\(corruption.map { "/" + $0.label } ?? "")]"
                        var parameters: [String: JSONValue] = [
                            "task": .string(task.name), "model": info.json, "protocol": .string(evaluation.rawValue),
                            "prompt": promptJSON, "metrics": .array(spec.evaluate.metrics.map { .string($0) }),
                            "batch": .integer(spec.evaluate.batch),
                            "corruption": corruption.map { ["name": .string($0.name), "severity": .integer($0.severity)] } ?? .null,
                        ]
                        // The seed draws the corruption's noise; clean evaluations do not depend on it, so the
                        // training seeds of `seeds: N` share one zero-shot evaluation.
                        if corruption != nil { parameters["seed"] = .integer(spec.train.seed) }
                        // Only a non-default scoring enters the manifest, so mean-scored stages keep their keys.
                        if task.scoring != .mean { parameters["scoring"] = .string(task.scoring.rawValue) }
                        try add(id, StageKinds.evaluate, .object(parameters), inputs: inputs + info.inputs, assets: info.assets)
                        evaluations.append(["task": .string(task.name), "model": .string(modelName), "protocol": .string(evaluation.rawValue),
                                            "corruption": corruption.map { .string($0.label) } ?? .null])
                        evaluationIDs.append(id)
                    }
                }
            }
        }

        if rungs?.evaluates == false { return Pipeline(name: name, stages: stages) }
        let models: [JSONValue] = spec.surrogates.map { ["name": .string($0), "role": "surrogate"] }
            + spec.targets.map { ["name": .string($0), "role": "target"] }
        try add("aggregate", StageKinds.aggregate, [
            "pipeline": .string(name), "tasks": .array(spec.tasks.map { .string($0.name) }), "models": .array(models),
            "datasets": .object(datasetsUsed),
            "protocols": .array(spec.evaluate.protocols.map { .string($0.rawValue) }),
            "metrics": .array(spec.evaluate.metrics.map { .string($0) }),
            "corruptions": .array(spec.evaluate.corruptions.map { .string($0.label) }),
            "evaluations": .array(evaluations), "trainings": .array(trainings),
            "claims": .array(spec.claims.map { $0.json(models: $0.scope.models(in: spec)) }),
        ], inputs: evaluationIDs + trainingIDs)
        try add("report", StageKinds.report, [
            "title": .string(spec.report.title), "metric": .string(spec.report.metric), "digits": .integer(spec.report.digits),
            "images": .bool(spec.report.images), "trainings": .array(spec.report.images ? trainings : []),
        ], inputs: ["aggregate"] + (spec.report.images ? trainingIDs : []))
        return Pipeline(name: name, stages: stages)
    }

    /// A model as stage parameters: {name, family, weights, options} (checksums go in the stage's assets).
    public func modelJSON(_ model: ModelSpec) -> JSONValue {
        let weights: JSONValue
        switch model.weights {
        case .asset(let asset, let file): weights = ["asset": .string(asset), "file": file.map { .string($0) } ?? .null]
        case .path(let path): weights = ["path": .string(resolve(path))]
        case .random(let seed): weights = ["random": .integer(seed)]
        }
        return ["name": .string(model.name), "family": .string(model.family), "weights": weights, "options": model.options]
    }

    /// `path` against `baseDirectory`, normalized (`./Pipelines/paper/../zoo/connectors` →
    /// `Pipelines/zoo/connectors`), so a model's stage parameters, and so its stages' keys, do not
    /// depend on how the pipeline file was named on the command line or which folder declared it.
    func resolve(_ path: String) -> String {
        normalizedPath(path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path))
    }

    /// Split entries as stage parameters: [{file, member}].
    func entriesJSON(_ entries: [SplitEntry]) -> JSONValue {
        .array(entries.map { ["file": .string($0.file), "member": $0.member.map { .string($0) } ?? .null] })
    }

    /// `hashPath(path)`, computed once per compiler.
    private mutating func weightDigest(_ path: String) throws -> String {
        if let known = weightDigests[path] { return known }
        let digest = try hashPath(path)
        weightDigests[path] = digest
        return digest
    }

    /// `ASSET/FILE` → the manifest's checksum of each file (what the fetch verified).
    func checksums(_ asset: Asset) -> [String: String] {
        var out: [String: String] = [:]
        for file in asset.files { out["\(asset.name)/\(file.name)"] = file.checksum.description }
        return out
    }
}

/// How far a point of a halving search is compiled (`HalvingSearch`): its trainings as a chain of
/// rung stages `train[TASK/VARIANT/STEPS]`, each continuing the one before.
public struct RungPlan: Sendable, Equatable {
    /// The rungs' step counts, in order.
    public var rungs: [Int]
    /// Whether the point goes on to evaluate the last rung's prompts (and aggregate and report); else
    /// its pipeline ends at the training.
    public var evaluates: Bool
}

/// `path` with `.` components, empty components and `name/..` pairs removed, by text alone (no
/// file system access): `./a/b/../c/` → `a/c`, `/a/../../b` → `/b`, `../a/./b` → `../a/b`, `a/..` → `.`.
public func normalizedPath(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for component in path.split(separator: "/", omittingEmptySubsequences: true) where component != "." {
        if component == "..", let last = parts.last, last != ".." {
            parts.removeLast()
        } else if component == "..", absolute {
            continue    // `/..` is `/`
        } else {
            parts.append(component)
        }
    }
    let joined = parts.joined(separator: "/")
    return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
}

/// Whether `path` is a folder (false when nothing is there).
func isDirectory(_ path: String) -> Bool {
    var folder: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
}

/// The SHA-256 of a file, or of a folder (its files' relative paths and SHA-256s, sorted).
public func hashPath(_ path: String) throws -> String {
    guard FileManager.default.fileExists(atPath: path) else { throw PipelineError.stage("weights", "no file or folder at \(path)") }
    if !isDirectory(path) { return try hashFile(path) }
    let files = (FileManager.default.subpaths(atPath: path) ?? []).sorted().filter { !isDirectory(path + "/" + $0) }
    return sha256Hex(try files.map { "\($0) \(try hashFile(path + "/" + $0))" }.joined(separator: "\n"))
}

func hashFile(_ path: String) throws -> String {
    do {
        return try fileSHA256(path).sha256 ?? ""
    } catch {
        throw PipelineError.stage("weights", "cannot read \(path): \(error)")
    }
}
