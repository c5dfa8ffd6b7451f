import Foundation
import TVPTensor

/// BLIP-2 / InstructBLIP with a LLaMA-family language model (HF `Blip2ForConditionalGeneration`,
/// `InstructBlipForConditionalGeneration`), frozen, in the checkpoint's own tensor names:
///
///     features = vision_model(normalize(image))                           [B, Ni, Dv]
///     queries  = qformer(query_tokens, features [, instruction ids])     [B, Q, Dq]
///     visual   = language_projection(queries)                             [B, Q, D]   (the LLM-input visual tokens)
///     LM input = [visual ‖ embed(prompt ids) ‖ embed(answer ids)]        (HF's Q image placeholders, then text)
///
/// InstructBLIP's Q-Former also reads the instruction (the prompt, BERT WordPiece ids with [CLS] … [SEP]).
/// Only LLaMA-family decoders are implemented (see `Blip2Config`): InstructBLIP-Vicuna and
/// MiniGPT-4 / VPGTrans-style compositions, not the OPT or Flan-T5 BLIP-2 releases.
///
/// Token-id methods take `promptIDs` as the LM sees them (BOS included), answers and candidates
/// without specials; the `MultimodalModel` string methods tokenize with `tokenizer` (and
/// `instructionTokenizer` for InstructBLIP) and call them.
public final class Blip2Model: MultimodalModel {
    /// How `loss` averages the answer tokens' cross-entropy.
    public enum AnswerLossReduction: Sendable {
        /// The mean over every answer token of the batch: HF `labels=` loss (LAVIS trains with it).
        case meanOverTokens
        /// The mean over the batch of each answer's mean token loss (`MultimodalModel.loss`).
        case meanOverAnswers
    }

    public let name: String
    public let config: Blip2Config
    public let vision: Blip2VisionTransformer
    /// query_tokens [1, Q, Dq].
    public let queryTokens: Tensor
    public let qformer: QFormer
    /// language_projection: weight [D, Dq], bias [D].
    public let languageProjection: QFormer.Dense
    public let languageModel: LlamaModel
    /// The LM tokenizer the string methods use (prompts with specials, answers and candidates without).
    public var tokenizer: (any Tokenizer)?
    /// InstructBLIP's Q-Former tokenizer (BERT WordPiece, `[CLS] … [SEP]`).
    public var instructionTokenizer: (any Tokenizer)?
    /// Whether the string `loss` appends the tokenizer's EOS to each answer (LAVIS training does).
    public var appendEOSToAnswers = false
    /// BLIP-2's image processor: OpenAI CLIP statistics.
    public let normalization = ImageNormalization.clip

    public var inputSize: Int { config.visionConfig.imageSize }
    public var isInstructBLIP: Bool { qformer.acceptsInstruction }

    /// Takes every tensor from `weights` with shape checks: `vision_model.*`, `query_tokens`,
    /// `qformer.*`, `language_projection.*`, `language_model.*`. Does not call `weights.finish()`.
    public init(config: Blip2Config, weights w: Weights, name: String? = nil,
                tokenizer: (any Tokenizer)? = nil, instructionTokenizer: (any Tokenizer)? = nil) throws {
        try config.validate(source: w.source)
        var qc = config.qformerConfig
        qc.encoderHiddenSize = config.visionConfig.hiddenSize
        self.config = config
        self.name = name ?? (config.isInstructBLIP ? "instructblip" : "blip2")
        vision = try Blip2VisionTransformer(config: config.visionConfig, weights: w)
        queryTokens = try w.take("query_tokens", shape: [1, config.numQueryTokens, qc.hiddenSize])
        qformer = try QFormer(config: qc, weights: w, instruction: config.isInstructBLIP)
        let d = config.textConfig.hiddenSize
        languageProjection = QFormer.Dense(weight: try w.take("language_projection.weight", shape: [d, qc.hiddenSize]),
                                           bias: try w.take("language_projection.bias", shape: [d]))
        languageModel = try LlamaModel(config: config.textConfig, weights: w, prefix: "language_model.")
        self.tokenizer = tokenizer
        self.instructionTokenizer = instructionTokenizer
    }

    /// A Hugging Face model folder: `config.json` plus `model.safetensors` or the shards listed in
    /// `model.safetensors.index.json`. Integer index buffers (`…position_ids`) are skipped; fails
    /// on any other unused tensor.
    public static func load(directory: String, tokenizer: (any Tokenizer)? = nil,
                            instructionTokenizer: (any Tokenizer)? = nil) throws -> Blip2Model {
        let folder = URL(fileURLWithPath: directory)
        let config = try Blip2Config(configJSON: folder.appendingPathComponent("config.json").path)
        let tensors = try HuggingFaceFolder.tensors(directory)
        let weights = Weights(tensors, source: directory)
        let model = try Blip2Model(config: config, weights: weights, tokenizer: tokenizer, instructionTokenizer: instructionTokenizer)
        try weights.finish()
        return model
    }

    // MARK: image → visual tokens

    /// The vision tower's features [B, Ni, Dv] for pixel images [B, 3, S, S] (normalized inside).
    public func imageFeatures(images: Tensor) throws -> Tensor {
        try vision(normalization(images))
    }

    /// The Q-Former's query outputs [B, Q, Dq]. `instructionIDs` (InstructBLIP only): one row of
    /// Q-Former token ids per image, [CLS] … [SEP] included, any lengths (right-padded inside).
    public func queryOutputs(images: Tensor, instructionIDs: [[Int]]? = nil) throws -> Tensor {
        let instruction = try instructionIDs.map { rows -> BERTBatch in
            try require(rows.count == images.dim(0), "Blip2Model", "\(rows.count) instruction rows for \(images.dim(0)) images")
            return try BERTBatch(sequences: rows.map { $0.map { Int32(truncatingIfNeeded: $0) } })
        }
        if let rows = instructionIDs, let bad = rows.joined().first(where: { $0 < 0 || $0 >= qformer.config.vocabSize }) {
            throw TensorError("Blip2Model", "instruction token \(bad) is outside the Q-Former vocabulary 0..<\(qformer.config.vocabSize)")
        }
        return try qformer(queries: queryTokens, imageFeatures: imageFeatures(images: images), instruction: instruction)
    }

    /// The LLM-input visual tokens [B, Q, D] = language_projection(query outputs).
    public func visualTokens(images: Tensor, instructionIDs: [[Int]]?) throws -> Tensor {
        try languageProjection(queryOutputs(images: images, instructionIDs: instructionIDs))
    }

    /// The LLM-input visual tokens [B, Q, D]. InstructBLIP's Q-Former runs without an instruction
    /// here (the protocol passes no prompt); use `visualTokens(images:instructionIDs:)` for the
    /// instruction-conditioned tokens.
    public func visualTokens(images: Tensor) throws -> Tensor {
        try visualTokens(images: images, instructionIDs: nil)
    }
}
