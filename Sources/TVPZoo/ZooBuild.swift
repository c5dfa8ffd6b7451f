import Foundation
import TVPData
import TVPFormats
import TVPModels
import TVPTensor

/// What the zoo build (Pipelines/zoo.yaml, compiled into stages by TVPPipeline) trains on and for
/// how long. The defaults are the committed zoo's.
public struct ZooBuildOptions: Sendable, Equatable {
    /// Connector corpus: train images per class from Fashion-MNIST's train split and from
    /// mnist-5k's zoo train rows, and rendered CLEVR-style train scenes (`clevrSeed`; the default
    /// pipelines render theirs from seed 0, so the zoo's scenes are not theirs).
    public var fashionPerClass = 40, mnistPerClass = 40, clevrScenes = 1000
    /// POPE probes per training scene (yes and no alternate), with `probeSetting`'s negatives.
    /// Random, not adversarial: over one split, adversarial (and popular) negatives are the same few
    /// categories again and again (1000 seed-1 scenes: "purple cube" is 439 of 1000 negatives), so
    /// the question's wording alone gives the answer and a connector learns the wording, not the image.
    public var probesPerScene = 4, probeSetting = "random"
    /// Also ask every scene "Describe the image." answered by all its objects (`Zoo.sceneDescription`):
    /// a caption with one supervised token per object word, as LLaVA's first stage learns from captions.
    public var describeScenes = true
    public var clevrSeed: UInt64 = 1
    /// ViT pretraining (`vitPerClass` images per Fashion-MNIST/MNIST class plus `vitClevrScenes`
    /// scenes classed by their object count and tagged with their object categories,
    /// `ZooViT.pretrain`). Counting needs many scenes and steps:
    /// on 200 held-out scenes the pretrained head counts 18.5 % right after 400 steps over 1400
    /// scenes, 23 % after 2400, 26 % after 2400 over 4600 scenes (chance 12.5 %).
    public var vitPerClass = 300, vitClevrScenes = 4800, vitSteps = 2400, vitBatchSize = 64, vitLR: Float = 1e-3
    /// Connector training.
    public var connector = ZooTrainingOptions(epochs: 1, batchSize: 8, lr: 1e-3, seed: 42, logEvery: 25)
    /// Guide projections: InfoNCE steps on cached pooled EfficientNet features of `vitPerClass`
    /// images per Fashion-MNIST/MNIST class and `guideClevrScenes` scenes.
    public var guideClevrScenes = 1600, guideSteps = 400, guideBatchSize = 64, guideLR: Float = 2e-3
    /// Zero-shot table: `evaluationCount` test images of Fashion-MNIST and of mnist-5k's test rows
    /// (evenly spaced), and `evaluationScenes` scenes of the render split `val` from seed 0 (the scenes
    /// Pipelines/clevr.yaml and pope.yaml test on) with their adversarial POPE probes.
    public var evaluationCount = 200, evaluationScenes = 100
    public var seed: UInt64 = 42
    /// Which models to train (all by default).
    public var models = Zoo.modelNames

    public init() {}

    /// A minute-sized build for tests and smoke runs: every stage runs, nothing is learned well.
    public static var tiny: ZooBuildOptions {
        var o = ZooBuildOptions()
        (o.fashionPerClass, o.mnistPerClass, o.clevrScenes, o.probesPerScene) = (1, 1, 8, 2)
        (o.vitPerClass, o.vitClevrScenes, o.vitSteps, o.vitBatchSize) = (2, 16, 2, 8)
        (o.guideClevrScenes, o.guideSteps, o.guideBatchSize) = (16, 2, 8)
        (o.evaluationCount, o.evaluationScenes) = (4, 4)
        o.connector.batchSize = 4
        return o
    }
}

/// One row of the zero-shot table.
public struct ZooZeroShot: Sendable, Equatable, Codable {
    public var model: String
    public var dataset: String
    public var accuracy: Double
    public var chance: Double

    public init(model: String, dataset: String, accuracy: Double, chance: Double) {
        (self.model, self.dataset, self.accuracy, self.chance) = (model, dataset, accuracy, chance)
    }
}

/// A zoo's zero-shot accuracies (what a build measures on the files it wrote, and `tvp-run zoo evaluate`).
public struct ZooBuildReport: Sendable {
    public var zeroShot: [ZooZeroShot] = []

    public init() {}

    /// The zero-shot table as Markdown.
    public var zeroShotTable: String {
        let sets = Array(Set(zeroShot.map(\.dataset))).sorted()
        var lines = ["| model | " + sets.joined(separator: " | ") + " |", "|---|" + sets.map { _ in "---:|" }.joined()]
        for model in Zoo.modelNames where zeroShot.contains(where: { $0.model == model }) {
            let cells = sets.map { s in zeroShot.first { $0.model == model && $0.dataset == s }.map { String(format: "%.1f%%", 100 * $0.accuracy) } ?? "–" }
            lines.append("| \(model) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }
}

extension Zoo {
    /// The prompt pieces of `question` in the SmolLM2 chat template.
    public static func promptTokens(_ tokenizer: any Tokenizer, question: String) throws -> PromptTokens {
        let (before, after) = PromptTemplate.smolLM2Chat.filled(question: question)
        return PromptTokens(beforeImage: tokenizer.encode(before), afterImage: tokenizer.encode(after))
    }
}
