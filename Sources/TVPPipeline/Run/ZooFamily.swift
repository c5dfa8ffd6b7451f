import Foundation
import TVPEngine
import TVPModels
import TVPPrompting
import TVPZoo

/// The `zoo` model family and the `zoo-guide` guide family of `PromptingBackend`: the embedded zoo
/// of small MLLMs (TVPPrompting's `Zoo`). `weights: {path: DIR}` is the folder of the zoo's trained
/// connectors (Pipelines/zoo/connectors, written by the zoo build file Pipelines/zoo.yaml); the model is the zoo model named
/// by `options.zoo_model`, else by the entry's name. The shared parts (SmolLM2, EfficientNet-Lite0,
/// all-MiniLM-L6-v2) are manifest assets the pipeline fetches first. The zoo is loaded once per
/// process and folder, so every zoo model of a pipeline shares one language model.
enum ZooFamily {
    /// The zoo's models and its guide.
    static let families = [
        ModelFamily(name: "zoo", builds: .model(makeModel), weightsHint: weightsHint, requiredAssets: { _ in requiredAssets },
                    weightFiles: { name, options in modelFiles(name: name, options: options) }),
        ModelFamily(name: "zoo-guide", builds: .guide(makeGuide), weightsHint: weightsHint, requiredAssets: { _ in requiredAssets },
                    weightFiles: { _, _ in [Zoo.guideFile(in: "")] }),
    ]

    /// The manifest assets the zoo reads besides its connector weights.
    static let requiredAssets = [Zoo.languageAsset.asset, Zoo.efficientNetAsset.asset, Zoo.textTowerAsset.asset]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: ZooModels] = [:]

    /// The whole zoo from the connectors in `build.files[0]` and the assets under `build.assetsDirectory`.
    static func zoo(_ build: ModelBuild) throws -> ZooModels {
        guard build.files.count == 1, let weights = build.files.first else {
            throw PipelineError.stage("model", "'\(build.name)' (\(build.family)): give the zoo's connector folder as weights: {path: DIR} — " +
                                      weightsHint)
        }
        let key = build.assetsDirectory + "\n" + weights
        lock.lock()
        defer { lock.unlock() }
        if let zoo = loaded[key] { return zoo }
        do {
            let zoo = try Zoo.load(assets: build.assetsDirectory, weights: weights)
            loaded[key] = zoo
            return zoo
        } catch let error as ZooError {
            throw PipelineError.stage("model", "'\(build.name)' (\(build.family)): \(error.description)")
        }
    }

    static func makeModel(_ build: ModelBuild) throws -> any MultimodalModel {
        let name = build.options["zoo_model"]?.stringValue ?? build.name
        do { return try zoo(build).model(name) } catch let error as ZooError {
            throw PipelineError.stage("model", "model '\(build.name)': \(error.description) (name it after a zoo model or set options.zoo_model)")
        }
    }

    static func makeGuide(_ build: ModelBuild) throws -> any TSEGuide {
        try zoo(build).guide
    }

    /// The files of the connector folder a zoo model reads: its own weight file, and the ViT tower
    /// for a model on it; nil (the whole folder) for a name the zoo does not hold (its stages fail
    /// later, naming the zoo's models).
    static func modelFiles(name: String, options: JSONValue) -> [String]? {
        guard let spec = try? ZooModelSpec.named(options["zoo_model"]?.stringValue ?? name) else { return nil }
        let own = Zoo.connectorFile(spec.name, in: "")
        return spec.tower == .vit ? [own, Zoo.vitFile(in: "")] : [own]
    }

    static let weightsHint =
        "the zoo's connector folder (Pipelines/zoo/connectors: one safetensors file per zoo model, zoo-vit-tower and zoo-guide), " +
            "written by `tvp-run Pipelines/zoo.yaml`"
}
