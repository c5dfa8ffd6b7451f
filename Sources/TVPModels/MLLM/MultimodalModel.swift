import TVPTensor

/// A multimodal LLM as TVP sees it: image → LLM-input visual tokens → language model.
///
/// Images enter in pixel units, [B, 3, S, S] with S = `inputSize`: the padded image plus the
/// visual prompt, so values may leave [0, 1] (the official code does not clamp). Each model applies
/// its own `normalization` inside, differentiably, so a prompt trained on one model can be added to
/// the images of another. Every method is differentiable with respect to the images; the weights
/// are frozen unless a caller trains them (connectors of the embedded zoo).
public protocol MultimodalModel: AnyObject {
    /// A short name for tables and logs ("llava-tiny", "zoo-effnet-mlp").
    var name: String { get }
    /// The side of the square images the vision tower takes.
    var inputSize: Int { get }
    /// The per-channel normalization the vision tower expects.
    var normalization: ImageNormalization { get }

    /// The LLM-input visual tokens [B, T, D] for pixel images [B, 3, S, S]: what Feature
    /// Consistency Alignment compares between prompted and clean images.
    func visualTokens(images: Tensor) throws -> Tensor

    /// The language-model loss of each `answers[b]` given image b and `prompts[b]`: token
    /// cross-entropy over the answer tokens only (teacher forcing). By default the mean over every
    /// answer token of the batch, as the official MiniGPT-4 / TVP training computes it (labels −100
    /// everywhere but the answer, HF `*ForCausalLM` mean over the non-ignored tokens); a model may
    /// offer other averaging (`ComposedMLLM.lossAveraging`: per-sample means, then their mean).
    func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor

    /// [B, C]: the mean token log-probability of each candidate answer given image b and
    /// `prompts[b]`. The image-and-prompt prefix runs once per image and is reused (KV cache) for
    /// every candidate; logits are computed only where a candidate token is scored.
    func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor

    /// How many tokens each candidate answer has (what `logLikelihood` averages over).
    func candidateTokenCounts(_ candidates: [String]) throws -> [Int]

    /// The number of values of the part that adapts the vision tower to the language model (the
    /// connector a visual prompt is compared against in the paper's cost table), when known.
    var adapterValueCount: Int? { get }
}

/// How a candidate answer is scored.
public enum CandidateScoring: String, Codable, Sendable, Equatable, CaseIterable {
    /// The mean token log-likelihood (the official TVP code's per-candidate loss): class names of
    /// different lengths compete on equal footing.
    case mean
    /// The sum, i.e. the log-probability of the whole answer. For numbers: "10" is two tokens whose
    /// second is nearly certain after "1", so its mean is about half its first token's
    /// log-probability and wins whenever the model is unsure; the sum is the answer's probability.
    case sum
}

extension MultimodalModel {
    public var adapterValueCount: Int? { nil }

    /// [B, C] candidate scores under `scoring` (see `logLikelihood`).
    public func scores(images: Tensor, prompts: [String], candidates: [String], scoring: CandidateScoring) throws -> Tensor {
        let mean = try logLikelihood(images: images, prompts: prompts, candidates: candidates)
        guard scoring == .sum else { return mean }
        let counts = try candidateTokenCounts(candidates)
        let c = candidates.count
        let lengths = try Tensor((0..<mean.dim(0)).flatMap { _ in counts.map(Float.init) }, shape: [mean.dim(0), c])
        return try mean * lengths
    }

    /// The index of the best candidate for each image (argmax of `logLikelihood`).
    public func predict(images: Tensor, prompts: [String], candidates: [String], scoring: CandidateScoring = .mean) throws -> [Int] {
        let scores = try withoutGrad { try self.scores(images: images, prompts: prompts, candidates: candidates, scoring: scoring) }
        let c = candidates.count
        return (0..<scores.dim(0)).map { b in
            var best = 0
            for j in 1..<c where scores.data[b * c + j] > scores.data[b * c + best] { best = j }
            return best
        }
    }
}
