import TVPModels
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

    public init(name: String, family: String, files: [String], randomSeed: Int?, options: JSONValue) {
        self.name = name
        self.family = family
        self.files = files
        self.randomSeed = randomSeed
        self.options = options
    }
}

/// The CLIP-style model that scores a prompted image against its class caption (TSE).
public protocol GuideModel: AnyObject {
    var name: String { get }
    /// The side of the square images it takes.
    var inputSize: Int { get }
    /// The logit scale (before exp; the TSE score uses min(exp(logitScale), 100)).
    var logitScale: Float { get }
    /// [B, E] image features of pixel images [B, 3, S, S] (its normalization inside), differentiable.
    func imageFeatures(images: Tensor) throws -> Tensor
    /// [B, E] text features of `texts`.
    func textFeatures(_ texts: [String]) throws -> Tensor
}

/// A loaded split as the train and evaluate calls see it.
public struct SampleSet {
    /// [N, 3, S, S] pixel images in the prompt's image view.
    public var images: Tensor
    public var labels: [Int]
    /// The candidate answers (class names); label i answers `classNames[i]`.
    public var classNames: [String]
    /// The question asked with every image.
    public var question: String

    public init(images: Tensor, labels: [Int], classNames: [String], question: String) {
        self.images = images
        self.labels = labels
        self.classNames = classNames
        self.question = question
    }
}

/// Everything a prompt training run needs (`train-prompt` stage).
public struct PromptTrainingJob {
    public var task: String
    public var variant: PromptVariant
    /// The surrogate(s); several form an ensemble (losses averaged).
    public var surrogates: [MultimodalModel]
    /// Per surrogate, the clean visual tokens [N, T, D] of `data.images` (FCA); empty when fca = 0.
    public var cleanFeatures: [Tensor]
    /// The TSE guide and the caption features [C, E] of each class; nil when tse = 0.
    public var guide: GuideModel?
    public var captionFeatures: Tensor?
    public var data: SampleSet
    public var prompt: PromptSpec
    public var layout: PromptLayout
    public var loss: LossSpec
    public var train: TrainSpec
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
}

/// A trained prompt: the learnable tensor (`PromptLayout.shape`) and its loss curve.
public struct TrainedPrompt {
    public var perturbation: Tensor
    public var curve: [LossRecord]

    public init(perturbation: Tensor, curve: [LossRecord]) {
        self.perturbation = perturbation
        self.curve = curve
    }
}

/// One evaluation: a model, a split, and the prompt to add (none for zero-shot).
public struct EvaluationJob {
    public var model: MultimodalModel
    public var data: SampleSet
    /// The trained prompt (layout shape), or nil for zero-shot.
    public var prompt: Tensor?
    public var layout: PromptLayout
    public var batch: Int
    /// Seeds random-patch positions.
    public var seed: Int
}

/// The model side of a pipeline: builds models and runs prompt training and evaluation. The stage
/// kinds `clean-features`, `guide-text`, `train-prompt` and `evaluate` call it; everything else
/// (fetching, loading, caching, aggregation, reports) is the pipeline's own.
public protocol PipelineBackend: AnyObject {
    /// The families it builds for surrogates and targets (checked when the file is validated).
    var modelFamilies: [String] { get }
    /// The families it builds for the TSE guide.
    var guideFamilies: [String] { get }
    func makeModel(_ build: ModelBuild) throws -> MultimodalModel
    func makeGuide(_ build: ModelBuild) throws -> GuideModel
    /// Trains one prompt; reports progress (fraction, note) as it goes.
    func trainPrompt(_ job: PromptTrainingJob, progress: StageProgress) throws -> TrainedPrompt
    /// The predicted class index of every sample (default: `predictByLikelihood`).
    func predict(_ job: EvaluationJob, progress: StageProgress) throws -> [Int]
}

extension PipelineBackend {
    public func predict(_ job: EvaluationJob, progress: StageProgress) throws -> [Int] {
        try predictByLikelihood(job, progress: progress)
    }
}

/// Adds the prompt (if any) batch by batch and picks the candidate answer of highest mean token
/// log-likelihood (`MultimodalModel.predict`).
public func predictByLikelihood(_ job: EvaluationJob, progress: StageProgress) throws -> [Int] {
    let n = job.data.labels.count
    var predictions: [Int] = []
    predictions.reserveCapacity(n)
    var start = 0
    while start < n {
        let indices = Array(start..<min(n, start + job.batch))
        var images = try gatherRows(job.data.images, indices)
        if let prompt = job.prompt { images = try job.layout.apply(prompt, to: images, indices: indices, seed: job.seed) }
        predictions += try job.model.predict(images: images, prompts: Array(repeating: job.data.question, count: indices.count),
                                             candidates: job.data.classNames)
        start += indices.count
        progress.update(completed: start, total: n, unit: "img")
    }
    return predictions
}
