import TVPEngine
import TVPModels
import TVPPrompting

/// One `family:` of a pipeline's `models:`: what it builds (a surrogate/target model or a TSE
/// guide), how it loads it, what it needs on disk and which manifest assets it reads. Each family is
/// declared once (`PromptingBackend.families`); validation, compilation and the backend look it up
/// by name. The scorer and the FCA tap are the built model's own (`MultimodalModel`).
struct ModelFamily {
    enum Builds {
        case model((ModelBuild) throws -> any MultimodalModel)
        case guide((ModelBuild) throws -> any TSEGuide)
    }

    let name: String
    let builds: Builds
    /// What a model of the family needs on disk, for the error when its weights are missing.
    let weightsHint: String
    /// Manifest assets the family reads besides its weights, given the model's options.
    var requiredAssets: (_ options: JSONValue) -> [String] = { _ in [] }
    /// The files a model reads from its `weights: {path: DIR}` folder (nil: the whole folder).
    var weightFiles: (_ name: String, _ options: JSONValue) -> [String]? = { _, _ in nil }

    var isGuide: Bool { if case .guide = builds { return true }; return false }
}
