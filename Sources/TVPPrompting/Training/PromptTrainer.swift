import Foundation
import TVPData
import TVPModels
import TVPTensor

/// Trains a visual prompt through frozen surrogate MLLMs, with the semantics of the official
/// `train_with_prompt` (`transfer_cls.py`):
///
///     clean    = pad(images)                            (FCA reference; no gradient)
///     prompted = pad(images) + prompt                   (each model normalizes inside)
///     loss     = Σ_surrogates [ task LM loss + fca · mean ‖tokens(prompted) − tokens(clean)‖₂ ]
///                − tse · mean( min(e^s, 100) · cos(guide(prompted), guide("this is a photo of a {class}")) )
///     prompt  ← prompt − lr · (g / (‖g‖₂ + 1e-10)) · mask       (lr = cosine over epochs, per epoch)
///
/// Deliberate differences from the official code:
/// - FCA works with any surrogate (`MultimodalModel.visualTokens`); the official wires it for MiniGPT-4 only.
/// - Several surrogates (an ensemble) sum their task and FCA terms; TSE is added once.
/// - The gradient is that of the prompt (the batch sum), not the batch mean of per-image copies;
///   the normalized step is the same up to the 1e-10 guard.
/// - The official logit-scale clamp (to [0, ln 100] after each step) is `min(e^s, 100)` here.
/// - Shuffling and augmentation draws come from `RandomGenerator` seeded by (seed, epoch, step),
///   not from PyTorch's global generator: a resumed run redraws exactly, but the samples of each
///   batch differ from a PyTorch run with the same seed.
public final class PromptTrainer {
    public let surrogates: [any MultimodalModel]
    public let prompt: any VisualPrompt
    public let guide: (any TSEGuide)?
    public let config: PromptTrainingConfig
    /// Clean-token cache for FCA (nil: computed per batch).
    public var cleanTokens: (any CleanTokenProvider)?
    /// Called after every step.
    public var onProgress: ((TrainingProgress) -> Void)?
    /// Where the resume state (the prompt plus epoch and step) is saved; a run finding it there
    /// continues from it. Nil: no resume state.
    public var checkpointPath: String?
    /// The candidate answers `TaskLoss.candidates` ranks (`train(on:)` sets them from its source).
    public var candidates: [String]?
    /// Where the last `train` call left the training (what a later call continues from).
    public internal(set) var state: TrainingState?

    let optimizer: any Optimizer
    /// The official update is masked inside `TVPUpdate`; the others see a masked gradient.
    private let masksGradient: Bool

    /// Throws when a surrogate's or the guide's input size differs from the prompt's image size,
    /// or when tse > 0 without a guide.
    public init(surrogates: [any MultimodalModel], prompt: any VisualPrompt, guide: (any TSEGuide)? = nil,
                config: PromptTrainingConfig = .tvp) throws {
        let op = "PromptTrainer"
        try config.validate()
        try require(!surrogates.isEmpty, op, "needs at least one surrogate model")
        for model in surrogates {
            try require(model.inputSize == prompt.imageSize, op,
                        "surrogate '\(model.name)' takes \(model.inputSize) px images but the prompt makes \(prompt.imageSize) px images")
        }
        if config.tse != 0 {
            guard let guide else { throw TensorError(op, "tse = \(config.tse) needs a TSE guide model (or set tse to 0)") }
            try require(guide.inputSize == prompt.imageSize, op,
                        "the TSE guide takes \(guide.inputSize) px images but the prompt makes \(prompt.imageSize) px images")
        }
        self.surrogates = surrogates
        self.prompt = prompt
        self.guide = guide
        self.config = config
        switch config.update {
        case .official:
            optimizer = try TVPUpdate(mask: prompt.mask)
            masksGradient = false
        case .sgd(let momentum):
            optimizer = try SGD(momentum: momentum)
            masksGradient = true
        case let .adam(beta1, beta2):
            optimizer = try AdamW(beta1: beta1, beta2: beta2, weightDecay: 0)
            masksGradient = true
        }
    }

    // MARK: one step

    /// The images of `batch` as the prompt takes them: the training pipeline (seeded by seed,
    /// epoch and step) when `config.augment`, else the test pipeline; and the key of its clean images.
    public func preprocess(_ batch: PromptBatch, indices: [Int], epoch: Int, step: Int) throws -> (batch: PromptBatch, key: CleanBatchKey) {
        var out = batch
        if config.augment {
            let seed = mixSeed(config.seed, 1, UInt64(epoch), UInt64(step))
            out.images = try ImagePipeline.tvpTrain(imageSize: prompt.inputSize).apply(batch.images, seed: seed)
            return (out, CleanBatchKey(indices: indices, augmentationSeed: seed))
        }
        out.images = try ImagePipeline.tvpTest(imageSize: prompt.inputSize).apply(batch.images, seed: 0)
        return (out, CleanBatchKey(indices: indices, augmentationSeed: nil))
    }

    /// The training objective for a preprocessed batch (images [B, 3, inputSize, inputSize]):
    /// the differentiable total and its terms. `draw` is passed to `prompt.apply`; `cleanKey`
    /// (when given) lets `cleanTokens` supply the clean tokens.
    public func objective(_ batch: PromptBatch, draw: Int = 0, cleanKey: CleanBatchKey? = nil,
                          classFeatures: Tensor? = nil) throws -> (total: Tensor, losses: StepLosses) {
        let prompted = try profiled("prompt") { try prompt.apply(to: batch.images, draw: draw) }
        let clean = config.fca != 0 ? try profiled("prompt") { try prompt.clean(batch.images) } : nil
        // Summed over the surrogates: Σ task and Σ FCA; then the objective (`transferObjective`).
        var taskSum: Tensor?, consistencySum: Tensor?
        for model in surrogates {
            let taskLoss = try self.taskLoss(model, prompted, batch)
            taskSum = try taskSum.map { try $0 + taskLoss } ?? taskLoss
            if let clean {
                let fca = try profiled("FCA") {
                    let reference = try cleanVisualTokens(model, clean, key: cleanKey)
                    return try featureConsistencyLoss(prompted: model.visualTokens(images: prompted), clean: reference)
                }
                consistencySum = try consistencySum.map { try $0 + fca } ?? fca
            }
        }
        var semantics: Tensor?
        if config.tse != 0, let guide {
            semantics = try profiled("TSE guide") {
                let text = try classFeatures.map { try gatherRows($0, batch.labels) }
                    ?? guide.textFeatures(batch.answers.map(config.caption))
                return try taskSemanticsScore(imageFeatures: guide.imageFeatures(prompted), textFeatures: text, logitScale: guide.logitScale)
            }
        }
        guard let taskSum else { throw TensorError("PromptTrainer.objective", "no surrogate model") }
        let total = try transferObjective(task: taskSum, fca: config.fca, featureConsistency: consistencySum,
                                          tse: config.tse, taskSemantics: semantics)
        let losses = StepLosses(total: total.item, task: taskSum.item, featureConsistency: consistencySum?.item,
                                taskSemantics: semantics?.item)
        return (total, losses)
    }

    /// One training step on a preprocessed batch: objective, backward, finiteness checks, update
    /// with `lr`. After it, `prompt.values.grad` holds this step's gradient (until the next step).
    /// Throws `PromptTrainingError.nonFinite` before touching the prompt if the loss or the
    /// gradient is NaN or infinite.
    @discardableResult
    public func step(_ batch: PromptBatch, lr: Float, draw: Int = 0, cleanKey: CleanBatchKey? = nil,
                     classFeatures: Tensor? = nil, epoch: Int = 0, stepInEpoch: Int = 0) throws -> StepLosses {
        let values = prompt.values
        optimizer.zeroGrad([values])
        let (total, losses) = try objective(batch, draw: draw, cleanKey: cleanKey, classFeatures: classFeatures)
        guard total.isFinite else { throw PromptTrainingError.nonFinite(what: "loss", epoch: epoch, step: stepInEpoch, losses: losses) }
        try total.backward()
        guard let grad = values.grad else { throw TensorError("PromptTrainer.step", "the loss does not depend on the prompt") }
        guard grad.isFinite else {
            values.grad = nil
            throw PromptTrainingError.nonFinite(what: "prompt gradient", epoch: epoch, step: stepInEpoch, losses: losses)
        }
        try profiled("prompt update") {
            if masksGradient {
                let raw = grad
                values.grad = try raw * prompt.mask
                try optimizer.step([values], lr: lr)
                values.grad = raw
            } else {
                try optimizer.step([values], lr: lr)
            }
        }
        return losses
    }

    /// The task term of `model` on prompted images: the right answer's LM loss, or its
    /// cross-entropy among the candidates (`config.taskLoss`).
    private func taskLoss(_ model: any MultimodalModel, _ prompted: Tensor, _ batch: PromptBatch) throws -> Tensor {
        switch config.taskLoss {
        case .answer:
            return try model.loss(images: prompted, prompts: batch.questions, answers: batch.answers)
        case .candidates:
            guard let candidates, candidates.count > 1 else {
                throw TensorError("PromptTrainer", "the candidates task loss needs the candidate answers (two or more; train(on:) sets them from its source)")
            }
            let scores = try model.scores(images: prompted, prompts: batch.questions, candidates: candidates, scoring: config.candidateScoring)
            return try crossEntropy(scores, targets: batch.labels)
        }
    }

    /// Clean tokens [B, T, D] of `model` for `clean` images: from the provider, or computed
    /// without recording gradients (and handed to the provider).
    private func cleanVisualTokens(_ model: any MultimodalModel, _ clean: Tensor, key: CleanBatchKey?) throws -> Tensor {
        if let key, let cached = try cleanTokens?.tokens(surrogate: model.name, batch: key) { return cached }
        let tokens = try withoutGrad { try model.visualTokens(images: clean) }
        if let key { try cleanTokens?.store(tokens, surrogate: model.name, batch: key) }
        return tokens
    }
}
