import Foundation
import TVPEngine
import TVPModels
import TVPPipeline
import TVPPrompting
import TVPTensor
import XCTest

/// A real, tiny multimodal LLM: average-pooled image patches projected into a random 1-layer
/// LLaMA decoder; text is tokenized byte by byte. Everything computes (losses, gradients,
/// log-likelihoods), only small enough for debug-build tests.
final class TinyMLLM: MultimodalModel {
    let name: String
    let inputSize: Int
    let normalization = ImageNormalization.clip
    let llama: LlamaModel
    /// [D, 3]: each pooled patch's RGB mean → one visual token.
    let projector: Tensor
    let grid = 4

    init(name: String, inputSize: Int, seed: Int) throws {
        self.name = name
        self.inputSize = inputSize
        let config = LlamaConfig(hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2,
                                 numKeyValueHeads: 1, vocabSize: 64, maxPositionEmbeddings: 128)
        llama = try LlamaModel(config: config, weights: Weights(LlamaModel.randomWeights(config, seed: UInt64(seed)), source: name))
        projector = Tensor.randn([16, 3], std: 0.5, seed: UInt64(seed) &+ 1000)
    }

    func tokens(_ text: String) -> [Int] { text.utf8.map { Int($0) % 63 + 1 } }

    func visualTokens(images: Tensor) throws -> Tensor {
        let b = images.dim(0)
        let pooled = try adaptiveAvgPool2d(normalization(images), outputSize: (grid, grid))      // [B, 3, G, G]
        let patches = try pooled.reshaped([b, 3, grid * grid]).transposed(1, 2)                    // [B, T, 3]
        return try linear(patches, projector)                                                       // [B, T, D]
    }

    /// Mean token cross-entropy of `answer` after image b's visual tokens and `prompt`.
    func answerLoss(_ visual: Tensor, _ b: Int, prompt: String, answer: String) throws -> Tensor {
        let question = tokens(prompt), target = tokens(answer)
        let text = try llama.embed([question + target])
        let sequence = try concat([try slice(visual, axis: 0, range: b..<(b + 1)), text], axis: 1)
        let hidden = try llama.forward(inputEmbeddings: sequence)
        let start = visual.dim(1) + question.count - 1
        let logits = try llama.logits(hidden, positions: Array(start..<(start + target.count)))
        return try crossEntropy(logits.reshaped([target.count, llama.config.vocabSize]), targets: target)
    }

    func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor {
        let visual = try visualTokens(images: images)
        var total: Tensor?
        for b in 0..<images.dim(0) {
            let one = try answerLoss(visual, b, prompt: prompts[b], answer: answers[b])
            total = try total.map { try $0 + one } ?? one
        }
        return total! * (1 / Float(images.dim(0)))
    }

    func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor {
        let visual = try visualTokens(images: images)
        let out = Tensor(zeros: [images.dim(0), candidates.count])
        for b in 0..<images.dim(0) {
            for (c, candidate) in candidates.enumerated() {
                out.data[b * candidates.count + c] = -(try answerLoss(visual, b, prompt: prompts[b], answer: candidate).item)
            }
        }
        return out
    }

    func candidateTokenCounts(_ candidates: [String]) throws -> [Int] { candidates.map { tokens($0).count } }
}

/// A tiny CLIP-like TSE guide: pooled pixels → linear image features; mean byte embeddings → text features.
final class TinyGuide: TSEGuide {
    let inputSize: Int
    let logitScale = Float(log(10.0))
    let imageProjection: Tensor   // [E, 12]
    let textTable: Tensor         // [64, E]

    init(inputSize: Int, seed: Int) {
        self.inputSize = inputSize
        imageProjection = Tensor.randn([8, 12], std: 0.5, seed: UInt64(seed))
        textTable = Tensor.randn([64, 8], seed: UInt64(seed) &+ 1)
    }

    func imageFeatures(_ images: Tensor) throws -> Tensor {
        let pooled = try adaptiveAvgPool2d(images, outputSize: (2, 2)).reshaped([images.dim(0), 12])
        return try linear(pooled, imageProjection)
    }

    func textFeatures(_ texts: [String]) throws -> Tensor {
        let rows = try texts.map { text -> Tensor in
            let ids = text.utf8.map { Int($0) % 64 }
            return try embedding(ids: ids, shape: [1, ids.count], table: textTable).mean(axis: 1)
        }
        return try concat(rows, axis: 0)
    }
}

/// Builds tiny models; training and evaluation are the real ones (`PromptTrainer`, `Evaluator`,
/// through the protocol's defaults). Counts its calls, and can be told to fail the next training of
/// a variant once (a crash to resume from).
final class TinyBackend: PipelineBackend, @unchecked Sendable {
    let modelFamilies = ["tiny-mllm"]
    let guideFamilies = ["tiny-guide"]
    private let lock = NSLock()
    private(set) var trainings: [String] = []
    private(set) var predictions = 0
    /// The training jobs by "TASK/VARIANT", as the stages built them.
    private(set) var jobs: [String: PromptTrainingJob] = [:]
    var failNextTraining: String?
    /// Fails, once, the next training that continues a halving rung from this step (a crash between rungs).
    var failNextTrainingContinuingFrom: Int?
    /// Training steps run so far, counted from the loss curves the trainings returned.
    private(set) var trainedSteps = 0
    /// What `weightFiles` answers for every model (nil: the whole folder).
    var weightFilesOfEveryModel: [String]?

    func weightFiles(family: String, name: String, options: JSONValue) -> [String]? { weightFilesOfEveryModel }

    func makeModel(_ build: ModelBuild) throws -> any MultimodalModel {
        try TinyMLLM(name: build.name, inputSize: build.options["input_size"]?.intValue ?? 16, seed: build.randomSeed ?? 0)
    }

    func makeGuide(_ build: ModelBuild) throws -> any TSEGuide {
        TinyGuide(inputSize: 16, seed: build.randomSeed ?? 0)
    }

    func trainPrompt(_ job: PromptTrainingJob, progress: StageProgress) throws -> TrainedPrompt {
        let tag = "\(job.task)/\(job.variant.rawValue)"
        lock.lock()
        trainings.append(tag)
        jobs[tag] = job
        let continuing = job.continuing.map(\.step)
        let fail = failNextTraining == tag || (continuing != nil && failNextTrainingContinuingFrom == continuing)
        if fail { (failNextTraining, failNextTrainingContinuingFrom) = (nil, nil) }
        lock.unlock()
        if fail { throw PipelineError.stage("train[\(tag)]", "simulated crash") }
        let trained = try trainWithPromptTrainer(job, progress: progress)
        lock.lock(); trainedSteps += trained.curve.count; lock.unlock()
        return trained
    }

    func evaluate(_ job: EvaluationJob, progress: StageProgress) throws -> EvaluationResult {
        lock.lock(); predictions += 1; lock.unlock()
        return try evaluateWithEvaluator(job, progress: progress)
    }

    func resetCounts() {
        lock.lock(); trainings = []; predictions = 0; jobs = [:]; trainedSteps = 0; lock.unlock()
    }
}
