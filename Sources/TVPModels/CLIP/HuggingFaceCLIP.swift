import Foundation
import TVPTensor

/// HF transformers' `CLIPModel` checkpoints mapped onto OpenAI's layout, so one `CLIPModel` serves
/// both. The mapping is a list of pure rename rules plus two layout changes: q/k/v projections are
/// concatenated into the fused `attn.in_proj_*` (rows q, then k, then v, as PyTorch's
/// `nn.MultiheadAttention` stores them), and the `[E, D]` Linear projections are transposed to
/// OpenAI's `[D, E]` matrices.
public enum HuggingFaceCLIP {
    /// Whole-name and prefix renames, tried in order; the first matching prefix wins.
    public static let prefixRules: [(hf: String, openAI: String)] = [
        ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"),
        ("vision_model.embeddings.class_embedding", "visual.class_embedding"),
        ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"),
        ("vision_model.pre_layrnorm.", "visual.ln_pre."),
        ("vision_model.post_layernorm.", "visual.ln_post."),
        ("vision_model.encoder.layers.", "visual.transformer.resblocks."),
        ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
        ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
        ("text_model.final_layer_norm.", "ln_final."),
        ("text_model.encoder.layers.", "transformer.resblocks."),
    ]

    /// Renames inside one encoder layer (after `layers.N.`). The `attn.[qkv]_proj.*` names are
    /// intermediate: `openAILayout` fuses them into `attn.in_proj_weight` / `attn.in_proj_bias`.
    public static let layerRules: [(hf: String, openAI: String)] = [
        ("self_attn.q_proj.", "attn.q_proj."),
        ("self_attn.k_proj.", "attn.k_proj."),
        ("self_attn.v_proj.", "attn.v_proj."),
        ("layer_norm1.", "ln_1."),
        ("layer_norm2.", "ln_2."),
        ("self_attn.out_proj.", "attn.out_proj."),
        ("mlp.fc1.", "mlp.c_fc."),
        ("mlp.fc2.", "mlp.c_proj."),
    ]

    /// HF names transposed into OpenAI's projection matrices.
    public static let transposedProjections: [(hf: String, openAI: String)] = [
        ("visual_projection.weight", "visual.proj"),
        ("text_projection.weight", "text_projection"),
    ]

    /// Buffers HF recomputes (`arange` position ids, saved by older transformers versions): dropped.
    public static let ignoredKeys: Set<String> = ["vision_model.embeddings.position_ids", "text_model.embeddings.position_ids"]

    /// The OpenAI name of one HF name, or nil when no rule applies (the transposed projections are
    /// handled by `openAILayout`). Layer renames apply only to names inside `encoder.layers.N.`.
    public static func rename(_ name: String) -> String? {
        guard let rule = prefixRules.first(where: { name.hasPrefix($0.hf) }) else { return nil }
        var rest = String(name.dropFirst(rule.hf.count))
        if rule.hf.hasSuffix("layers.") {
            guard let dot = rest.firstIndex(of: ".") else { return nil }
            let index = rest[..<dot], inner = String(rest[rest.index(after: dot)...])
            guard let layerRule = layerRules.first(where: { inner.hasPrefix($0.hf) }) else { return nil }
            rest = String(index) + "." + layerRule.openAI + String(inner.dropFirst(layerRule.hf.count))
        }
        return rule.openAI + rest
    }

    /// The OpenAI-layout tensors of an HF `CLIPModel` state dict. Names no rule knows pass through
    /// unchanged, so `Weights.finish()` reports them; a layer with only some of q/k/v throws.
    public static func openAILayout(_ tensors: [String: Tensor]) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        // Fused attention inputs: "<openAI layer prefix>in_proj_weight" → [q, k, v] parts.
        var fused: [String: [String: Tensor]] = [:]
        for (name, tensor) in tensors where !ignoredKeys.contains(name) {
            if let projection = transposedProjections.first(where: { $0.hf == name }) {
                try require(tensor.rank == 2, "HuggingFaceCLIP", "\(name) has shape \(describe(tensor.shape)), expected [E, D]")
                out[projection.openAI] = try tensor.transposed().copy()
                continue
            }
            guard let renamed = rename(name) else { out[name] = tensor; continue }
            // "….attn.q_proj.weight" → key "….attn.in_proj_weight", part "q".
            if let match = renamed.range(of: #"attn\.[qkv]_proj\.(weight|bias)$"#, options: .regularExpression) {
                let part = String(renamed[renamed.index(match.lowerBound, offsetBy: 5)])
                let key = String(renamed[..<match.lowerBound]) + "attn.in_proj_" + (renamed.hasSuffix("weight") ? "weight" : "bias")
                fused[key, default: [:]][part] = tensor
                continue
            }
            out[renamed] = tensor
        }
        for (key, parts) in fused {
            guard let q = parts["q"], let k = parts["k"], let v = parts["v"] else {
                throw TensorError("HuggingFaceCLIP", "\(key): needs q_proj, k_proj and v_proj, found only \(parts.keys.sorted().joined(separator: ", "))")
            }
            out[key] = try concat([q, k, v], axis: 0)
        }
        return out
    }
}

/// The parts of an HF CLIP `config.json` that the weights cannot tell (explicit coding keys).
public struct HuggingFaceCLIPConfig: Codable, Equatable, Sendable {
    public struct Tower: Codable, Equatable, Sendable {
        public var hiddenSize: Int
        public var numAttentionHeads: Int
        public var hiddenAct: String?
        public var layerNormEps: Float?
        /// Text tower only. 2 (the value in the original OpenAI conversions) keeps the legacy argmax pooling.
        public var eosTokenId: Int?

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
            case numAttentionHeads = "num_attention_heads"
            case hiddenAct = "hidden_act"
            case layerNormEps = "layer_norm_eps"
            case eosTokenId = "eos_token_id"
        }
    }

    public var textConfig: Tower
    public var visionConfig: Tower
    public var projectionDim: Int?

    enum CodingKeys: String, CodingKey {
        case textConfig = "text_config"
        case visionConfig = "vision_config"
        case projectionDim = "projection_dim"
    }

    /// Parses `config.json` text.
    public init(json: Data) throws {
        do {
            self = try JSONDecoder().decode(HuggingFaceCLIPConfig.self, from: json)
        } catch {
            throw TensorError("HuggingFaceCLIPConfig", "config.json is not an HF CLIP config: \(error)")
        }
    }

    /// The loading options this config asks for: heads, activations, pooling (as HF's
    /// `CLIPTextTransformer`: argmax of the ids when `eos_token_id` is 2 or absent, else the first
    /// position of that id) and the LayerNorm epsilon (HF's default 1e-5 when absent).
    public func options() throws -> CLIPModel.Options {
        func activation(_ name: String?, _ tower: String) throws -> CLIPActivation {
            guard let value = CLIPActivation(rawValue: name ?? "quick_gelu") else {
                throw TensorError("HuggingFaceCLIPConfig", "\(tower).hidden_act '\(name ?? "")' is not supported (quick_gelu or gelu)")
            }
            return value
        }
        let textEps = textConfig.layerNormEps ?? 1e-5, visionEps = visionConfig.layerNormEps ?? 1e-5
        try require(textEps == visionEps, "HuggingFaceCLIPConfig", "towers use different layer_norm_eps (\(textEps), \(visionEps))")
        var o = CLIPModel.Options(visionHeads: visionConfig.numAttentionHeads, textHeads: textConfig.numAttentionHeads,
                                  layerNormEps: textEps)
        o.visionActivation = try activation(visionConfig.hiddenAct, "vision_config")
        o.textActivation = try activation(textConfig.hiddenAct, "text_config")
        if let eos = textConfig.eosTokenId, eos != 2 { o.textPooling = .firstOccurrence(of: eos) }
        return o
    }
}
