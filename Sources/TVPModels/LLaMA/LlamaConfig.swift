import Foundation
import TVPFormats
import TVPTensor

/// Hyper-parameters of a LLaMA-family causal decoder (LLaMA 1/2, SmolLM, TinyLlama, Vicuna, ...):
/// pre-norm RMSNorm blocks, rotary positions, grouped-query attention, SwiGLU MLP, no biases.
///
/// Reads Hugging Face `config.json` (`Codable`, explicit coding keys; both the transformers 4
/// `rope_theta` and the transformers 5 `rope_parameters.rope_theta` layouts), GGUF `llama.*`
/// metadata, or infers what the weight shapes tell. Configurations this model does not implement
/// (rope scaling, attention or MLP biases, activations other than SiLU) are rejected when decoded.
public struct LlamaConfig: Codable, Equatable, Sendable {
    /// D, the residual width.
    public var hiddenSize: Int
    /// The SwiGLU MLP's inner width.
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    /// H, query heads.
    public var numAttentionHeads: Int
    /// Hkv, key/value heads (H is a multiple of Hkv; equal means plain multi-head attention).
    public var numKeyValueHeads: Int
    /// Dh, the width of one head (usually D / H).
    public var headDim: Int
    public var rmsNormEps: Float
    /// RoPE base frequency.
    public var ropeTheta: Float
    /// V, the vocabulary size.
    public var vocabSize: Int
    /// Whether the LM head reuses the token embedding matrix (then `lm_head.weight` may be absent).
    public var tieWordEmbeddings: Bool
    public var maxPositionEmbeddings: Int

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int? = nil, headDim: Int? = nil, rmsNormEps: Float = 1e-5, ropeTheta: Float = 10000,
                vocabSize: Int, tieWordEmbeddings: Bool = false, maxPositionEmbeddings: Int = 2048) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? hiddenSize / max(numAttentionHeads, 1)
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.vocabSize = vocabSize
        self.tieWordEmbeddings = tieWordEmbeddings
        self.maxPositionEmbeddings = maxPositionEmbeddings
    }

    /// SmolLM2-135M(-Instruct): 30 layers, width 576, 9 heads, 3 KV heads, tied embeddings.
    public static let smolLM2_135M = LlamaConfig(hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
                                                 numAttentionHeads: 9, numKeyValueHeads: 3, rmsNormEps: 1e-5,
                                                 ropeTheta: 100000, vocabSize: 49152, tieWordEmbeddings: true,
                                                 maxPositionEmbeddings: 8192)

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", vocabSize = "vocab_size"
        case tieWordEmbeddings = "tie_word_embeddings", maxPositionEmbeddings = "max_position_embeddings"
        case ropeParameters = "rope_parameters", ropeScaling = "rope_scaling", hiddenAct = "hidden_act"
        case attentionBias = "attention_bias", mlpBias = "mlp_bias"
    }

    /// transformers 5 `rope_parameters` / transformers 4 `rope_scaling`.
    private struct RopeParameters: Codable {
        var ropeTheta: Float?
        var ropeType: String?
        var type: String?
        enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta", ropeType = "rope_type", type }
    }

    /// Decodes HF `config.json`; missing optional fields take `LlamaConfig()`'s defaults in
    /// transformers (kv heads = heads, head_dim = D / H, eps 1e-6, theta 10000, untied, 2048 positions).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numAttentionHeads, 1)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? parameters?.ropeTheta ?? 10000
        for p in [parameters, scaling].compactMap({ $0 }) {
            let kind = p.ropeType ?? p.type ?? "default"
            guard kind == "default" else {
                throw DecodingError.dataCorruptedError(forKey: .ropeParameters, in: c,
                    debugDescription: "rope type '\(kind)' is not supported (only the default, unscaled RoPE)")
            }
        }
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw DecodingError.dataCorruptedError(forKey: .hiddenAct, in: c, debugDescription: "hidden_act '\(act)' is not supported (only silu)")
        }
        for key in [CodingKeys.attentionBias, .mlpBias] where try c.decodeIfPresent(Bool.self, forKey: key) == true {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.rawValue) = true is not supported (LLaMA has no biases)")
        }
    }

    /// Encodes the HF keys (with `rope_theta` at the top level, which both transformers 4 and 5 read).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode("silu", forKey: .hiddenAct)
    }

    /// Reads a Hugging Face `config.json`.
    public init(configJSON path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(path, "cannot read the config: \(error.localizedDescription)")
        }
        do { self = try JSONDecoder().decode(LlamaConfig.self, from: data) } catch let error as DecodingError {
            throw FormatError(path, "not a usable LLaMA config.json: \(Self.explain(error))")
        }
        try validate(source: path)
    }

    /// Reads `<arch>.*` GGUF metadata (`general.architecture` must be "llama"). The vocabulary size
    /// falls back to `token_embd.weight`'s rows, head width to `attention.key_length`, then
    /// `rope.dimension_count`, then D / H; tied embeddings mean `output.weight` is absent.
    public init(gguf file: GGUFFile) throws {
        let arch = file.metadata["general.architecture"]?.string ?? "(missing)"
        guard arch == "llama" else { throw FormatError(file.path, "general.architecture is '\(arch)', expected 'llama'") }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata["llama." + key]?.int else { throw FormatError(file.path, "metadata 'llama.\(key)' (an integer) is missing") }
            return v
        }
        func optionalInt(_ key: String) -> Int? { file.metadata["llama." + key]?.int }
        let width = try int("embedding_length"), heads = try int("attention.head_count")
        guard let eps = file.metadata["llama.attention.layer_norm_rms_epsilon"]?.double else {
            throw FormatError(file.path, "metadata 'llama.attention.layer_norm_rms_epsilon' is missing")
        }
        if let scaling = file.metadata["llama.rope.scaling.type"]?.string, scaling != "none" {
            throw FormatError(file.path, "llama.rope.scaling.type '\(scaling)' is not supported (only unscaled RoPE)")
        }
        guard let vocab = optionalInt("vocab_size") ?? file.info("token_embd.weight")?.shape.first else {
            throw FormatError(file.path, "neither 'llama.vocab_size' nor 'token_embd.weight' tells the vocabulary size")
        }
        self.init(hiddenSize: width, intermediateSize: try int("feed_forward_length"), numHiddenLayers: try int("block_count"),
                  numAttentionHeads: heads, numKeyValueHeads: optionalInt("attention.head_count_kv") ?? heads,
                  headDim: optionalInt("attention.key_length") ?? optionalInt("rope.dimension_count") ?? width / max(heads, 1),
                  rmsNormEps: Float(eps), ropeTheta: Float(file.metadata["llama.rope.freq_base"]?.double ?? 10000),
                  vocabSize: vocab, tieWordEmbeddings: file.info("output.weight") == nil,
                  maxPositionEmbeddings: optionalInt("context_length") ?? 2048)
        try validate(source: file.path)
    }

    /// Infers everything the HF-named weights' shapes tell (width, vocabulary, layers, MLP width,
    /// head counts from `headDim`, tying from whether `lm_head.weight` exists). What shapes cannot
    /// tell (head width, eps, theta, context) comes from the arguments.
    public init(inferringFrom w: Weights, prefix p: String = "", headDim: Int, rmsNormEps: Float,
                ropeTheta: Float = 10000, maxPositionEmbeddings: Int = 2048) throws {
        let op = "LlamaConfig"
        let embed = try w.take(p + "model.embed_tokens.weight", shape: [-1, -1])
        var layers = 0
        while w.contains(p + "model.layers.\(layers).input_layernorm.weight") { layers += 1 }
        try require(layers > 0, op, "\(w.source): no 'model.layers.0.input_layernorm.weight' to count layers from")
        let q = try w.take(p + "model.layers.0.self_attn.q_proj.weight", shape: [-1, embed.dim(1)])
        let k = try w.take(p + "model.layers.0.self_attn.k_proj.weight", shape: [-1, embed.dim(1)])
        let gate = try w.take(p + "model.layers.0.mlp.gate_proj.weight", shape: [-1, embed.dim(1)])
        try require(headDim > 0 && q.dim(0) % headDim == 0 && k.dim(0) % headDim == 0, op,
                    "\(w.source): q_proj \(describe(q.shape)) and k_proj \(describe(k.shape)) do not split into heads of width \(headDim)")
        self.init(hiddenSize: embed.dim(1), intermediateSize: gate.dim(0), numHiddenLayers: layers,
                  numAttentionHeads: q.dim(0) / headDim, numKeyValueHeads: k.dim(0) / headDim, headDim: headDim,
                  rmsNormEps: rmsNormEps, ropeTheta: ropeTheta, vocabSize: embed.dim(0),
                  tieWordEmbeddings: !w.contains(p + "lm_head.weight"), maxPositionEmbeddings: maxPositionEmbeddings)
        try validate(source: w.source)
    }

    /// Throws a `TensorError` naming `source` if the numbers cannot describe a LLaMA model.
    public func validate(source: String = "LlamaConfig") throws {
        let op = "LlamaConfig"
        try require(hiddenSize > 0 && intermediateSize > 0 && numHiddenLayers >= 0 && vocabSize > 0, op,
                    "\(source): sizes must be positive (hidden \(hiddenSize), intermediate \(intermediateSize), layers \(numHiddenLayers), vocab \(vocabSize))")
        try require(numAttentionHeads > 0 && numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, op,
                    "\(source): \(numAttentionHeads) query heads are not a positive multiple of \(numKeyValueHeads) key/value heads")
        try require(headDim > 0 && headDim % 2 == 0, op, "\(source): head width \(headDim) must be positive and even for RoPE")
        try require(rmsNormEps > 0 && ropeTheta > 0, op, "\(source): rms_norm_eps \(rmsNormEps) and rope_theta \(ropeTheta) must be positive")
    }

    private static func explain(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "'\(path)': ") + c.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
