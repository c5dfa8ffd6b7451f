import Foundation
import TVPModels
import TVPTensor

/// How the prompt values move after each batch.
public enum PromptUpdateRule: Codable, Equatable, Sendable {
    /// The official step (`TVPUpdate`): p ← p − lr · (g / (‖g‖₂ + 1e-10)) · mask.
    case official
    /// `torch.optim.SGD` with momentum on the masked gradient.
    case sgd(momentum: Double)
    /// Adam (`AdamW` without weight decay) on the masked gradient.
    case adam(beta1: Double, beta2: Double)
}

/// What the task term of the objective measures.
public enum TaskLoss: String, Codable, Equatable, Sendable, CaseIterable {
    /// The official term: the LM loss of the right answer (teacher forcing).
    case answer
    /// Cross-entropy of the right answer among every candidate answer, with the candidates' scores
    /// (`candidateScoring`) as logits: what accuracy ranks, not how likely the answer is in itself.
    /// Not part of the paper's method.
    case candidates
}

/// The hyper-parameters of one prompt-training run. Defaults are the official TVP settings
/// (`transfer_cls.py` with the released prompt's lr 10, fca 0.005, tse 0.001, 1 epoch, batch 16,
/// seed 42). `fca = tse = 0` is plain visual prompting (VP).
public struct PromptTrainingConfig: Codable, Equatable, Sendable {
    public var learningRate: Float = 10
    /// Weight of Feature Consistency Alignment.
    public var fca: Float = 0.005
    /// Weight of Task Semantics Enrichment (subtracted).
    public var tse: Float = 0.001
    public var epochs = 1
    public var batchSize = 16
    public var seed: UInt64 = 42
    /// Shuffle the samples every epoch (the official DataLoader's `shuffle=True`).
    public var shuffle = true
    /// Flip, resize and random-crop training images (off: the test resize and centre crop).
    public var augment = true
    public var update = PromptUpdateRule.official
    /// The TSE caption; `{class}` is replaced by the class name (official: "this is a photo of a {class}").
    public var captionTemplate = "this is a photo of a {class}"
    /// Save the resume state every this many steps (0: only at the end of each epoch).
    public var checkpointEvery = 0
    /// The task term (official: `.answer`).
    public var taskLoss = TaskLoss.answer
    /// How candidates are scored for `TaskLoss.candidates` (the evaluation's scoring).
    public var candidateScoring = CandidateScoring.mean

    public init() {}

    /// The official TVP settings.
    public static let tvp = PromptTrainingConfig()

    /// Plain visual prompting: the same settings without FCA and TSE.
    public static var vp: PromptTrainingConfig {
        var c = PromptTrainingConfig()
        c.fca = 0
        c.tse = 0
        return c
    }

    /// The caption of class `name`.
    public func caption(_ name: String) -> String {
        captionTemplate.replacingOccurrences(of: "{class}", with: name)
    }

    func validate() throws {
        let op = "PromptTrainingConfig"
        try require(learningRate.isFinite && learningRate >= 0, op, "learningRate must be finite and >= 0, got \(learningRate)")
        try require(fca.isFinite && fca >= 0 && tse.isFinite && tse >= 0, op, "fca and tse must be finite and >= 0, got \(fca) and \(tse)")
        try require(epochs > 0 && batchSize > 0, op, "epochs and batchSize must be positive, got \(epochs) and \(batchSize)")
        try require(checkpointEvery >= 0, op, "checkpointEvery must be >= 0, got \(checkpointEvery)")
    }
}

/// The loss terms of one training step (plain numbers, for logs and results).
public struct StepLosses: Codable, Equatable, Sendable {
    /// task + fca · FCA − tse · TSE (summed over surrogates).
    public var total: Float
    /// The task LM loss, summed over surrogates.
    public var task: Float
    /// FCA, summed over surrogates (nil when fca = 0).
    public var featureConsistency: Float?
    /// The TSE score (nil when tse = 0).
    public var taskSemantics: Float?
}

/// What the progress callback receives after every step.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    /// The step within the epoch (0-based) and the epoch's step count.
    public var step: Int, stepsPerEpoch: Int
    /// Steps done so far over all epochs (1 after the first) and in the whole run.
    public var globalStep: Int, totalSteps: Int
    public var learningRate: Float
    public var losses: StepLosses
    /// The latest validation point, when the run validates.
    public var validation: ValidationPoint?
}

/// What a finished run reports.
public struct TrainingSummary: Codable, Equatable, Sendable {
    public var config: PromptTrainingConfig
    public var surrogates: [String]
    public var samples: Int
    public var stepsPerEpoch: Int
    /// Where this call started: (0, 0) for a fresh run, later for a resumed one.
    public var resumedFromEpoch: Int, resumedFromStep: Int
    /// The losses of the steps this call ran, in order.
    public var losses: [StepLosses]
    /// max |value| of the final prompt (the official log prints it).
    public var promptMaxAbs: Float
    /// The validation points of this call, in order (empty without validation).
    public var validation: [ValidationPoint] = []
    /// The step whose prompt the run kept (the best validation point); nil without validation.
    public var bestStep: Int?
}

/// Why training stopped.
public enum PromptTrainingError: Error, CustomStringConvertible {
    /// A loss or gradient became NaN or infinite; the prompt keeps its values from before the step.
    case nonFinite(what: String, epoch: Int, step: Int, losses: StepLosses)
    /// The resume state does not belong to this run.
    case resumeMismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFinite(what, epoch, step, losses):
            return "prompt training stopped: the \(what) is not finite at epoch \(epoch), step \(step) "
                + "(total \(losses.total), task \(losses.task), FCA \(losses.featureConsistency.map { "\($0)" } ?? "-"), "
                + "TSE \(losses.taskSemantics.map { "\($0)" } ?? "-")); the prompt keeps its values from before this step. "
                + "Lower the learning rate or the loss weights, or check the surrogate's weights."
        case let .resumeMismatch(path, reason):
            return "cannot resume from \(path): \(reason). Delete it to start over, or use the settings it was written with."
        }
    }
}
