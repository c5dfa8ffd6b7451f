import TVPData
import TVPEngine
import TVPFormats
import TVPModels
import TVPPrompting
import TVPTensor

/// A validated pipeline file (one point of a sweep): every field typed, every name resolved.
///
/// Built only by `PipelineSpec.init(root:context:)` (see docs/pipelines.md for the schema), so a
/// value of this type has passed every check: no unknown keys, right types, known datasets, splits,
/// models and families, a guide whenever TSE is on.
public struct PipelineSpec: Sendable {
    public var name: String
    /// The tasks (datasets), in file order; the report's column groups.
    public var tasks: [TaskSpec]
    /// Every model of the `models:` section, in file order.
    public var models: [ModelSpec]
    /// The surrogate model names (one, or several for an ensemble).
    public var surrogates: [String]
    /// The TSE guide model name, if any.
    public var guide: String?
    /// The target model names (never containing a surrogate).
    public var targets: [String]
    public var prompt: PromptSpec
    public var loss: LossSpec
    public var train: TrainSpec
    public var evaluate: EvaluateSpec
    public var report: ReportSpec
    public var claims: [Claim]
    /// The composed tree this spec was decoded from, without `sweep:`, as canonical JSON.
    public var resolved: JSONValue
    /// A zoo build file's build (`build: zoo`): the file compiles into the zoo's stages, and its
    /// tasks, models and prompt sections are empty. Nil for a prompt pipeline.
    public var zoo: ZooSpec? = nil

    /// The model called `name` (names were checked during validation).
    public func model(_ name: String) -> ModelSpec? { models.first { $0.name == name } }

    /// Surrogates first, then targets: the rows of the results table.
    public var evaluatedModels: [String] { surrogates + targets }
}

/// One task: a dataset of the manifest, its train and test splits, and how its samples are asked.
public struct TaskSpec: Sendable {
    /// The key under `data:`; the column group of the report.
    public var name: String
    /// The manifest asset name.
    public var dataset: String
    /// The manifest loader of that asset (`idx-gz`, `clevr`, …; see `SplitLoaders.supported`), or
    /// the generated dataset's name (`GeneratedDatasets`).
    public var loader: String
    /// `prefer:` a manifest dataset (name, loader) used instead of `dataset` when its files are in
    /// the asset cache (the real CLEVR instead of the renders).
    public var preferred: (name: String, loader: String)?
    public var train: SplitSpec
    public var test: SplitSpec
    public var sampling: SamplingSpec
    /// Seed of `random` sampling.
    public var seed: Int
    /// The text asked with every image of a classification task (default: the official "This is a
    /// photo of a"); question-answering tasks (CLEVR, POPE, Hateful Memes) ask each sample's own question.
    public var question: String
    /// Class names replacing the loader's (`classes:`), or nil.
    public var classes: [String]?
    /// The TSE caption; `{class}` is replaced by the class name.
    public var caption: String
    /// `prompt_from:` an earlier task whose trained prompts this task is evaluated with (cross-dataset
    /// transfer) instead of training its own; nil: the task trains its prompts. Its `train` split
    /// is then optional and never read.
    public var promptFrom: String? = nil
    /// `scoring:` how candidate answers are scored (`mean` token log-likelihood, the official; `sum`:
    /// the answer's log-probability, for numbers such as CLEVR's counts).
    public var scoring = CandidateScoring.mean
}

/// A split of a dataset and how many of its samples to use.
public struct SplitSpec: Sendable, Equatable {
    public var split: String
    /// At most this many samples (nil: all).
    public var limit: Int?
    /// Samples before this row are left out (a split such as mnist-5k's `all` cut into a training
    /// part and a test part).
    public var skip: Int

    public init(split: String, limit: Int?, skip: Int = 0) {
        self.split = split
        self.limit = limit
        self.skip = skip
    }
}

/// Which samples a limited split keeps.
public enum SamplingSpec: String, Sendable, CaseIterable {
    /// The first `limit` samples in file order.
    case first
    /// `limit` samples drawn without replacement with the task's seed, kept in file order.
    case random
}

/// Where a model's weights come from.
public enum WeightSource: Sendable, Equatable {
    /// Files of a manifest asset (all of them, or the one named).
    case asset(String, file: String?)
    /// A file or folder on disk (relative paths are resolved against the pipeline file's folder).
    case path(String)
    /// Random weights from a seed (tests, smoke runs, benchmarks).
    case random(seed: Int)
}

/// One entry of `models:`.
public struct ModelSpec: Sendable, Equatable {
    public var name: String
    /// The backend family that builds it (`PipelineBackend.modelFamilies` or `.guideFamilies`).
    public var family: String
    public var weights: WeightSource
    /// Free-form options handed to the backend as they are.
    public var options: JSONValue

    public init(name: String, family: String, weights: WeightSource, options: JSONValue = .object([:])) {
        self.name = name
        self.family = family
        self.weights = weights
        self.options = options
    }
}

/// The learnable prompt's kind; the raw values are TVPPrompting's `VisualPrompt.kind` (see
/// `PromptSpec.makePrompt`, which builds the prompt of each kind).
public enum PromptKind: String, Sendable, CaseIterable {
    /// The official TVP prompt (`PaddingPrompt`): the image shrunk to `imageSize − 2·frame` and zero-padded, a learnable frame.
    case padding
    /// Bahng et al.'s pad prompter (`PadPrompt`): a learnable frame of `frame` px over the full-size image.
    case pad
    /// Bahng et al.'s fixed patch (`PatchPrompt`): a learnable `frame`×`frame` square at the top-left corner.
    case fixedPatch = "fixed-patch"
    /// Bahng et al.'s random patch (`PatchPrompt`): a learnable `frame`×`frame` square at a seeded random position per draw.
    case randomPatch = "random-patch"
}

/// A prompt's values before the first step.
public enum PromptInitialization: String, Sendable, CaseIterable {
    /// All zero: the image unchanged (the official TVP padding prompt's start).
    case zeros
    /// Seeded standard normals in the learnable region (Bahng et al.'s `torch.randn`).
    case normal
}

public struct PromptSpec: Sendable, Equatable {
    public var kind: PromptKind
    public var imageSize: Int
    /// The frame width (padding, pad) or the patch side (fixed-patch, random-patch), in pixels.
    public var frame: Int
    /// How the prompt starts; nil: its kind's own start (zeros for padding, normal for pad and the patches).
    public var initialization: PromptInitialization?

    public init(kind: PromptKind, imageSize: Int, frame: Int, initialization: PromptInitialization? = nil) {
        self.kind = kind
        self.imageSize = imageSize
        self.frame = frame
        self.initialization = initialization
    }

    /// The start this prompt trains from.
    public var start: PromptInitialization { initialization ?? (kind == .padding ? .zeros : .normal) }
}

/// The TVP loss weights: total = task + fca·FCA − tse·TSE. VP is the same training with both 0.
public struct LossSpec: Sendable, Equatable {
    /// The largest FCA or TSE weight a file may give: the paper's are 0.005 and 0.001, and a weight
    /// this large already drowns the task term.
    public static let maximumWeight = 1e4
    public var fca: Double
    public var tse: Double
    /// The task term: `answer` (the official LM loss of the right answer) or `candidates` (its
    /// cross-entropy among the candidate answers; not the paper's).
    public var task: String

    public init(fca: Double, tse: Double, task: String = "answer") {
        self.fca = fca
        self.tse = tse
        self.task = task
    }

    public static let tasks = TaskLoss.allCases.map(\.rawValue)
}

public struct TrainSpec: Sendable, Equatable {
    /// The largest learning rate a file may give: the official update's is 10 (in pixel units of a
    /// normalized step); beyond this every optimizer's first step leaves any useful range.
    public static let maximumLearningRate = 1e4
    public var epochs: Int
    public var batch: Int
    /// `tvp` (normalized-gradient step inside the prompt's mask, the official update), `sgd` or `adam`.
    public var optimizer: String
    public var lr: Double
    /// `cosine` (per epoch, as the official code).
    public var schedule: String
    public var seed: Int
    /// The official training augmentation (random flip, resize, random crop: `ImagePipeline.tvpTrain`);
    /// off: the test transform (`ImagePipeline.tvpTest`).
    public var augment: Bool
    /// Training items held out for validation (0: none): the prompt is scored on them before the
    /// first step and every `validateEvery` steps, and the best-scoring prompt is kept.
    public var validation: Int
    /// Steps between validation points.
    public var validateEvery: Int

    public init(epochs: Int, batch: Int, optimizer: String, lr: Double, schedule: String, seed: Int, augment: Bool = true,
                validation: Int = 0, validateEvery: Int = 8) {
        self.epochs = epochs
        self.batch = batch
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.seed = seed
        self.augment = augment
        self.validation = validation
        self.validateEvery = validateEvery
    }

    public static let optimizers = ["tvp", "sgd", "adam"]
    /// `cosine`: the official cosine annealing over the epochs, stepped per epoch (`PromptTrainer`'s schedule).
    public static let schedules = ["cosine"]
}

/// What each model is evaluated with.
public enum ProtocolSpec: String, Sendable, CaseIterable {
    /// Clean images through the prompt's image view without a prompt (the official zero-shot).
    case zeroShotOfficial = "zero-shot-official"
    /// Clean images resized to the input size (the model's native zero-shot).
    case zeroShotNative = "zero-shot-native"
    /// A prompt trained on the surrogate with the task loss only.
    case vp
    /// A prompt trained with task + FCA − TSE.
    case tvp

    /// The trained prompt variant this protocol adds, if any.
    public var variant: PromptVariant? {
        switch self {
        case .vp: return .vp
        case .tvp: return .tvp
        case .zeroShotOfficial, .zeroShotNative: return nil
        }
    }

    /// A short column title.
    public var title: String {
        switch self {
        case .zeroShotOfficial: return "zero-shot"
        case .zeroShotNative: return "zero-shot (native)"
        case .vp: return "VP"
        case .tvp: return "TVP"
        }
    }
}

/// The two trained prompts: plain visual prompting and transferable visual prompting.
public enum PromptVariant: String, Sendable, CaseIterable {
    case vp, tvp
}

/// A CIFAR-10-C corruption (TVPData `Corruption`) applied to the raw test images before the
/// model's image pipeline (robustness columns).
public struct CorruptionSpec: Sendable, Equatable {
    public var corruption: Corruption
    /// 1 (mild) … 5 (severe).
    public var severity: Int

    /// The CIFAR-10-C names (`gaussian_noise`, `shot_noise`, …, `fog`).
    public static let names = Corruption.allCases.map(\.rawValue)

    public var name: String { corruption.rawValue }

    /// `gaussian_noise-3`.
    public var label: String { "\(name)-\(severity)" }
}

public struct EvaluateSpec: Sendable, Equatable {
    public var protocols: [ProtocolSpec]
    public var metrics: [String]
    public var corruptions: [CorruptionSpec]
    public var batch: Int

    /// `accuracy` (top-1), `top-5` (tasks with more than 5 candidates), `auc` (ROC-AUC of the yes − no
    /// score; yes/no tasks such as Hateful Memes), POPE's `precision`, `recall`, `f1` and `yes-ratio`
    /// (yes/no tasks), `balanced-accuracy` and `macro-f1`. A metric a task does not define is left empty.
    public static let metricNames = ["accuracy", "top-5", "auc", "precision", "recall", "f1", "yes-ratio", "balanced-accuracy", "macro-f1"]
}

public struct ReportSpec: Sendable, Equatable {
    public var title: String
    /// The metric shown in the tables (one of `evaluate.metrics`).
    public var metric: String
    /// Digits after the decimal point of percentages.
    public var digits: Int
    /// Whether prompt images are written and embedded.
    public var images: Bool
}
