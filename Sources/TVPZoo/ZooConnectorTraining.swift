import Foundation
import TVPData
import TVPModels
import TVPTensor

/// How a zoo connector is trained.
public struct ZooTrainingOptions: Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    /// Peak learning rate; cosine decay to 0 over all steps.
    public var lr: Float
    public var weightDecay: Double
    public var seed: UInt64
    /// Print a progress line every this many steps.
    public var logEvery: Int
    /// How a batch's answer tokens are averaged. Per sample by default: a scene description of 30
    /// tokens then weighs as much as a one-token count or yes/no, instead of drowning them.
    public var lossAveraging: AnswerLossAveraging

    public init(epochs: Int = 1, batchSize: Int = 8, lr: Float = 1e-3, weightDecay: Double = 0.01, seed: UInt64 = 42, logEvery: Int = 10,
                lossAveraging: AnswerLossAveraging = .perSample) {
        (self.epochs, self.batchSize, self.lr, self.weightDecay, self.seed, self.logEvery) = (epochs, batchSize, lr, weightDecay, seed, logEvery)
        self.lossAveraging = lossAveraging
    }
}

/// What a training run did.
public struct ZooTrainingReport: Sendable, Equatable {
    public var steps: Int
    /// Mean loss of the first and of the last epoch's steps (those this run took).
    public var firstLoss: Float, lastLoss: Float
    public var seconds: Double
}

/// Trains a connector (and the language model's LoRA adapters, when the model has them) through
/// the otherwise frozen language model on cached vision features with the answer-only LM loss.
/// Deterministic given the seed (shuffles via `Sampling.shuffledIndices`); resumable at epoch
/// granularity: after every epoch the weights and the epoch count go to `checkpoint`, and a later
/// run with the same checkpoint path continues after the last finished epoch (AdamW's moments
/// restart there).
public enum ZooConnectorTrainer {
    /// - features: [N, T, C] cached tower features, one row per image.
    /// - samples: (image row, prompt tokens, answer tokens) triples.
    public static func train(model: ComposedMLLM, features: Tensor, samples: [(image: Int, prompt: PromptTokens, answer: [Int])],
                             options o: ZooTrainingOptions, checkpoint: String? = nil,
                             log: (String) -> Void = { print($0) }) throws -> ZooTrainingReport {
        let op = "ZooConnectorTrainer"
        try require(features.rank == 3 && !samples.isEmpty && o.batchSize >= 1 && o.epochs >= 1, op,
                    "features \(describe(features.shape)), \(samples.count) samples, batch \(o.batchSize), \(o.epochs) epochs")
        let connector = model.connector, lora = model.language.lora
        let named = Zoo.trainedParameters(model)
        let params = named.sorted { $0.key < $1.key }.map(\.value)
        var firstEpoch = 0
        if let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            let file = try SafetensorsFile(path: checkpoint)
            if file.metadata["seed"] == String(o.seed), let done = file.metadata["epochs"].flatMap(Int.init) {
                for (name, p) in named {
                    let saved = try file.tensor(name)
                    try require(saved.shape == p.shape, op, "\(checkpoint): '\(name)' \(describe(saved.shape)) differs from \(describe(p.shape))")
                    p.data.update(from: saved.data, count: p.count)
                }
                firstEpoch = min(done, o.epochs)
                log("  resuming \(model.name) after epoch \(firstEpoch) from \(checkpoint)")
            }
        }
        let n = samples.count
        let perEpoch = (n + o.batchSize - 1) / o.batchSize
        let total = perEpoch * o.epochs
        let flat = try features.reshaped([features.dim(0), -1])
        let tokenShape = Array(features.shape.dropFirst())
        let optimizer = try AdamW(weightDecay: o.weightDecay)
        connector.setTrainable(true); lora?.setTrainable(true)
        let averaging = model.lossAveraging
        model.lossAveraging = o.lossAveraging
        defer { connector.setTrainable(false); lora?.setTrainable(false); model.lossAveraging = averaging }
        let start = Date()
        var first: Float = 0, last: Float = 0, steps = 0
        for epoch in firstEpoch..<o.epochs {
            let order = Sampling.shuffledIndices(count: n, seed: o.seed, epoch: epoch)
            var sum: Float = 0, count = 0
            for (k, batch) in try Sampling.batches(order, size: o.batchSize).enumerated() {
                let step = epoch * perEpoch + k
                let lr = o.lr * 0.5 * (1 + cos(Float.pi * Float(step) / Float(total)))
                let chosen = batch.map { samples[$0] }
                let x = try gatherRows(flat, chosen.map(\.image)).reshaped([batch.count] + tokenShape)
                let loss = try model.loss(visualTokens: model.connect(x, promptTokens: chosen.map(\.prompt)), promptTokens: chosen.map(\.prompt), answerTokens: chosen.map(\.answer))
                try loss.backward()
                try optimizer.step(params, lr: lr)
                optimizer.zeroGrad(params)
                sum += loss.data[0]; count += 1; steps += 1
                if k % o.logEvery == 0 || k == perEpoch - 1 {
                    log(String(format: "  %@ epoch %d/%d step %d/%d  loss %.4f (mean %.4f)  lr %.2e  %.0f s", model.name, epoch + 1, o.epochs,
                               k + 1, perEpoch, loss.data[0], sum / Float(count), lr, Date().timeIntervalSince(start)))
                }
            }
            if epoch == firstEpoch { first = sum / Float(max(count, 1)) }
            last = sum / Float(max(count, 1))
            if let checkpoint {
                try FileManager.default.createDirectory(atPath: (checkpoint as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Safetensors.write(named, metadata: ["seed": String(o.seed), "epochs": String(epoch + 1)], to: checkpoint)
            }
        }
        return ZooTrainingReport(steps: steps, firstLoss: first, lastLoss: last, seconds: Date().timeIntervalSince(start))
    }
}
