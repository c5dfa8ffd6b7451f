import Foundation
import TVPData
import TVPModels
import TVPTensor

/// How images reach the model under evaluation.
public enum EvaluationProtocol {
    /// The official "zero-shot" baseline: the image shrunk to `imageSize − 2·frame` inside a black
    /// frame, with a zero prompt (what `transfer_cls.py --evaluate` does without a checkpoint).
    case zeroShotOfficial(frame: Int)
    /// The native zero-shot baseline: the full image resized (shorter side, bicubic) and centre
    /// cropped to the model's input size, no frame.
    case zeroShotNative
    /// A trained prompt (`name`: "vp" for fca = tse = 0, "tvp" for the full method, or any label).
    case prompted(name: String, prompt: any VisualPrompt)

    /// The official zero-shot protocol with the official 30 px frame.
    public static let zeroShotOfficialDefault = EvaluationProtocol.zeroShotOfficial(frame: 30)
    public static func vp(_ prompt: any VisualPrompt) -> EvaluationProtocol { .prompted(name: "vp", prompt: prompt) }
    public static func tvp(_ prompt: any VisualPrompt) -> EvaluationProtocol { .prompted(name: "tvp", prompt: prompt) }

    public var name: String {
        switch self {
        case .zeroShotOfficial: return "zero-shot-official"
        case .zeroShotNative: return "zero-shot-native"
        case .prompted(let name, _): return name
        }
    }
}

/// One model under one protocol on one data set.
public struct EvaluationResult: Codable, Equatable, Sendable {
    public var model: String
    public var protocolName: String
    public var samples: Int
    public var top1: Double
    /// Top-5 accuracy, reported (as the official code) only with more than 5 candidates.
    public var top5: Double?
    /// ROC-AUC of the (yes − no) score difference, for yes/no tasks.
    public var rocAUC: Double?
    /// POPE's metrics, for yes/no tasks.
    public var pope: POPEMetrics?
    /// The mean over samples of the mean candidate score and of the right answer's score (the
    /// official log's "Average Mean Logits" and "Average GT Logits").
    public var meanScore: Double, meanAnswerScore: Double
    /// The predicted candidate of each sample, in source order.
    public var predictions: [Int]
}

/// A result per corruption severity.
public struct SeverityResult: Codable, Equatable, Sendable {
    public var severity: Int
    public var result: EvaluationResult
}

/// Scores every candidate answer of every sample by `MultimodalModel.logLikelihood` (mean token
/// log-probability), predicts the argmax, and computes the metrics the paper reports.
public struct Evaluator {
    /// Images per forward pass (official `batch_size_eval`: 32).
    public var batchSize: Int
    /// The candidate counted as positive for ROC-AUC and POPE (when the source has both it and `negativeAnswer`).
    public var positiveAnswer = "yes", negativeAnswer = "no"
    /// Called after every batch of `scores` with the samples done so far and the total (progress bars).
    public var onBatch: ((_ done: Int, _ total: Int) -> Void)?
    /// How candidates are scored: mean token log-likelihood (official) or the answer's whole log-probability.
    public var scoring = CandidateScoring.mean

    public init(batchSize: Int = 32) {
        self.batchSize = batchSize
    }

    /// The model's input images for a batch of raw images [B, 3, H, W] in [0, 1] (the official
    /// test pipeline: bicubic resize of the shorter side, centre crop, then frame or prompt).
    public func inputs(_ images: Tensor, model: any MultimodalModel, protocol evaluation: EvaluationProtocol, draw: Int) throws -> Tensor {
        switch evaluation {
        case .zeroShotNative:
            return try ImagePipeline.tvpTest(imageSize: model.inputSize).apply(images, seed: 0)
        case .zeroShotOfficial(let frame):
            let inner = model.inputSize - 2 * frame
            try require(frame > 0 && inner > 0, "Evaluator", "a \(frame) px frame does not fit \(model.inputSize) px images")
            return try pad(ImagePipeline.tvpTest(imageSize: inner).apply(images, seed: 0), padding: [(frame, frame), (frame, frame)])
        case .prompted(_, let prompt):
            try require(prompt.imageSize == model.inputSize, "Evaluator",
                        "the prompt makes \(prompt.imageSize) px images but '\(model.name)' takes \(model.inputSize) px")
            return try prompt.apply(to: ImagePipeline.tvpTest(imageSize: prompt.inputSize).apply(images, seed: 0), draw: draw)
        }
    }

    /// Candidate scores [N][C] (C = `source.classNames`) and labels of the samples at `indices`
    /// (default: all), in order, without recording gradients.
    public func scores(model: any MultimodalModel, protocol evaluation: EvaluationProtocol, source: any PromptBatchSource,
                       indices: [Int]? = nil) throws -> (scores: [[Float]], labels: [Int]) {
        try require(batchSize > 0, "Evaluator", "batchSize must be positive, got \(batchSize)")
        let all = indices ?? Array(0..<source.count)
        var scores: [[Float]] = [], labels: [Int] = []
        let candidates = source.classNames
        for (b, start) in stride(from: 0, to: all.count, by: batchSize).enumerated() {
            let batch = try source.batch(Array(all[start..<min(start + batchSize, all.count)]))
            let table = try withoutGrad {
                try model.scores(images: inputs(batch.images, model: model, protocol: evaluation, draw: b),
                                 prompts: batch.questions, candidates: candidates, scoring: scoring)
            }
            let c = candidates.count
            for i in 0..<batch.count {
                let row = Array(UnsafeBufferPointer(start: table.data + i * c, count: c))
                if let j = row.firstIndex(where: { !$0.isFinite }) {
                    throw TensorError("Evaluator",
                        "'\(model.name)' under \(evaluation.name) scored candidate '\(candidates[j])' of item \(all[start + i]) as \(row[j]); "
                        + "a NaN or infinite score has no answer (check the prompt and the model's weights for NaN/Inf)")
                }
                scores.append(row)
            }
            labels += batch.labels
            onBatch?(labels.count, all.count)
        }
        return (scores, labels)
    }

    /// Evaluates `model` under `protocol` on `source`.
    public func evaluate(model: any MultimodalModel, protocol evaluation: EvaluationProtocol,
                         source: any PromptBatchSource) throws -> EvaluationResult {
        let (scores, labels) = try self.scores(model: model, protocol: evaluation, source: source)
        return result(model: model.name, protocolName: evaluation.name, scores: scores, labels: labels, candidates: source.classNames)
    }

    /// The metrics of given scores [N][C] (C = `candidates.count`) and labels.
    public func result(model: String, protocolName: String, scores: [[Float]], labels: [Int], candidates: [String]) -> EvaluationResult {
        let predictions = scores.map { row in row.indices.reduce(0) { row[$1] > row[$0] ? $1 : $0 } }
        let n = Double(max(scores.count, 1))
        var result = EvaluationResult(
            model: model, protocolName: protocolName, samples: scores.count,
            top1: Metrics.fraction(Metrics.topK(scores, labels: labels, k: 1)),
            top5: candidates.count > 5 ? Metrics.fraction(Metrics.topK(scores, labels: labels, k: 5)) : nil,
            rocAUC: nil, pope: nil,
            meanScore: scores.reduce(0) { $0 + Double($1.reduce(0, +)) / Double(max($1.count, 1)) } / n,
            meanAnswerScore: zip(scores, labels).reduce(0) { $0 + Double($1.0[$1.1]) } / n,
            predictions: predictions)
        if let yes = candidates.firstIndex(of: positiveAnswer), let no = candidates.firstIndex(of: negativeAnswer) {
            let actual = labels.map { $0 == yes }
            result.rocAUC = Metrics.rocAUC(scores: scores.map { Double($0[yes]) - Double($0[no]) }, positives: actual)
            result.pope = POPEMetrics(predictedYes: predictions.map { $0 == yes }, actualYes: actual)
        }
        return result
    }

    /// One evaluation per corruption severity (e.g. CIFAR-10-C severities 1…5), each on its own source.
    public func evaluateSeverities(model: any MultimodalModel, protocol evaluation: EvaluationProtocol,
                                   sources: [(severity: Int, source: any PromptBatchSource)]) throws -> [SeverityResult] {
        try sources.map { SeverityResult(severity: $0.severity, result: try evaluate(model: model, protocol: evaluation, source: $0.source)) }
    }
}
