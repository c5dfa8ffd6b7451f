import TVPModels
import TVPPrompting

/// The `zoo` model family and the `zoo-guide` guide family of `PromptingBackend`: the embedded zoo
/// of small MLLMs (TVPPrompting's Zoo). This build does not contain the zoo yet, so both families
/// are registered (pipeline files naming them validate) and fail with one clear error when built.
enum ZooFamily {
    static let modelFamilies = ["zoo"]
    static let guideFamilies = ["zoo-guide"]
    /// The manifest assets the zoo reads besides its committed connector weights.
    static let requiredAssets: [String] = []

    static let unavailable = "zoo not available in this build: the embedded zoo (TVPPrompting's Zoo) is not compiled in; " +
        "use the llava, blip2 or instructblip families with downloaded weights"

    static func makeModel(_ build: ModelBuild) throws -> any MultimodalModel {
        throw PipelineError.stage("model", "model '\(build.name)': " + unavailable)
    }

    static func makeGuide(_ build: ModelBuild) throws -> any TSEGuide {
        throw PipelineError.stage("guide", "guide '\(build.name)': " + unavailable)
    }

    static func weightsHint(family: String) -> String { unavailable }
}
