import TVPTensor

/// How `ComposedMLLM.loss` averages the answer tokens' cross-entropy.
public enum AnswerLossAveraging: Sendable, Equatable {
    /// The mean over every answer token of the batch, so longer answers weigh more: HF
    /// `*ForCausalLM(labels=…)` with −100 on every non-answer position, which the official
    /// MiniGPT-4 / TVP training code calls (`targets` masked with −100, `outputs.loss`). The default.
    case allAnswerTokens
    /// The mean over samples of each sample's mean answer-token cross-entropy.
    case perSample
}

/// A LLaVA-style MLLM composed of parts:
///
///     pixels [B, 3, S, S] → normalization → vision encoder [B, T, C] → connector [B, T', D]
///     LLM input per sample: [BOS] before-image text ‖ T' visual tokens ‖ after-image text ‖ answer
///
/// The encoder and the language model are frozen (no weight gradients); the connector's weights
/// get gradients only when the caller marks them trainable. Everything is differentiable w.r.t.
/// the pixels. The String API tokenizes with `tokenizer` and `template`; the token-id API
/// (`loss(images:promptTokens:answerTokens:)`, …) needs neither.
public final class ComposedMLLM: MultimodalModel {
    /// The connector's values (the trained part of a composed MLLM).
    public var adapterValueCount: Int? { connector.parameterCount }
    public let name: String
    public let encoder: any VisionEncoder
    public let connector: any Connector
    public let language: LlamaModel
    /// Needed by the String API only.
    public let tokenizer: (any Tokenizer)?
    public var template: PromptTemplate
    public let normalization: ImageNormalization
    public var lossAveraging: AnswerLossAveraging = .allAnswerTokens
    /// The id that fills padded positions of a right-padded batch (masked out, never scored).
    public var paddingTokenID: Int
    /// The image placeholder id of HF-style input ids (LLaVA's `image_token_index`), if known.
    public var imageTokenID: Int?

    /// Throws when the widths do not chain (encoder C = connector input, connector output = LM D)
    /// or the normalization is not per-channel over 3 channels.
    public init(name: String, encoder: any VisionEncoder, connector: any Connector, language: LlamaModel,
                tokenizer: (any Tokenizer)? = nil, template: PromptTemplate = .smolLM2Chat,
                normalization: ImageNormalization? = nil, imageTokenID: Int? = nil) throws {
        let op = "ComposedMLLM"
        try require(connector.inputWidth == encoder.featureWidth, op,
                    "\(name): the connector takes width \(connector.inputWidth), the vision encoder gives \(encoder.featureWidth)")
        try require(connector.outputWidth == language.config.hiddenSize, op,
                    "\(name): the connector makes width \(connector.outputWidth), the language model takes \(language.config.hiddenSize)")
        _ = try connector.outputTokenCount(inputTokens: encoder.tokenCount)
        let norm = normalization ?? encoder.normalization
        try require(norm.mean.count == 3 && norm.std.count == 3, op, "\(name): normalization needs 3 means and 3 stds")
        self.name = name
        self.encoder = encoder
        self.connector = connector
        self.language = language
        self.tokenizer = tokenizer
        self.template = template
        self.normalization = norm
        self.imageTokenID = imageTokenID
        paddingTokenID = tokenizer?.padTokenID ?? 0
    }

    public var inputSize: Int { encoder.inputSize }

    /// T', the visual tokens per image.
    public var visualTokenCount: Int { (try? connector.outputTokenCount(inputTokens: encoder.tokenCount)) ?? 0 }

    /// connector(encoder(normalize(images))): [B, 3, S, S] → [B, T', D].
    public func visualTokens(images: Tensor) throws -> Tensor {
        let features = try features(images: images)
        return try profiled("connector") { try connector(features) }
    }

    /// The visual tokens asked with `promptTokens`: an `InstructedConnector` also reads each
    /// prompt's after-image ids; any other connector the image alone. [B, 3, S, S] → [B, T', D].
    public func visualTokens(images: Tensor, promptTokens: [PromptTokens]) throws -> Tensor {
        try connect(features(images: images), promptTokens: promptTokens)
    }

    /// encoder(normalize(images)): [B, 3, S, S] → [B, T, C].
    private func features(images: Tensor) throws -> Tensor {
        try require(images.rank == 4 && images.dim(0) > 0 && images.dim(1) == 3 && images.dim(2) == inputSize && images.dim(3) == inputSize,
                    "ComposedMLLM.visualTokens", "\(name): images \(describe(images.shape)) should be [B, 3, \(inputSize), \(inputSize)]")
        return try profiled("vision tower") { try encoder.features(normalization(images)) }
    }

    /// connector(features), with each prompt's after-image ids when the connector reads them:
    /// features [B, T, C] (cached tower features) → [B, T', D].
    public func connect(_ features: Tensor, promptTokens: [PromptTokens]) throws -> Tensor {
        try profiled("connector") {
            guard let instructed = connector as? any InstructedConnector else { return try connector(features) }
            return try instructed(features, instructions: promptTokens.map(\.afterImage))
        }
    }

    // MARK: String API (tokenizer + template)

    /// The prompt pieces of `question` under `template`, tokenized without added special tokens.
    public func promptTokens(question: String) throws -> PromptTokens {
        let t = try requireTokenizer()
        let (before, after) = template.filled(question: question)
        let bos = template.prependsBOS ? t.bosTokenID.map { [$0] } ?? [] : []
        return PromptTokens(beforeImage: bos + t.encode(before), afterImage: t.encode(after))
    }

    /// HF-style ids with one image placeholder run (`imageTokenID`) split around it.
    public func promptTokens(ids: [Int]) throws -> PromptTokens {
        guard let imageTokenID else { throw TensorError("ComposedMLLM", "\(name) has no image token id to split input ids at") }
        return try PromptTokens(ids: ids, imageTokenID: imageTokenID)
    }

    /// A teacher-forced answer's ids: `answer + template.answerSuffix`.
    public func answerTokens(_ answer: String) throws -> [Int] { try requireTokenizer().encode(answer + template.answerSuffix) }

    /// A candidate's ids (no suffix).
    public func candidateTokens(_ candidate: String) throws -> [Int] { try requireTokenizer().encode(candidate) }

    public func candidateTokenCounts(_ candidates: [String]) throws -> [Int] { try candidates.map { try candidateTokens($0).count } }

    /// See `MultimodalModel.loss`; averaging follows `lossAveraging`.
    public func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor {
        try loss(images: images, promptTokens: prompts.map { try promptTokens(question: $0) }, answerTokens: answers.map { try answerTokens($0) })
    }

    /// See `MultimodalModel.logLikelihood`.
    public func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor {
        try logLikelihood(images: images, promptTokens: prompts.map { try promptTokens(question: $0) },
                          candidateTokens: candidates.map { try candidateTokens($0) })
    }

    // MARK: Token-id API

    /// The answer-only LM loss (scalar) for token ids; see `loss(visualTokens:promptTokens:answerTokens:)`.
    public func loss(images: Tensor, promptTokens: [PromptTokens], answerTokens: [[Int]]) throws -> Tensor {
        try loss(visualTokens: visualTokens(images: images, promptTokens: promptTokens), promptTokens: promptTokens, answerTokens: answerTokens)
    }

    /// [B, C] mean candidate log-probabilities for token ids; see `logLikelihood(visualTokens:…)`.
    public func logLikelihood(images: Tensor, promptTokens: [PromptTokens], candidateTokens: [[Int]]) throws -> Tensor {
        try logLikelihood(visualTokens: visualTokens(images: images, promptTokens: promptTokens), promptTokens: promptTokens, candidateTokens: candidateTokens)
    }

    /// The best candidate for each image (argmax of the scores, the first on ties), without gradients.
    public func predict(images: Tensor, promptTokens: [PromptTokens], candidateTokens: [[Int]]) throws -> [Int] {
        let scores = try withoutGrad { try logLikelihood(images: images, promptTokens: promptTokens, candidateTokens: candidateTokens) }
        let c = scores.dim(1)
        return (0..<scores.dim(0)).map { b in
            var best = 0
            for j in 1..<c where scores.data[b * c + j] > scores.data[b * c + best] { best = j }
            return best
        }
    }

    private func requireTokenizer() throws -> any Tokenizer {
        guard let tokenizer else { throw TensorError("ComposedMLLM", "\(name) has no tokenizer: use the token-id API") }
        return tokenizer
    }
}
