import Foundation
import TVPTensor

/// A whole CLIP: image tower, text tower and the learned temperature, loaded from OpenAI's
/// state-dict layout (`visual.*`, `token_embedding.weight`, …, `logit_scale`, as written by
/// openai/CLIP and open_clip). HF `CLIPModel` checkpoints load into the same model through
/// `init(huggingFace:source:options:)`, which only renames (see `HuggingFaceCLIP`).
///
/// Shapes: image [B, 3, S, S] → [B, E]; token ids [T][N] → [T, E]; logits per image [B, T].
public struct CLIPModel {
    /// What the weight shapes cannot say.
    public struct Options: Equatable, Sendable {
        /// Attention heads of each tower; nil means width / 64 (openai/CLIP's `build_model` rule).
        public var visionHeads: Int?, textHeads: Int?
        public var visionActivation: CLIPActivation, textActivation: CLIPActivation
        public var textPooling: CLIPTextPooling
        public var layerNormEps: Float

        public init(visionHeads: Int? = nil, textHeads: Int? = nil, activation: CLIPActivation = .quickGELU,
                    textPooling: CLIPTextPooling = .argmax, layerNormEps: Float = 1e-5) {
            self.visionHeads = visionHeads
            self.textHeads = textHeads
            self.visionActivation = activation
            self.textActivation = activation
            self.textPooling = textPooling
            self.layerNormEps = layerNormEps
        }
    }

    public let visual: VisionTransformer
    public let text: TextTransformer
    /// log of the logit scale, as stored (`logit_scale`); logits use exp of it.
    public let logitScale: Float

    /// Names in OpenAI's full-model checkpoints that are metadata, not weights (openai/CLIP's
    /// `build_model` deletes them too).
    public static let metadataKeys: Set<String> = ["input_resolution", "context_length", "vocab_size"]

    /// Loads every tensor of `weights` (OpenAI layout) and fails on any tensor left unused.
    public init(weights w: Weights, options o: Options = Options()) throws {
        w.ignore { CLIPModel.metadataKeys.contains($0) }
        visual = try VisionTransformer(weights: w, prefix: "visual.", heads: o.visionHeads, activation: o.visionActivation,
                                       layerNormEps: o.layerNormEps)
        text = try TextTransformer(weights: w, prefix: "", heads: o.textHeads, activation: o.textActivation,
                                   pooling: o.textPooling, layerNormEps: o.layerNormEps)
        try require(visual.proj != nil, "CLIPModel", "\(w.source): missing tensor 'visual.proj' (the image projection)")
        let scale = try w.take("logit_scale")
        try require(scale.count == 1, "CLIPModel", "\(w.source): logit_scale has shape \(describe(scale.shape)), expected one value")
        logitScale = scale.item
        try require(visual.config.outputDim == text.config.outputDim, "CLIPModel",
                    "\(w.source): image embedding width \(visual.config.outputDim) (visual.proj) differs from text embedding width \(text.config.outputDim) (text_projection)")
        try w.finish()
    }

    /// Loads an HF `CLIPModel` state dict (`vision_model.*`, `text_model.*`, `visual_projection.weight`,
    /// `text_projection.weight`, `logit_scale`) by renaming it to OpenAI's layout.
    public init(huggingFace tensors: [String: Tensor], source: String, options: Options = Options()) throws {
        try self.init(weights: Weights(HuggingFaceCLIP.openAILayout(tensors), source: source), options: options)
    }

    /// exp(logit_scale): 100 for the released OpenAI models.
    public var scale: Float { Foundation.exp(logitScale) }

    /// Image embeddings [B, E]; L2-normalized along E when `normalize`.
    public func encodeImage(_ image: Tensor, normalize: Bool = false) throws -> Tensor {
        let features = try visual(image)
        return normalize ? try TVPTensor.normalize(features, axis: -1) : features
    }

    /// Text embeddings [T, E] for token ids [T][N] (equal lengths, N ≤ context length, end-of-text
    /// token where `textPooling` looks for it); L2-normalized along E when `normalize`.
    public func encodeText(_ ids: [[Int]], normalize: Bool = false) throws -> Tensor {
        let features = try text(ids)
        return normalize ? try TVPTensor.normalize(features, axis: -1) : features
    }

    /// logits_per_image [B, T] = exp(logit_scale) · normalize(image) · normalize(text)ᵀ from raw
    /// (unnormalized) features [B, E] and [T, E]. logits_per_text is its transpose. The scale is a
    /// constant here (a frozen model); gradients flow into both feature tensors.
    public func logits(imageFeatures: Tensor, textFeatures: Tensor) throws -> Tensor {
        let op = "CLIPModel.logits"
        try require(imageFeatures.rank == 2 && textFeatures.rank == 2 && imageFeatures.dim(1) == textFeatures.dim(1), op,
                    "needs image features [B, E] and text features [T, E], got \(describe(imageFeatures.shape)) and \(describe(textFeatures.shape))")
        let image = try TVPTensor.normalize(imageFeatures, axis: -1), text = try TVPTensor.normalize(textFeatures, axis: -1)
        return try matmul(image, text, transB: true, alpha: scale)
    }

    /// logits_per_image [B, T] for images [B, 3, S, S] against token ids [T][N].
    public func logits(image: Tensor, text ids: [[Int]]) throws -> Tensor {
        try logits(imageFeatures: encodeImage(image), textFeatures: encodeText(ids))
    }
}
