import TVPData
import TVPEngine
import TVPPrompting
import TVPTensor

// How the validated pipeline values become TVPPrompting's types: prompts, training configs,
// evaluation protocols and metrics. The pipeline keeps no prompt, trainer or metric code of its own.

extension PromptSpec {
    /// A fresh prompt of this spec: the official padding prompt at zero, Bahng et al.'s pad and
    /// patch prompts at seeded standard normals (their `torch.randn` initialization) unless
    /// `init: zeros` starts them at zero too (the random patch's positions keep their seed).
    public func makePrompt(seed: Int) throws -> any VisualPrompt {
        let s = UInt64(bitPattern: Int64(seed))
        let zeros = start == .zeros
        switch kind {
        case .padding: return try PaddingPrompt(imageSize: imageSize, frame: frame)
        case .pad:
            return zeros ? try PadPrompt(values: Tensor(zeros: [3, imageSize, imageSize]), padSize: frame)
                         : try PadPrompt(imageSize: imageSize, padSize: frame, seed: s)
        case .fixedPatch, .randomPatch:
            let random = kind == .randomPatch
            return zeros ? try PatchPrompt(values: Tensor(zeros: [3, frame, frame]), imageSize: imageSize,
                                           randomPosition: random, positionSeed: PatchPrompt.positionSeed(s))
                         : try PatchPrompt(imageSize: imageSize, patchSize: frame, randomPosition: random, seed: s)
        }
    }

    /// The frame of the official zero-shot protocol (the shrunk image inside a black frame): the
    /// prompt's frame for the frame kinds, the official 30/224 of the image for patch prompts.
    public var zeroShotFrame: Int {
        kind == .padding || kind == .pad ? frame : max(1, imageSize * 30 / 224)
    }
}

extension TrainSpec {
    /// The `PromptTrainer` settings of this spec with the loss weights of `loss` (VP: both 0) and
    /// the TSE caption `caption` (`{class}` replaced by the class name).
    public func trainerConfig(loss: LossSpec, caption: String) -> PromptTrainingConfig {
        var config = PromptTrainingConfig()
        config.learningRate = Float(lr)
        config.fca = Float(loss.fca)
        config.tse = Float(loss.tse)
        config.epochs = epochs
        config.batchSize = batch
        config.seed = UInt64(bitPattern: Int64(seed))
        config.augment = augment
        config.captionTemplate = caption
        config.taskLoss = TaskLoss(rawValue: loss.task) ?? .answer
        switch optimizer {
        case "sgd": config.update = .sgd(momentum: 0)
        case "adam": config.update = .adam(beta1: 0.9, beta2: 0.999)
        default: config.update = .official
        }
        return config
    }
}

extension ProtocolSpec {
    /// The Evaluator's protocol: the official zero-shot (zero prompt on the shrunk, framed image),
    /// the native zero-shot (the image resized to the model's input), or the trained prompt.
    public func evaluatorProtocol(prompt spec: PromptSpec, trained: (any VisualPrompt)?) throws -> TVPPrompting.EvaluationProtocol {
        switch self {
        case .zeroShotOfficial: return .zeroShotOfficial(frame: spec.zeroShotFrame)
        case .zeroShotNative: return .zeroShotNative
        case .vp, .tvp:
            guard let trained else { throw PipelineError.stage("evaluate", "protocol \(rawValue) needs a trained prompt") }
            return .prompted(name: rawValue, prompt: trained)
        }
    }
}

/// The values of the metrics `names` (see `EvaluateSpec.metricNames`) of an evaluation whose samples
/// have `labels`; a metric the task does not define (top-5 with 5 candidates or fewer, AUC and
/// POPE's metrics without yes/no answers) is null.
public func metricValues(_ names: [String], result: EvaluationResult, labels: [Int]) throws -> [String: JSONValue] {
    func number(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
    var out: [String: JSONValue] = [:]
    for name in names {
        switch name {
        case "accuracy": out[name] = .double(result.top1)
        case "top-5": out[name] = number(result.top5)
        case "auc": out[name] = number(result.rocAUC)
        case "precision": out[name] = number(result.pope?.precision)
        case "recall": out[name] = number(result.pope?.recall)
        case "f1": out[name] = number(result.pope?.f1)
        case "yes-ratio": out[name] = number(result.pope?.yesRatio)
        case "balanced-accuracy": out[name] = number(Metrics.balancedAccuracy(predictions: result.predictions, labels: labels))
        case "macro-f1": out[name] = number(Metrics.macroF1(predictions: result.predictions, labels: labels))
        default:
            throw PipelineError.stage("metric", "unknown metric '\(name)'; known: " + EvaluateSpec.metricNames.joined(separator: ", "))
        }
    }
    return out
}
