import Foundation
import TVPFormats
import TVPTensor

/// What an HF `LlavaForConditionalGeneration` `config.json` says that the weights cannot tell.
///
/// Sub-configs keep transformers' defaults for missing keys (the released llava-hf configs list only
/// what differs from `LlamaConfig()` / `CLIPVisionConfig()`): text hidden 4096, MLP 11008, 32 layers,
/// 32 heads, vocabulary 32000; vision 12 heads, QuickGELU, LayerNorm eps 1e-5.
public struct LLaVAConfig: Equatable, Sendable {
    public var text: LlamaConfig
    /// The CLIP vision tower's attention heads, activation and LayerNorm epsilon (sizes come from shapes).
    public var visionHeads: Int
    public var visionActivation: CLIPActivation
    public var visionLayerNormEps: Float
    /// `image_token_index` (transformers 4) / `image_token_id`: the placeholder the visual tokens replace.
    public var imageTokenID: Int
    /// `vision_feature_layer` (a single layer; lists of layers are rejected).
    public var visionFeatureLayer: Int
    /// `vision_feature_select_strategy == "full"`: keep the class token ("default" drops it).
    public var keepsClassToken: Bool
    /// `projector_hidden_act`.
    public var projectorActivation: GELUApproximation
    /// `multimodal_projector_bias`.
    public var projectorBias: Bool

    /// Parses `config.json` bytes; `source` names the file in errors.
    public init(json data: Data, source: String) throws {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FormatError(source, "not a JSON object")
        }
        func fail(_ message: String) -> FormatError { FormatError(source, message) }
        if let type = root["model_type"] as? String, type != "llava" { throw fail("model_type is '\(type)', expected 'llava'") }
        // Text: LlamaConfig's own decoder over the sub-config with transformers' defaults filled in.
        var textJSON = root["text_config"] as? [String: Any] ?? [:]
        if let type = textJSON["model_type"] as? String, type != "llama" {
            throw fail("text_config.model_type is '\(type)'; only LLaMA language models are supported")
        }
        let textDefaults: [String: Any] = ["hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                                           "num_attention_heads": 32, "vocab_size": 32000]
        for (key, value) in textDefaults where textJSON[key] == nil || textJSON[key] is NSNull { textJSON[key] = value }
        do {
            text = try JSONDecoder().decode(LlamaConfig.self, from: JSONSerialization.data(withJSONObject: textJSON))
        } catch {
            throw fail("text_config is not a usable LLaMA config: \(error)")
        }
        // Vision: CLIP only.
        let vision = root["vision_config"] as? [String: Any] ?? [:]
        if let type = vision["model_type"] as? String, type != "clip_vision_model" {
            throw fail("vision_config.model_type is '\(type)'; only CLIP vision towers are supported")
        }
        visionHeads = vision["num_attention_heads"] as? Int ?? 12
        let act = vision["hidden_act"] as? String ?? "quick_gelu"
        guard let activation = CLIPActivation(rawValue: act) else { throw fail("vision_config.hidden_act '\(act)' is not supported (quick_gelu or gelu)") }
        visionActivation = activation
        visionLayerNormEps = (vision["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-5
        // Composition.
        guard let image = (root["image_token_index"] ?? root["image_token_id"]) as? Int else {
            throw fail("neither image_token_index nor image_token_id is an integer")
        }
        imageTokenID = image
        switch root["vision_feature_layer"] {
        case nil: visionFeatureLayer = -2
        case let layer as Int: visionFeatureLayer = layer
        default: throw fail("vision_feature_layer \(root["vision_feature_layer"]!) is not supported (one layer index only)")
        }
        switch root["vision_feature_select_strategy"] as? String ?? "default" {
        case "default": keepsClassToken = false
        case "full": keepsClassToken = true
        case let other: throw fail("vision_feature_select_strategy '\(other)' is not supported (default or full)")
        }
        switch root["projector_hidden_act"] as? String ?? "gelu" {
        case "gelu": projectorActivation = .none
        case "gelu_pytorch_tanh", "gelu_new": projectorActivation = .tanh
        case let other: throw fail("projector_hidden_act '\(other)' is not supported (gelu, gelu_pytorch_tanh)")
        }
        projectorBias = root["multimodal_projector_bias"] as? Bool ?? true
    }

    /// Reads `config.json` at `path`.
    public init(configJSON path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(path, "cannot read the config: \(error.localizedDescription)")
        }
        try self.init(json: data, source: path)
    }
}
