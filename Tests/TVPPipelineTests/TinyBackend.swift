import Foundation
import TVPPipeline
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
}

/// A tiny CLIP-like guide: pooled pixels → linear image features; mean byte embeddings → text features.
final class TinyGuide: GuideModel {
    let name: String
    let inputSize: Int
    let logitScale = Float(log(10.0))
    let imageProjection: Tensor   // [E, 12]
    let textTable: Tensor         // [64, E]

    init(name: String, inputSize: Int, seed: Int) {
        self.name = name
        self.inputSize = inputSize
        imageProjection = Tensor.randn([8, 12], std: 0.5, seed: UInt64(seed))
        textTable = Tensor.randn([64, 8], seed: UInt64(seed) &+ 1)
    }

    func imageFeatures(images: Tensor) throws -> Tensor {
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

/// Builds tiny models and trains prompts for real (task loss, FCA and TSE from TVPPrompting, the
/// official normalized-gradient update or SGD/AdamW, per-epoch cosine schedule). Counts its calls,
/// and can be told to fail the next training of a variant once (a crash to resume from).
final class TinyBackend: PipelineBackend, @unchecked Sendable {
    let modelFamilies = ["tiny-mllm"]
    let guideFamilies = ["tiny-guide"]
    private let lock = NSLock()
    private(set) var trainings: [String] = []
    private(set) var predictions = 0
    var failNextTraining: String?

    func makeModel(_ build: ModelBuild) throws -> MultimodalModel {
        try TinyMLLM(name: build.name, inputSize: build.options["input_size"]?.intValue ?? 16, seed: build.randomSeed ?? 0)
    }

    func makeGuide(_ build: ModelBuild) throws -> GuideModel {
        TinyGuide(name: build.name, inputSize: 16, seed: build.randomSeed ?? 0)
    }

    func trainPrompt(_ job: PromptTrainingJob, progress: StageProgress) throws -> TrainedPrompt {
        let tag = "\(job.task)/\(job.variant.rawValue)"
        lock.lock()
        trainings.append(tag)
        let fail = failNextTraining == tag
        if fail { failNextTraining = nil }
        lock.unlock()
        if fail { throw PipelineError.stage("train[\(tag)]", "simulated crash") }

        let prompt = Tensor(zeros: job.layout.shape, requiresGrad: true)
        let optimizer: Optimizer
        switch job.train.optimizer {
        case "sgd": optimizer = try SGD()
        case "adam": optimizer = try AdamW()
        default: optimizer = try TVPUpdate(mask: job.layout.mask())
        }
        let n = job.data.labels.count
        let stepsPerEpoch = (n + job.train.batch - 1) / job.train.batch
        let schedule: LearningRateSchedule = job.train.schedule == "cosine"
            ? try PerEpochLR(try CosineAnnealingLR(baseLR: Float(job.train.lr), tMax: job.train.epochs), stepsPerEpoch: stepsPerEpoch)
            : try ConstantLR(Float(job.train.lr))
        var generator = RandomGenerator(seed: UInt64(job.train.seed))
        var curve: [LossRecord] = []
        var step = 0
        for epoch in 0..<job.train.epochs {
            var order = Array(0..<n)
            order.shuffle(using: &generator)
            for start in stride(from: 0, to: n, by: job.train.batch) {
                let indices = Array(order[start..<min(n, start + job.train.batch)])
                let images = try job.layout.apply(prompt, to: try gatherRows(job.data.images, indices), indices: indices, seed: job.train.seed)
                let answers = indices.map { job.data.classNames[job.data.labels[$0]] }
                let questions = Array(repeating: job.data.question, count: indices.count)
                var task: Tensor?, fca: Tensor?, tse: Tensor?
                for (s, model) in job.surrogates.enumerated() {
                    let share = 1 / Float(job.surrogates.count)
                    let modelLoss = try model.loss(images: images, prompts: questions, answers: answers) * share
                    task = try task.map { try $0 + modelLoss } ?? modelLoss
                    if job.loss.fca > 0 {
                        let term = try featureConsistencyLoss(prompted: model.visualTokens(images: images),
                                                              clean: gatherRows(job.cleanFeatures[s], indices)) * share
                        fca = try fca.map { try $0 + term } ?? term
                    }
                }
                if job.loss.tse > 0, let guide = job.guide, let captions = job.captionFeatures {
                    tse = try taskSemanticsScore(imageFeatures: guide.imageFeatures(images: images),
                                                 textFeatures: gatherRows(captions, indices.map { job.data.labels[$0] }),
                                                 logitScale: guide.logitScale)
                }
                let total = try transferObjective(task: task!, fca: Float(job.loss.fca), featureConsistency: fca,
                                                  tse: Float(job.loss.tse), taskSemantics: tse)
                try total.backward()
                let lr = schedule.learningRate(at: step)
                try optimizer.step([prompt], lr: lr)
                optimizer.zeroGrad([prompt])
                curve.append(LossRecord(step: step, epoch: epoch, lr: Double(lr), total: Double(total.item), task: Double(task!.item),
                                        fca: fca.map { Double($0.item) }, tse: tse.map { Double($0.item) }))
                step += 1
                progress.update(completed: step, total: stepsPerEpoch * job.train.epochs, unit: "step")
            }
        }
        return TrainedPrompt(perturbation: prompt.detached(), curve: curve)
    }

    func predict(_ job: EvaluationJob, progress: StageProgress) throws -> [Int] {
        lock.lock(); predictions += 1; lock.unlock()
        return try predictByLikelihood(job, progress: progress)
    }

    func resetCounts() {
        lock.lock(); trainings = []; predictions = 0; lock.unlock()
    }
}
