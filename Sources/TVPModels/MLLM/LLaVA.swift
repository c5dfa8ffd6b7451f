import Foundation
import TVPFormats
import TVPTensor

/// LLaVA (HF `LlavaForConditionalGeneration`) as a `ComposedMLLM`: CLIP vision tower tapped at
/// `vision_feature_layer` (class token dropped for the "default" strategy), `MLPProjector`, LLaMA.
///
/// Checkpoint names differ across transformers versions; small pure rules map all of them onto one
/// canonical layout (transformers 4.4x, as the released llava-hf checkpoints store it):
///
///     transformers 5 in memory    model.language_model.X   model.vision_tower.X   model.multi_modal_projector.X   lm_head.X
///     transformers 5.24 saved     language_model.model.X   vision_tower.X         multi_modal_projector.X         language_model.lm_head.X
///     canonical (4.4x, hub)       language_model.model.X   vision_tower.vision_model.X  multi_modal_projector.X   language_model.lm_head.X
///
/// (transformers 5 drops CLIPVisionModel's `vision_model.` level; the canonical form keeps it, so
/// the tower's names are HF CLIP names that `HuggingFaceCLIP.openAILayout` maps to `VisionTransformer`'s.)
/// The prompt's `<image>` placeholder is replaced by the T visual tokens, as HF's `masked_scatter`
/// over the expanded image tokens does (see `PromptTokens(ids:imageTokenID:)`).
public enum LLaVA {
    /// Prefix renames, tried in order; the first match wins.
    public static let prefixRules: [(from: String, to: String)] = [
        ("model.language_model.", "language_model.model."),
        ("model.vision_tower.", "vision_tower."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("lm_head.", "language_model.lm_head."),
    ]

    /// The canonical name of a checkpoint name (names no rule knows are returned unchanged, so
    /// `Weights.finish()` reports them).
    public static func canonicalName(_ name: String) -> String {
        var out = name
        if let rule = prefixRules.first(where: { name.hasPrefix($0.from) }) { out = rule.to + name.dropFirst(rule.from.count) }
        let tower = "vision_tower.", clip = "vision_tower.vision_model."
        if out.hasPrefix(tower) && !out.hasPrefix(clip) { out = clip + out.dropFirst(tower.count) }
        return out
    }

    /// Builds the model from tensors in any of the layouts above. Fails on a missing, misshapen or unused tensor.
    public static func model(config: LLaVAConfig, tensors: [String: Tensor], source: String, name: String = "llava",
                             tokenizer: (any Tokenizer)? = nil, template: PromptTemplate = .llava15,
                             normalization: ImageNormalization = .clip) throws -> ComposedMLLM {
        var canonical: [String: Tensor] = [:], clip: [String: Tensor] = [:]
        for (key, tensor) in tensors {
            let renamed = canonicalName(key)
            if renamed.hasPrefix("vision_tower.") { clip[String(renamed.dropFirst("vision_tower.".count))] = tensor }
            else { canonical[renamed] = tensor }
        }
        // HF CLIP names → OpenAI names ("visual.*"); names it does not know pass through to be reported.
        canonical.merge(try HuggingFaceCLIP.openAILayout(clip)) { a, _ in a }
        let weights = Weights(canonical, source: source)
        let tower = try VisionTransformer(weights: weights, prefix: "visual.", heads: config.visionHeads,
                                          activation: config.visionActivation, layerNormEps: config.visionLayerNormEps)
        let encoder = try CLIPVisionEncoder(tower: tower, layer: config.visionFeatureLayer, keepsClassToken: config.keepsClassToken,
                                            normalization: normalization)
        let projector = try MLPProjector(weights: weights, activation: config.projectorActivation)
        try require(projector.linear1.bias != nil || !config.projectorBias, "LLaVA",
                    "\(source): multimodal_projector_bias is true but multi_modal_projector.linear_1.bias is missing")
        let language = try LlamaModel(config: config.text, weights: weights, prefix: "language_model.")
        try weights.finish()
        return try ComposedMLLM(name: name, encoder: encoder, connector: projector, language: language, tokenizer: tokenizer,
                                template: template, normalization: normalization, imageTokenID: config.imageTokenID)
    }

    /// An HF LLaVA folder: `config.json`, `model.safetensors` or the shards of
    /// `model.safetensors.index.json`, optionally `preprocessor_config.json` (`image_mean`,
    /// `image_std`; CLIP's statistics otherwise) and `tokenizer.json` (no String API without it).
    public static func load(directory: String, name: String = "llava", template: PromptTemplate = .llava15) throws -> ComposedMLLM {
        let folder = URL(fileURLWithPath: directory)
        func path(_ file: String) -> String { folder.appendingPathComponent(file).path }
        let config = try LLaVAConfig(configJSON: path("config.json"))
        let tensors = try HuggingFaceFolder.tensors(directory)
        var normalization = ImageNormalization.clip
        if FileManager.default.fileExists(atPath: path("preprocessor_config.json")) {
            normalization = try preprocessorNormalization(path("preprocessor_config.json"))
        }
        let tokenizer = FileManager.default.fileExists(atPath: path("tokenizer.json")) ? try loadTokenizer(tokenizerJSON: path("tokenizer.json")) : nil
        return try model(config: config, tensors: tensors, source: directory, name: name, tokenizer: tokenizer,
                         template: template, normalization: normalization)
    }

    /// `image_mean` and `image_std` of an HF image processor config.
    public static func preprocessorNormalization(_ path: String) throws -> ImageNormalization {
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FormatError(path, "not a readable JSON object")
        }
        guard let mean = (json["image_mean"] as? [NSNumber])?.map(\.floatValue), let std = (json["image_std"] as? [NSNumber])?.map(\.floatValue),
              mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }) else {
            throw FormatError(path, "expected image_mean and image_std as 3 numbers each (std positive)")
        }
        return ImageNormalization(mean: mean, std: std)
    }
}
