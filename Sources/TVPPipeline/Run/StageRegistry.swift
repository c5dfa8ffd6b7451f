import Foundation
import TVPData
import TVPEngine
import TVPModels
import TVPPrompting
import TVPTensor

/// A stage kind's computation: the running stage's context and its parameters → its output.
public typealias StageFunction = @Sendable (StageContext, JSONValue) throws -> StageOutput

/// One kind of stage: the code it runs (its digest is part of every key), how it uses the machine, its function.
public struct StageKind: Sendable {
    public var name: String
    public var code: StageCode
    public var resources: StageResources
    public var function: StageFunction
}

/// The names of the built-in stage kinds (`all`: a prompt pipeline's; `zoo`: a zoo build's, besides fetch and render).
public enum StageKinds {
    public static let fetch = "fetch"
    public static let render = "render"
    public static let loadSplit = "load-split"
    public static let cleanFeatures = "clean-features"
    public static let guideText = "guide-text"
    public static let trainPrompt = "train-prompt"
    public static let evaluate = "evaluate"
    public static let aggregate = "aggregate"
    public static let report = "report"
    public static let all = [fetch, render, loadSplit, cleanFeatures, guideText, trainPrompt, evaluate, aggregate, report]
}

/// Progress of a running stage: logged through the executor (verbose) and drawn as a bar (normal).
public final class StageProgress: @unchecked Sendable {
    private let context: StageContext?
    private let console: Console?
    private let label: String
    private var bar: ProgressBar?
    private let lock = NSLock()

    public init(context: StageContext?, console: Console?) {
        self.context = context
        self.console = console
        label = context?.displayName ?? "stage"
    }

    /// Reports nothing (backend tests).
    public static let silent = StageProgress(context: nil, console: nil)

    /// `completed` of `total` units done.
    public func update(completed: Int, total: Int, unit: String, note: String = "") {
        context?.progress(total > 0 ? Double(completed) / Double(total) : 1, "\(completed)/\(total) \(unit)" + (note.isEmpty ? "" : ", " + note))
        lock.lock()
        if bar == nil { bar = console?.bar(label: label, unit: unit) }
        let bar = self.bar
        lock.unlock()
        bar?.update(completed: completed, total: total, note: note)
    }
}

/// Maps stage kinds to their functions, and holds what those functions share: the manifest, the
/// fetcher, the backend and the models built so far (each model is built once per registry).
public final class StageRegistry: @unchecked Sendable {
    public let manifest: Manifest
    public let fetcher: Fetcher
    /// Builds models and trains and evaluates prompts; nil in a build without one (then the stages
    /// that need it fail with an explanation, and everything else still runs).
    public let backend: PipelineBackend?
    public let console: Console
    private var kinds: [String: StageKind] = [:]
    private var models: [String: AnyObject] = [:]
    private let lock = NSLock()

    public init(manifest: Manifest, fetcher: Fetcher, backend: PipelineBackend?, console: Console = .silent()) {
        self.manifest = manifest
        self.fetcher = fetcher
        self.backend = backend
        self.console = console
        for kind in dataStageKinds() + modelStageKinds() + resultStageKinds() + zooStageKinds() { register(kind) }
    }

    /// Adds or replaces a kind.
    public func register(_ kind: StageKind) {
        lock.lock(); kinds[kind.name] = kind; lock.unlock()
    }

    public func kind(named name: String) throws -> StageKind {
        lock.lock(); defer { lock.unlock() }
        guard let kind = kinds[name] else {
            throw PipelineError.stage(name, "no stage kind '\(name)' is registered; known: " + kinds.keys.sorted().joined(separator: ", "))
        }
        return kind
    }

    /// An engine stage of kind `kind` whose body calls the kind's function.
    public func stage(id: String, kind name: String, parameters: JSONValue, inputs: [String] = [],
                      assets: [String: String] = [:]) throws -> Stage {
        let kind = try kind(named: name)
        let function = kind.function
        // Numeric stages computed with another OpenBLAS kernel than the reproducible one round
        // differently: their keys say which kernel computed them.
        let code = kind.code.digest + (kind.resources == .compute ? BLASKernel.cacheTag : "")
        return Stage(id: id, kind: name, parameters: parameters, inputs: inputs, assets: assets, code: code,
                     resources: kind.resources) { context in try function(context, context.parameters) }
    }

    /// A progress reporter for the running stage.
    public func progress(_ context: StageContext) -> StageProgress { StageProgress(context: context, console: console) }

    /// The registry a kind's function belongs to (kinds hold it weakly, so it must outlive its stages' runs).
    static func alive(_ registry: StageRegistry?, _ context: StageContext) throws -> StageRegistry {
        guard let registry else { throw PipelineError.stage(context.stageID, "the stage registry was released before the stage ran") }
        return registry
    }

    func requireBackend(_ context: StageContext) throws -> PipelineBackend {
        guard let backend else {
            throw PipelineError.stage(context.stageID, "this build of tvp-run has no model backend, so it cannot build models, " +
                                      "train or evaluate; set TVPRunCommand.backend (the tvp-run executable sets PromptingBackend; see docs/pipelines.md)")
        }
        return backend
    }

    /// The build request described by a model's stage JSON (see `PipelineCompiler.modelJSON`).
    public func modelBuild(_ json: JSONValue) throws -> ModelBuild {
        guard let name = json["name"]?.stringValue, let family = json["family"]?.stringValue, let weights = json["weights"] else {
            throw PipelineError.stage("model", "not a model description: \(json)")
        }
        var files: [String] = []
        var seed: Int?
        if let assetName = weights["asset"]?.stringValue {
            let asset = try manifest.asset(named: assetName)
            let chosen = weights["file"]?.stringValue.flatMap { asset.file(named: $0) }.map { [$0] } ?? asset.files
            files = chosen.map { fetcher.path(of: $0, in: asset) }
        } else if let path = weights["path"]?.stringValue {
            files = [path]
        } else {
            seed = weights["random"]?.intValue
        }
        return ModelBuild(name: name, family: family, files: files, randomSeed: seed, options: json["options"] ?? .object([:]),
                          assetsDirectory: fetcher.assetsDirectory)
    }

    /// The model of `json`, built on first use.
    func model(_ json: JSONValue, context: StageContext) throws -> any MultimodalModel {
        try memoized("model:" + json.canonicalText) { try requireBackend(context).makeModel(try modelBuild(json)) }
    }

    /// The guide of `json`, built on first use.
    func guide(_ json: JSONValue, context: StageContext) throws -> any TSEGuide {
        try memoized("guide:" + json.canonicalText) { try requireBackend(context).makeGuide(try modelBuild(json)) }
    }

    private func memoized<T>(_ key: String, _ build: () throws -> T) throws -> T {
        lock.lock()
        if let built = models[key] as? T { lock.unlock(); return built }
        lock.unlock()
        let built = try build()
        lock.lock(); models[key] = built as AnyObject; lock.unlock()
        return built
    }
}
