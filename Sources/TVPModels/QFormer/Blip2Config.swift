import Foundation
import TVPFormats
import TVPTensor

/// The hyper-parameters of a BLIP-2 or InstructBLIP model (HF `Blip2Config` / `InstructBlipConfig`),
/// decoded from `config.json` with the keys spelled as there. transformers writes only the values
/// that differ from its defaults, so every key this model reads falls back to transformers' default.
///
/// Only LLaMA-family language models are supported (`text_config.model_type` "llama": InstructBLIP-Vicuna,
/// MiniGPT-4 / VPGTrans-style compositions). The released BLIP-2 checkpoints use OPT (learned absolute
/// positions, LayerNorm, ReLU) or Flan-T5 (an encoder-decoder); neither architecture exists in tvp,
/// so their configs are rejected with that reason rather than loaded into the wrong decoder.
public struct Blip2Config: Codable, Equatable, Sendable {
    /// The EVA/BLIP ViT (`vision_config`).
    public struct Vision: Codable, Equatable, Sendable {
        public var hiddenSize = 1408, intermediateSize = 6144, numHiddenLayers = 39, numAttentionHeads = 16
        public var imageSize = 224, patchSize = 14
        /// Only "gelu" (exact erf GELU) is supported.
        public var hiddenAct = "gelu"
        public var layerNormEps: Float = 1e-6
        /// Whether the fused qkv projection has a bias (query and value parts; the key part is zero).
        public var qkvBias = true

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
            case numAttentionHeads = "num_attention_heads", imageSize = "image_size", patchSize = "patch_size"
            case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", qkvBias = "qkv_bias"
        }

        public init(hiddenSize: Int = 1408, intermediateSize: Int = 6144, numHiddenLayers: Int = 39, numAttentionHeads: Int = 16,
                    imageSize: Int = 224, patchSize: Int = 14, layerNormEps: Float = 1e-6, qkvBias: Bool = true) {
            (self.hiddenSize, self.intermediateSize, self.numHiddenLayers, self.numAttentionHeads) =
                (hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads)
            (self.imageSize, self.patchSize, self.layerNormEps, self.qkvBias) = (imageSize, patchSize, layerNormEps, qkvBias)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Vision()
            hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
            intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
            numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
            numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
            imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
            patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
            hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
            layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
            qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? d.qkvBias
        }
    }

    /// The Q-Former (`qformer_config`), a BERT-like encoder over learned queries.
    public struct QFormer: Codable, Equatable, Sendable {
        public var hiddenSize = 768, numHiddenLayers = 12, numAttentionHeads = 12, intermediateSize = 3072
        /// Only "gelu" (exact erf GELU) is supported.
        public var hiddenAct = "gelu"
        public var layerNormEps: Float = 1e-12
        /// Rows of the instruction position table (InstructBLIP).
        public var maxPositionEmbeddings = 512
        /// Rows of the instruction word table (BERT WordPiece ids; InstructBLIP).
        public var vocabSize = 30522
        /// Layer i has cross-attention to the image features when i % frequency == 0.
        public var crossAttentionFrequency = 2
        /// Width of the image features (the vision tower's width; HF overwrites it with that too).
        public var encoderHiddenSize = 1408
        /// BLIP-2 only: whether layers carry text feed-forward weights (unused by generation).
        public var useQformerTextInput = false

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
            case intermediateSize = "intermediate_size", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
            case maxPositionEmbeddings = "max_position_embeddings", vocabSize = "vocab_size"
            case crossAttentionFrequency = "cross_attention_frequency", encoderHiddenSize = "encoder_hidden_size"
            case useQformerTextInput = "use_qformer_text_input"
        }

        public init(hiddenSize: Int = 768, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12, intermediateSize: Int = 3072,
                    layerNormEps: Float = 1e-12, maxPositionEmbeddings: Int = 512, vocabSize: Int = 30522,
                    crossAttentionFrequency: Int = 2, encoderHiddenSize: Int = 1408, useQformerTextInput: Bool = false) {
            (self.hiddenSize, self.numHiddenLayers, self.numAttentionHeads, self.intermediateSize) =
                (hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize)
            (self.layerNormEps, self.maxPositionEmbeddings, self.vocabSize) = (layerNormEps, maxPositionEmbeddings, vocabSize)
            (self.crossAttentionFrequency, self.encoderHiddenSize, self.useQformerTextInput) =
                (crossAttentionFrequency, encoderHiddenSize, useQformerTextInput)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = QFormer()
            hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
            numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
            numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
            intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
            hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
            layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
            maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
            vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
            crossAttentionFrequency = try c.decodeIfPresent(Int.self, forKey: .crossAttentionFrequency) ?? d.crossAttentionFrequency
            encoderHiddenSize = try c.decodeIfPresent(Int.self, forKey: .encoderHiddenSize) ?? d.encoderHiddenSize
            useQformerTextInput = try c.decodeIfPresent(Bool.self, forKey: .useQformerTextInput) ?? d.useQformerTextInput
        }
    }

    /// "blip-2" or "instructblip" (`model_type`): InstructBLIP's Q-Former also reads the instruction.
    public var modelType: String
    public var visionConfig: Vision
    public var qformerConfig: QFormer
    public var textConfig: LlamaConfig
    /// Q, the learned query tokens (= visual tokens handed to the LM).
    public var numQueryTokens: Int
    /// The placeholder id HF's processor repeats Q times before the text (tvp concatenates instead).
    public var imageTokenIndex: Int?

    /// Whether this is InstructBLIP (instruction-aware Q-Former).
    public var isInstructBLIP: Bool { modelType == "instructblip" }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", visionConfig = "vision_config", qformerConfig = "qformer_config"
        case textConfig = "text_config", numQueryTokens = "num_query_tokens", imageTokenIndex = "image_token_index"
    }

    private struct ModelType: Decodable { var modelType: String?; enum CodingKeys: String, CodingKey { case modelType = "model_type" } }

    public init(modelType: String = "blip-2", visionConfig: Vision, qformerConfig: QFormer, textConfig: LlamaConfig,
                numQueryTokens: Int = 32, imageTokenIndex: Int? = nil) {
        (self.modelType, self.visionConfig, self.qformerConfig, self.textConfig) = (modelType, visionConfig, qformerConfig, textConfig)
        (self.numQueryTokens, self.imageTokenIndex) = (numQueryTokens, imageTokenIndex)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "blip-2"
        guard ["blip-2", "instructblip"].contains(modelType) else {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c, debugDescription: "model_type '\(modelType)' is neither 'blip-2' nor 'instructblip'")
        }
        visionConfig = try c.decodeIfPresent(Vision.self, forKey: .visionConfig) ?? Vision()
        qformerConfig = try c.decodeIfPresent(QFormer.self, forKey: .qformerConfig) ?? QFormer()
        // HF's default language model is OPT; tvp implements LLaMA-family decoders only.
        let lm = try c.decodeIfPresent(ModelType.self, forKey: .textConfig)?.modelType ?? "opt"
        guard lm == "llama" else {
            throw DecodingError.dataCorruptedError(forKey: .textConfig, in: c, debugDescription:
                "text_config.model_type '\(lm)' is not supported: tvp implements LLaMA-family language models only "
                + "(InstructBLIP-Vicuna, MiniGPT-4-style); OPT and Flan-T5 decoders are not implemented")
        }
        textConfig = try c.decode(LlamaConfig.self, forKey: .textConfig)
        numQueryTokens = try c.decodeIfPresent(Int.self, forKey: .numQueryTokens) ?? 32
        imageTokenIndex = try c.decodeIfPresent(Int.self, forKey: .imageTokenIndex)
        // transformers' Blip2Config.__post_init__ sets the Q-Former's key width to the vision width.
        qformerConfig.encoderHiddenSize = visionConfig.hiddenSize
    }

    /// Reads `config.json`; errors name the file.
    public init(configJSON path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(path, "cannot read the BLIP-2 config: \(error.localizedDescription)")
        }
        do { self = try JSONDecoder().decode(Blip2Config.self, from: data) } catch let DecodingError.dataCorrupted(context) {
            throw FormatError(path, "not a usable BLIP-2 config.json: \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw FormatError(path, "BLIP-2 config lacks '\((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw FormatError(path, "BLIP-2 config value '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw FormatError(path, "BLIP-2 config is not valid JSON: \(error)")
        }
        do { try validate(source: path) } catch let error as TensorError { throw FormatError(path, error.message) }
    }

    /// Throws unless sizes are positive, widths split into heads, activations are exact GELU and
    /// the image is a whole number of patches.
    public func validate(source: String = "Blip2Config") throws {
        let op = "Blip2Config", v = visionConfig, q = qformerConfig
        for (name, value) in [("vision hidden_size", v.hiddenSize), ("vision intermediate_size", v.intermediateSize),
                              ("vision num_attention_heads", v.numAttentionHeads), ("patch_size", v.patchSize),
                              ("qformer hidden_size", q.hiddenSize), ("qformer intermediate_size", q.intermediateSize),
                              ("qformer num_attention_heads", q.numAttentionHeads), ("cross_attention_frequency", q.crossAttentionFrequency),
                              ("qformer max_position_embeddings", q.maxPositionEmbeddings), ("qformer vocab_size", q.vocabSize),
                              ("num_query_tokens", numQueryTokens)] {
            try require(value > 0, op, "\(source): \(name) must be positive, got \(value)")
        }
        try require(v.numHiddenLayers >= 0 && q.numHiddenLayers >= 0, op, "\(source): layer counts must not be negative")
        try require(v.imageSize > 0 && v.imageSize % v.patchSize == 0, op, "\(source): image_size \(v.imageSize) is not a multiple of patch_size \(v.patchSize)")
        try require(v.hiddenSize % v.numAttentionHeads == 0, op, "\(source): vision hidden_size \(v.hiddenSize) does not split into \(v.numAttentionHeads) heads")
        try require(q.hiddenSize % q.numAttentionHeads == 0, op, "\(source): qformer hidden_size \(q.hiddenSize) does not split into \(q.numAttentionHeads) heads")
        try require(v.hiddenAct == "gelu" && q.hiddenAct == "gelu", op,
                    "\(source): hidden_act '\(v.hiddenAct)' / '\(q.hiddenAct)' is not supported (only \"gelu\", the exact erf GELU)")
        try textConfig.validate(source: source)
    }
}
