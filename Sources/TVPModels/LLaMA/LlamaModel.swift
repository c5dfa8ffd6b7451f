import Foundation
import TVPTensor

/// A LLaMA-family causal decoder (Hugging Face `LlamaForCausalLM`), frozen, in the checkpoint's own
/// tensor names:
///
///     x = embed_tokens[ids]   (or input embeddings, e.g. text with visual tokens spliced in)
///     per layer:  x += o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))),  n = input_layernorm(x)
///                 x += down_proj(silu(gate_proj(n)) · up_proj(n)),                      n = post_attention_layernorm(x)
///     hidden = norm(x);   logits = hidden · lm_headᵀ   (only at the rows asked for)
///
/// Shapes: B batch, N tokens, D width, H query heads, Hkv key/value heads, Dh head width, V vocabulary.
/// Weights never require grad, so backward computes only input gradients (visual-prompt training
/// back-propagates through the frozen LM into its input embeddings); optional LoRA adapters
/// (`LlamaLoRA`, `adapted(_:)`) on the attention projections are the only weights that may train.
public struct LlamaModel: @unchecked Sendable {
    /// One decoder layer's weights (HF names in the comments; Linear weights are [out, in]).
    public struct Layer {
        public let inputLayerNorm: Tensor          // input_layernorm.weight [D]
        public let qProj, kProj, vProj, oProj: Tensor // self_attn.*_proj.weight [H·Dh, D], [Hkv·Dh, D] ×2, [D, H·Dh]
        public let postAttentionLayerNorm: Tensor  // post_attention_layernorm.weight [D]
        public let gateProj, upProj, downProj: Tensor // mlp.*_proj.weight [I, D] ×2, [D, I]
    }

    public let config: LlamaConfig
    /// model.embed_tokens.weight [V, D].
    public let embedTokens: Tensor
    public let layers: [Layer]
    /// model.norm.weight [D].
    public let norm: Tensor
    /// lm_head.weight [V, D]; the same tensor as `embedTokens` when the embeddings are tied.
    public let lmHead: Tensor
    /// Low-rank adapters on the attention projections (`adapted(_:)`); nil for the plain model.
    public internal(set) var lora: LlamaLoRA?

    /// Takes every tensor under `prefix` (e.g. "language_model." inside an MLLM checkpoint) with
    /// shape checks. `lm_head.weight` may be absent only when `config.tieWordEmbeddings`; when tied,
    /// a present `lm_head.weight` must equal the embeddings' shape and is marked used. Does not call
    /// `weights.finish()`, so one checkpoint can feed several modules; the loaders below do.
    public init(config: LlamaConfig, weights w: Weights, prefix p: String = "") throws {
        try config.validate(source: w.source)
        let c = config, d = c.hiddenSize, q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
        self.config = c
        embedTokens = try w.take(p + "model.embed_tokens.weight", shape: [c.vocabSize, d])
        norm = try w.take(p + "model.norm.weight", shape: [d])
        if c.tieWordEmbeddings {
            _ = try w.takeIfPresent(p + "lm_head.weight", shape: [c.vocabSize, d])
            lmHead = embedTokens
        } else {
            lmHead = try w.take(p + "lm_head.weight", shape: [c.vocabSize, d])
        }
        layers = try (0..<c.numHiddenLayers).map { i in
            let b = p + "model.layers.\(i)."
            return Layer(
                inputLayerNorm: try w.take(b + "input_layernorm.weight", shape: [d]),
                qProj: try w.take(b + "self_attn.q_proj.weight", shape: [q, d]),
                kProj: try w.take(b + "self_attn.k_proj.weight", shape: [kv, d]),
                vProj: try w.take(b + "self_attn.v_proj.weight", shape: [kv, d]),
                oProj: try w.take(b + "self_attn.o_proj.weight", shape: [d, q]),
                postAttentionLayerNorm: try w.take(b + "post_attention_layernorm.weight", shape: [d]),
                gateProj: try w.take(b + "mlp.gate_proj.weight", shape: [c.intermediateSize, d]),
                upProj: try w.take(b + "mlp.up_proj.weight", shape: [c.intermediateSize, d]),
                downProj: try w.take(b + "mlp.down_proj.weight", shape: [d, c.intermediateSize]))
        }
        w.ignore { $0.hasPrefix(p) && $0.hasSuffix("self_attn.rotary_emb.inv_freq") }  // a buffer old checkpoints carry
    }

    /// A Hugging Face model folder: `config.json` plus `model.safetensors` or the shards listed in
    /// `model.safetensors.index.json`. Fails on any unused tensor.
    public static func load(directory: String) throws -> LlamaModel {
        let folder = URL(fileURLWithPath: directory)
        let config = try LlamaConfig(configJSON: folder.appendingPathComponent("config.json").path)
        let tensors = try HuggingFaceFolder.tensors(directory)
        let weights = Weights(tensors, source: directory)
        let model = try LlamaModel(config: config, weights: weights)
        try weights.finish()
        return model
    }

    /// A llama.cpp GGUF file: config from `llama.*` metadata, tensors dequantized to Float32, names
    /// and q/k row order mapped back to Hugging Face (see `LlamaGGUF`). Fails on any unused tensor.
    public init(gguf file: GGUFFile) throws {
        let config = try LlamaConfig(gguf: file)
        let weights = try LlamaGGUF.weights(file, config: config)
        try self.init(config: config, weights: weights)
        try weights.finish()
    }

    /// Random weights in HF names (for tests and benchmarks): N(0, std²) matrices, norms near 1.
    public static func randomWeights(_ c: LlamaConfig, seed: UInt64, std: Float = 0.1) -> [String: Tensor] {
        var counter = seed
        func randn(_ shape: [Int], _ s: Float = std, mean: Float = 0) -> Tensor { counter &+= 1; return Tensor.randn(shape, std: s, mean: mean, seed: counter) }
        let d = c.hiddenSize, q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim, i = c.intermediateSize
        var w: [String: Tensor] = ["model.embed_tokens.weight": randn([c.vocabSize, d], 1), "model.norm.weight": randn([d], 0.1, mean: 1)]
        if !c.tieWordEmbeddings { w["lm_head.weight"] = randn([c.vocabSize, d]) }
        for l in 0..<c.numHiddenLayers {
            let b = "model.layers.\(l)."
            w[b + "input_layernorm.weight"] = randn([d], 0.1, mean: 1)
            w[b + "post_attention_layernorm.weight"] = randn([d], 0.1, mean: 1)
            w[b + "self_attn.q_proj.weight"] = randn([q, d]); w[b + "self_attn.k_proj.weight"] = randn([kv, d])
            w[b + "self_attn.v_proj.weight"] = randn([kv, d]); w[b + "self_attn.o_proj.weight"] = randn([d, q])
            w[b + "mlp.gate_proj.weight"] = randn([i, d]); w[b + "mlp.up_proj.weight"] = randn([i, d])
            w[b + "mlp.down_proj.weight"] = randn([d, i])
        }
        return w
    }

    /// Token embeddings [B, N, D] for B rows of N ids each (rows must have equal lengths).
    public func embed(_ tokens: [[Int]]) throws -> Tensor {
        let n = tokens.first?.count ?? 0
        try require(!tokens.isEmpty && tokens.allSatisfy { $0.count == n }, "LlamaModel.embed",
                    "needs B ≥ 1 rows of equal length, got lengths \(tokens.map(\.count))")
        return try embedding(ids: tokens.flatMap { $0 }, shape: [tokens.count, n], table: embedTokens)
    }

    /// Multiply-adds ×2 per token of the decoder layers at context length `context` (no LM head).
    public func flopsPerToken(context: Int) -> Double {
        let c = config, d = Double(c.hiddenSize), q = Double(c.numAttentionHeads * c.headDim)
        let kv = Double(c.numKeyValueHeads * c.headDim), i = Double(c.intermediateSize)
        let perLayer = 2 * (d * q * 2 + d * kv * 2 + 3 * d * i) + 4 * q * Double(context)
        return Double(c.numHiddenLayers) * perLayer
    }
}
