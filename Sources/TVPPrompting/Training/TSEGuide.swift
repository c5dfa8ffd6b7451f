import TVPModels
import TVPTensor

/// The CLIP-style model that scores prompted images against class captions for Task Semantics
/// Enrichment (the official code uses OpenAI CLIP ViT-B/32).
public protocol TSEGuide: AnyObject {
    /// The side of the square pixel images `imageFeatures` takes.
    var inputSize: Int { get }
    /// The log of the similarity scale as CLIP stores it (`logit_scale`); the score uses
    /// min(exp(logitScale), 100).
    var logitScale: Float { get }
    /// Image features [B, E] (not normalized) of pixel images [B, 3, S, S]; the guide applies its
    /// own normalization. Differentiable with respect to the images.
    func imageFeatures(_ images: Tensor) throws -> Tensor
    /// Text features [T, E] (not normalized) of T captions; constants for training.
    func textFeatures(_ captions: [String]) throws -> Tensor
}

/// A `CLIPModel` as the TSE guide: CLIP normalization, then `encodeImage`; captions tokenized and
/// padded to one length, then `encodeText`. Text features are cached per caption, so each class's
/// caption is encoded once.
public final class CLIPGuide: TSEGuide {
    public let model: CLIPModel
    public let normalization: ImageNormalization
    private let tokenize: ([String]) throws -> [[Int]]
    private var cache: [String: Tensor] = [:]

    /// A guide with its own tokenization (rows may differ in length; they are right-padded with 0,
    /// which the causal text tower never attends to from the pooled end-of-text position).
    public init(model: CLIPModel, normalization: ImageNormalization = .clip, tokenize: @escaping ([String]) throws -> [[Int]]) {
        self.model = model
        self.normalization = normalization
        self.tokenize = tokenize
    }

    /// A guide with CLIP's BPE tokenizer (`clip.tokenize`: start and end tokens, 77-token rows).
    public convenience init(model: CLIPModel, tokenizer: CLIPTokenizer, normalization: ImageNormalization = .clip) {
        let context = model.text.config.contextLength
        self.init(model: model, normalization: normalization) { tokenizer.tokenize($0, contextLength: context) }
    }

    public var inputSize: Int { model.visual.config.imageSize }
    public var logitScale: Float { model.logitScale }

    public func imageFeatures(_ images: Tensor) throws -> Tensor {
        try model.encodeImage(normalization(images))
    }

    public func textFeatures(_ captions: [String]) throws -> Tensor {
        let missing = Array(Set(captions.filter { cache[$0] == nil })).sorted()
        if !missing.isEmpty {
            var rows = try tokenize(missing)
            try require(rows.count == missing.count, "CLIPGuide", "the tokenizer returned \(rows.count) rows for \(missing.count) captions")
            let longest = rows.map(\.count).max() ?? 0
            rows = rows.map { $0 + Array(repeating: 0, count: longest - $0.count) }
            let features = try withoutGrad { try model.encodeText(rows) }
            for (i, caption) in missing.enumerated() { cache[caption] = try select(features, axis: 0, index: i) }
        }
        return try concat(captions.map { try cache[$0]!.reshaped([1, -1]) }, axis: 0)
    }
}
