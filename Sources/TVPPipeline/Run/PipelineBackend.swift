import TVPEngine
import TVPModels
import TVPPrompting
import TVPTensor

/// What the backend is asked to build for one entry of `models:`.
public struct ModelBuild: Sendable, Equatable {
    public var name: String
    public var family: String
    /// The weight files, resolved on disk (empty for random weights).
    public var files: [String]
    /// The seed of random weights (`weights: {random: SEED}`), else nil.
    public var randomSeed: Int?
    /// `models.NAME.options`, as written.
    public var options: JSONValue
    /// Where fetched manifest assets live (`<assets>/<asset>/<file>`): the family's
    /// `requiredAssets` are there when the model is built.
    public var assetsDirectory: String

    public init(name: String, family: String, files: [String], randomSeed: Int?, options: JSONValue, assetsDirectory: String = "") {
        self.name = name
        self.family = family
        self.files = files
        self.randomSeed = randomSeed
        self.options = options
        self.assetsDirectory = assetsDirectory
    }
}

/// Everything one prompt training run needs (`train-prompt` stage), in TVPPrompting's terms.
public struct PromptTrainingJob {
    public var task: String
    public var variant: PromptVariant
    /// The surrogate(s); several form an ensemble (their losses are summed, as `PromptTrainer` does).
    public var surrogates: [any MultimodalModel]
    /// The TSE guide (nil when tse = 0); its caption features may come from the `guide-text` stage.
    public var guide: (any TSEGuide)?
    /// The training split (raw images; the trainer applies the official image pipeline).
    public var source: any PromptBatchSource
    /// The prompt to train, at its initial values (`PromptSpec.makePrompt`).
    public var prompt: any VisualPrompt
    /// Learning rate, loss weights (VP: fca = tse = 0), epochs, batch, seed, update rule, augmentation.
    public var config: PromptTrainingConfig
    /// The surrogates' clean visual tokens for FCA, precomputed by `clean-features` (nil: computed per batch).
    public var cleanTokens: (any CleanTokenProvider)?
    /// Held-out items scored during training; the best-scoring prompt is kept (nil: the last one).
    public var validation: PromptValidation?
    /// A rung of a halving search: the training continues from this state (an earlier rung's)…
    public var continuing: TrainingState? = nil
    /// …and stops after this many of its steps (nil: all of them).
    public var stoppingAfter: Int? = nil
}

/// One logged training step.
public struct LossRecord: Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    public var lr: Double
    public var total: Double
    public var task: Double
    public var fca: Double?
    public var tse: Double?

    public init(step: Int, epoch: Int, lr: Double, total: Double, task: Double, fca: Double? = nil, tse: Double? = nil) {
        self.step = step
        self.epoch = epoch
        self.lr = lr
        self.total = total
        self.task = task
        self.fca = fca
        self.tse = tse
    }

    /// The record of a `PromptTrainer` step.
    public init(_ progress: TrainingProgress) {
        let losses = progress.losses
        self.init(step: progress.globalStep - 1, epoch: progress.epoch, lr: Double(progress.learningRate), total: Double(losses.total),
                  task: Double(losses.task), fca: losses.featureConsistency.map(Double.init), tse: losses.taskSemantics.map(Double.init))
    }
}

/// A trained prompt and its loss curve.
public struct TrainedPrompt {
    public var prompt: any VisualPrompt
    public var curve: [LossRecord]
    /// The validation points and the step whose prompt was kept (empty and nil without validation).
    public var validation: [ValidationPoint] = []
    public var bestStep: Int?
    /// Where the training stopped (what the next rung continues from).
    public var state: TrainingState?

    public init(prompt: any VisualPrompt, curve: [LossRecord]) {
        self.prompt = prompt
        self.curve = curve
    }
}

/// One evaluation: a model, a split (raw images), and the Evaluator's protocol (zero-shot or a prompt).
public struct EvaluationJob {
    public var model: any MultimodalModel
    public var source: any PromptBatchSource
    public var evaluation: TVPPrompting.EvaluationProtocol
    public var batch: Int
    /// The task's `scoring:` (mean token log-likelihood unless the task says sum).
    public var scoring = CandidateScoring.mean
}

/// The model side of a pipeline: builds the models of its families. Training and evaluation default
/// to TVPPrompting's `PromptTrainer` and `Evaluator` (`trainWithPromptTrainer`,
/// `evaluateWithEvaluator`); a backend may wrap them (to count or log calls) but has no reason to
/// replace them. The stage kinds `clean-features`, `guide-text`, `train-prompt` and `evaluate` call
/// it; everything else (fetching, loading, caching, aggregation, reports) is the pipeline's own.
public protocol PipelineBackend: AnyObject {
    /// The families it builds for surrogates and targets (checked when the file is validated).
    var modelFamilies: [String] { get }
    /// The families it builds for the TSE guide.
    var guideFamilies: [String] { get }
    /// Manifest assets a family reads besides its weights (vocabularies, shared parts): the
    /// pipeline fetches them before the model's stages run and keys those stages on their checksums.
    func requiredAssets(family: String, options: JSONValue) -> [String]
    /// What a model of `family` needs on disk, for the error when its weights are missing.
    func weightsHint(family: String) -> String?
    /// The files a model (`name`, of `family`) reads from a `weights: {path: DIR}` folder, relative
    /// to it: its stages are keyed on those files' SHA-256s alone, so rewriting a sibling's file does
    /// not recompute it. nil (the default): every file of the folder.
    func weightFiles(family: String, name: String, options: JSONValue) -> [String]?
    func makeModel(_ build: ModelBuild) throws -> any MultimodalModel
    func makeGuide(_ build: ModelBuild) throws -> any TSEGuide
    /// Trains one prompt; reports progress as it goes.
    func trainPrompt(_ job: PromptTrainingJob, progress: StageProgress) throws -> TrainedPrompt
    /// Evaluates one model under one protocol.
    func evaluate(_ job: EvaluationJob, progress: StageProgress) throws -> EvaluationResult
}

extension PipelineBackend {
    public func requiredAssets(family: String, options: JSONValue) -> [String] { [] }
    public func weightsHint(family: String) -> String? { nil }
    public func weightFiles(family: String, name: String, options: JSONValue) -> [String]? { nil }

    public func trainPrompt(_ job: PromptTrainingJob, progress: StageProgress) throws -> TrainedPrompt {
        try trainWithPromptTrainer(job, progress: progress)
    }

    public func evaluate(_ job: EvaluationJob, progress: StageProgress) throws -> EvaluationResult {
        try evaluateWithEvaluator(job, progress: progress)
    }
}

/// Trains `job.prompt` with `PromptTrainer` (the official objective, update and schedule), logging
/// every step as a `LossRecord`.
public func trainWithPromptTrainer(_ job: PromptTrainingJob, progress: StageProgress) throws -> TrainedPrompt {
    let trainer = try PromptTrainer(surrogates: job.surrogates, prompt: job.prompt, guide: job.guide, config: job.config)
    trainer.cleanTokens = job.cleanTokens
    var curve: [LossRecord] = []
    trainer.onProgress = { step in
        curve.append(LossRecord(step))
        let validation = step.validation.map { String(format: "  val %.1f%%", 100 * $0.accuracy) } ?? ""
        progress.update(completed: step.globalStep, total: step.totalSteps, unit: "step",
                        note: String(format: "loss %.4g", Double(step.losses.total)) + validation)
    }
    let summary = try trainer.train(on: job.source, validation: job.validation, continuing: job.continuing, stoppingAfter: job.stoppingAfter)
    var trained = TrainedPrompt(prompt: job.prompt, curve: curve)
    (trained.validation, trained.bestStep, trained.state) = (summary.validation, summary.bestStep, trainer.state)
    return trained
}

/// Evaluates `job.model` under `job.evaluation` with the `Evaluator` (candidates scored as
/// `job.scoring` says; top-1, top-5, ROC-AUC and POPE metrics).
public func evaluateWithEvaluator(_ job: EvaluationJob, progress: StageProgress) throws -> EvaluationResult {
    var evaluator = Evaluator(batchSize: job.batch)
    evaluator.scoring = job.scoring
    evaluator.onBatch = { done, total in progress.update(completed: done, total: total, unit: "img") }
    return try evaluator.evaluate(model: job.model, protocol: job.evaluation, source: job.source)
}
