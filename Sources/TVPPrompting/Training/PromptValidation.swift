import Foundation
import TVPModels
import TVPTensor

/// Held-out training items on which `PromptTrainer` scores the prompt every `every` steps (and
/// before the first), keeping the prompt that scored best, as the official code keeps
/// `checkpoint_best`. Each point is measured on the surrogates with the evaluation's own image
/// pipeline and candidate scoring, so validation accuracy is what the test split will measure.
public struct PromptValidation {
    public var source: any PromptBatchSource
    /// Validate after every `every` steps (and after the last step).
    public var every: Int
    /// How candidates are scored (the task's `scoring:`).
    public var scoring: CandidateScoring
    /// Images per forward pass.
    public var batchSize: Int

    /// Throws for an empty source or a period below 1.
    public init(source: any PromptBatchSource, every: Int, scoring: CandidateScoring = .mean, batchSize: Int = 32) throws {
        try require(source.count > 0, "PromptValidation", "the validation set is empty")
        try require(every > 0 && batchSize > 0, "PromptValidation", "every and batchSize must be positive, got \(every) and \(batchSize)")
        self.source = source
        self.every = every
        self.scoring = scoring
        self.batchSize = batchSize
    }

    /// Splits `source` into training items and `count` validation items. The validation items are a
    /// fixed sample (a Fisher–Yates shuffle seeded by the item count alone), so every training seed
    /// and every sweep point validates on the same items; both keep the source's order.
    public static func holdOut(_ source: any PromptBatchSource, count: Int) throws -> (train: SubsetSource, validation: SubsetSource) {
        try require(count > 0 && count < source.count, "PromptValidation.holdOut",
                    "cannot hold out \(count) of \(source.count) training items for validation: keep at least one for training")
        var order = Array(0..<source.count)
        var rng = RandomGenerator(seed: mixSeed(0x76616c, UInt64(source.count)))
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        let held = Set(order.prefix(count))
        let all = Array(0..<source.count)
        return (SubsetSource(source, indices: all.filter { !held.contains($0) }), SubsetSource(source, indices: all.filter(held.contains)))
    }
}

/// One validation measurement.
public struct ValidationPoint: Codable, Equatable, Sendable {
    /// Training steps done when it was measured (0: the initial prompt).
    public var step: Int
    /// Top-1 accuracy (0…1), averaged over the surrogates.
    public var accuracy: Double
    /// The right answer's mean negative log-likelihood per token, averaged over items and surrogates.
    public var loss: Double
    /// Validation items.
    public var n: Int

    public init(step: Int, accuracy: Double, loss: Double, n: Int) {
        self.step = step
        self.accuracy = accuracy
        self.loss = loss
        self.n = n
    }

    /// Whether this point beats `other`: higher accuracy, or the same accuracy at a lower loss.
    public func isBetter(than other: ValidationPoint) -> Bool {
        accuracy > other.accuracy || (accuracy == other.accuracy && loss < other.loss)
    }
}

/// The items of `base` at `indices`, in that order.
public struct SubsetSource: PromptBatchSource {
    public let base: any PromptBatchSource
    public let indices: [Int]

    public init(_ base: any PromptBatchSource, indices: [Int]) {
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public var classNames: [String] { base.classNames }
    public func batch(_ items: [Int]) throws -> PromptBatch { try base.batch(items.map { indices[$0] }) }
}

extension PromptTrainer {
    /// The current prompt's validation point after `step` steps: every surrogate scores every
    /// candidate of every held-out item (the test image pipeline, no gradient).
    public func validate(_ validation: PromptValidation, step: Int) throws -> ValidationPoint {
        var evaluator = Evaluator(batchSize: validation.batchSize)
        evaluator.scoring = .mean
        var accuracy = 0.0, loss = 0.0
        for model in surrogates {
            let (means, labels) = try evaluator.scores(model: model, protocol: .prompted(name: "validation", prompt: prompt),
                                                       source: validation.source)
            let lengths = validation.scoring == .sum ? try model.candidateTokenCounts(validation.source.classNames).map(Float.init) : nil
            var correct = 0
            for (row, label) in zip(means, labels) {
                let scores = lengths.map { zip(row, $0).map(*) } ?? row
                let best = scores.indices.reduce(0) { scores[$1] > scores[$0] ? $1 : $0 }
                if best == label { correct += 1 }
                loss -= Double(row[label])
            }
            accuracy += Double(correct) / Double(labels.count)
        }
        let m = Double(surrogates.count)
        return ValidationPoint(step: step, accuracy: accuracy / m, loss: loss / m / Double(validation.source.count), n: validation.source.count)
    }
}

/// What a person should hear about a finished training: the loss did not fall, or no validation
/// point beat the unprompted start.
public enum TrainingDiagnostics {
    /// A loss ratio (`lossRatio`) above this says the loss did not fall.
    public static let fallingRatio = 0.95

    /// The mean total loss of the last quarter of the steps against the first quarter's (nil with
    /// fewer than 4 steps).
    public static func lossRatio(_ totals: [Double]) -> Double? {
        guard totals.count >= 4 else { return nil }
        let quarter = totals.count / 4
        let first = totals.prefix(quarter).reduce(0, +) / Double(quarter)
        let last = totals.suffix(quarter).reduce(0, +) / Double(quarter)
        return first > 0 ? last / first : nil
    }

    /// Warnings, each a sentence: the last quarter's mean loss above 0.95 × the first quarter's
    /// (with the validation loss beside it, which batch order does not move); the best validation
    /// point no better than the initial prompt's.
    public static func warnings(totals: [Double], validation: [ValidationPoint]) -> [String] {
        var out: [String] = []
        if let ratio = lossRatio(totals), ratio > fallingRatio {
            let quarter = totals.count / 4
            var text = String(format: "the training loss did not fall: the last %d steps average %.3f, %.2f× the first %d steps' (learning shows as ≤ 0.95×)",
                              quarter, totals.suffix(quarter).reduce(0, +) / Double(quarter), ratio, quarter)
            if let first = validation.first, let last = validation.last, validation.count > 1 {
                text += String(format: "; the validation loss went from %.3f to %.3f", first.loss, last.loss)
                    + (last.loss < first.loss ? " on the same held-out items, a fall the batches' noise hides" : "")
            }
            out.append(text + "; see docs/training.md for learning rates and step counts that learn on the zoo")
        }
        if let start = validation.first(where: { $0.step == 0 }), validation.count > 1,
           !validation.contains(where: { $0.isBetter(than: start) }) {
            out.append(String(format: "no validation point beat the unprompted start (%.1f%% on %d held-out items): the kept prompt is the initial one",
                              100 * start.accuracy, start.n))
        }
        return out
    }
}
