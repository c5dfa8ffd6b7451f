import Foundation
import TVPData
import TVPModels
import TVPTensor

/// One column of the zoo's zero-shot table: questions about unseen test images with one list of
/// candidate answers, asked as the pipelines ask them (official zero-shot input: framed clean images).
public struct ZooEvaluationTask {
    /// The column name ("fashion-mnist", "clevr-counting", …).
    public let name: String
    public let set: ZooImageSet
    /// The samples asked (rows of `set`), their answers among `candidates`.
    public let samples: [ZooSample]
    public let candidates: [String]
    /// How candidates are scored, as the task's pipeline scores them (counts: `sum`).
    public let scoring: CandidateScoring

    public init(name: String, set: ZooImageSet, samples: [ZooSample], candidates: [String], scoring: CandidateScoring = .mean) throws {
        let unknown = samples.filter { !candidates.contains($0.answer) }.map(\.answer)
        try require(!samples.isEmpty && unknown.isEmpty, "ZooEvaluationTask",
                    "\(name): \(samples.count) samples; answers \(Set(unknown).sorted()) are not among the candidates \(candidates)")
        (self.name, self.set, self.samples, self.candidates, self.scoring) = (name, set, samples, candidates, scoring)
    }

    /// Chance accuracy: one over the candidates.
    public var chance: Double { 1 / Double(candidates.count) }

    /// A classification set asked the official classification prompt, the class names as candidates.
    public static func classification(_ set: ZooImageSet) throws -> ZooEvaluationTask {
        try ZooEvaluationTask(name: set.name, set: set, samples: set.samples(asking: Zoo.classificationPrompt), candidates: set.classNames)
    }

    /// Rendered scenes asked CLEVR's counting question, the counts as candidates, scored by their
    /// whole log-probability (as Pipelines/clevr.yaml scores them: `scoring: sum`).
    public static func counting(_ set: ZooImageSet) throws -> ZooEvaluationTask {
        try ZooEvaluationTask(name: "clevr-counting", set: set, samples: set.samples(asking: CLEVR.countingQuestion), candidates: set.classNames,
                              scoring: .sum)
    }

    /// Rendered scenes asked their POPE probes, "no" and "yes" as candidates.
    public static func pope(_ set: ZooImageSet, setting: String) throws -> ZooEvaluationTask {
        let probes = set.samples.filter { $0.question.hasPrefix("Is there a ") }
        return try ZooEvaluationTask(name: "pope-\(setting)", set: set, samples: probes, candidates: POPE.candidates)
    }
}

extension Zoo {
    /// Zero-shot top-1 accuracy of `model` on `task`: argmax over the candidates of their score (the
    /// task's `scoring`, as the evaluator scores it) given each sample's framed clean image and question.
    public static func zeroShotAccuracy(_ model: ComposedMLLM, task: ZooEvaluationTask, batchSize: Int = 16) throws -> Double {
        let predicted = try zeroShotPredictions(model, task: task, batchSize: batchSize)
        return Double(zip(predicted, task.samples).filter { task.candidates[$0] == $1.answer }.count) / Double(task.samples.count)
    }

    /// The predicted candidate index of every sample of `task` (see `zeroShotAccuracy`).
    public static func zeroShotPredictions(_ model: ComposedMLLM, task: ZooEvaluationTask, batchSize: Int = 16) throws -> [Int] {
        var predictions: [Int] = []
        let flat = try task.set.images.reshaped([task.set.count, -1])
        let shape = Array(task.set.images.shape.dropFirst())
        for start in stride(from: 0, to: task.samples.count, by: batchSize) {
            let batch = Array(task.samples[start..<min(task.samples.count, start + batchSize)])
            let raw = try withoutGrad { try gatherRows(flat, batch.map(\.image)) }.reshaped([batch.count] + shape)
            predictions += try model.predict(images: framedImages(raw), prompts: batch.map(\.question), candidates: task.candidates, scoring: task.scoring)
        }
        return predictions
    }

    /// [samples, C]: each sample's candidate scores (the task's `scoring`) when the frozen language
    /// model of `model` reads the scene's true description (`sceneDescription`, the set's "Describe
    /// the image." answer) as text in the visual tokens' place: the same template, question and
    /// candidates as the zero-shot table, no image. What the frozen LM makes of a perfect caption is
    /// a reference for what any connector can hand it; nil when the set holds no descriptions.
    public static func descriptionScores(_ model: ComposedMLLM, task: ZooEvaluationTask) throws -> [[Float]]? {
        guard let tokenizer = model.tokenizer else { throw ZooError("\(model.name) has no tokenizer to read descriptions with") }
        var descriptions: [Int: String] = [:]
        for sample in task.set.samples(asking: describeQuestion) { descriptions[sample.image] = sample.answer }
        guard task.samples.allSatisfy({ descriptions[$0.image] != nil }) else { return nil }
        let candidates = try task.candidates.map { try model.candidateTokens($0) }
        return try withoutGrad {
            try task.samples.map { sample in
                let text = try model.language.embed([tokenizer.encode(descriptions[sample.image]!)])
                let mean = try model.logLikelihood(visualTokens: text, promptTokens: [model.promptTokens(question: sample.question)],
                                                   candidateTokens: candidates).toArray()
                return task.scoring == .sum ? zip(mean, candidates).map { $0 * Float($1.count) } : mean
            }
        }
    }

    /// The zero-shot table's columns: `count` test images of Fashion-MNIST and of mnist-5k's test
    /// rows, evenly spaced over each split (mnist-5k is sorted by label), and `scenes` scenes of render split `val` from seed 0 (rendered under
    /// `sceneRoot` when absent) asked CLEVR's counting question and their adversarial POPE probes.
    public static func evaluationTasks(assets: String, sceneRoot: String, count: Int, scenes: Int) throws -> [ZooEvaluationTask] {
        let val = try ZooImageSet.clevr(root: sceneRoot, split: "val", count: scenes, seed: 0, setting: "adversarial", probesPerImage: 6, describe: true)
        func spread(_ set: ZooImageSet) throws -> ZooImageSet { try set.subset((0..<min(count, set.count)).map { $0 * set.count / min(count, set.count) }) }
        return [try .classification(spread(ZooImageSet.fashionMNIST(split: "test", assets: assets))),
                try .classification(spread(ZooImageSet.mnist(split: "test", assets: assets))),
                try .counting(val), try .pope(val, setting: "adversarial")]
    }
}
