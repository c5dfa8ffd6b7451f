import Foundation
import TVPModels
import TVPTensor

/// The zoo's small ViT (CLIP layout, `VisionTransformer`): 128 px, patch 32 (4×4 = 16 patch tokens),
/// width 192, 4 layers, 3 heads, trained from scratch by `Zoo.build` as a 28-way classifier
/// (Fashion-MNIST's 10 classes, MNIST's 10 digits, then the object counts 3…10 of rendered scenes)
/// on the train splits, then frozen. Its zoo encoder takes every token after the last block, the
/// class token first (it holds what the pretraining taught, the count among it; BLIP-2 keeps it too).
public enum ZooViT {
    public static let config: VisionTransformer.Config = {
        var c = VisionTransformer.Config(imageSize: Zoo.imageSize, patchSize: 32, width: 192, layers: 4, heads: 3, outputDim: 192)
        c.activation = .gelu
        return c
    }()
    /// Pixels in [0, 1] are mapped to [−1, 1].
    public static let normalization = ImageNormalization(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    /// Tensor-name prefix of the tower in its weight file ("head." holds the pretraining classifier).
    public static let prefix = "visual."

    /// The tower from its weights (names under `visual.`; a `head.*` classifier may be present and is ignored).
    public static func tower(weights: [String: Tensor], source: String) throws -> VisionTransformer {
        let w = Weights(weights, source: source)
        let tower = try VisionTransformer(weights: w, prefix: prefix, heads: config.heads, activation: config.activation)
        w.ignore { $0.hasPrefix("head.") }
        try w.finish()
        try require(tower.config.imageSize == config.imageSize && tower.config.width == config.width, "ZooViT",
                    "\(source): a tower of \(tower.config.imageSize) px and width \(tower.config.width), expected \(config.imageSize) px and \(config.width)")
        return tower
    }

    /// The zoo encoder over `tower`: the class token and the 16 patch tokens after the last block, [B, 17, 192].
    public static func encoder(_ tower: VisionTransformer) throws -> CLIPVisionEncoder {
        try CLIPVisionEncoder(tower: tower, layer: -1, keepsClassToken: true, normalization: normalization)
    }

    /// Seeded random weights in the tower's names plus the classifier `head.{weight,bias}` [classes, 192].
    public static func randomWeights(classes: Int, seed: UInt64) -> [String: Tensor] {
        var w = VisionTransformer.randomWeights(config, seed: seed, prefix: prefix)
        let head = LinearLayer(inputs: config.outputDim, outputs: classes, seed: seed &+ 77)
        w.merge(head.named("head.")) { a, _ in a }
        return w
    }

    /// Classification pretraining: AdamW (lr `lr`, weight decay 0.05), cross-entropy of
    /// head(tower(normalize(images))) over `steps` seeded minibatches of `batchSize`; every weight in
    /// `weights` is trained in place. Returns the mean loss of the first and of the last 10% of steps.
    @discardableResult
    public static func pretrain(weights: [String: Tensor], images: Tensor, labels: [Int], steps: Int, batchSize: Int,
                                lr: Float, seed: UInt64, log: (String) -> Void = { print($0) }) throws -> (first: Float, last: Float) {
        let n = images.dim(0)
        try require(labels.count == n && n >= batchSize, "ZooViT.pretrain", "\(n) images, \(labels.count) labels, batch \(batchSize)")
        let tower = try VisionTransformer(weights: Weights(weights, source: "pretraining"), prefix: prefix, heads: config.heads, activation: config.activation)
        let head = LinearLayer(weight: weights["head.weight"]!, bias: weights["head.bias"])
        let params = weights.sorted { $0.key < $1.key }.map(\.value)
        for p in params { p.requiresGrad = true }
        defer { for p in params { p.requiresGrad = false } }
        let optimizer = try AdamW(weightDecay: 0.05)
        let flat = try images.reshaped([n, -1])
        var order = Sampling.shuffledIndices(count: n, seed: seed), cursor = 0, epoch = 0
        var losses: [Float] = []
        let start = Date()
        for step in 0..<steps {
            if cursor + batchSize > n { epoch += 1; order = Sampling.shuffledIndices(count: n, seed: seed, epoch: epoch); cursor = 0 }
            let batch = Array(order[cursor..<(cursor + batchSize)]); cursor += batchSize
            let x = try gatherRows(flat, batch).reshaped([batchSize] + Array(images.shape.dropFirst()))
            let lrNow = lr * 0.5 * (1 + cos(Float.pi * Float(step) / Float(steps)))
            let loss = try crossEntropy(head(tower(normalization(x))), targets: batch.map { labels[$0] })
            try loss.backward()
            try optimizer.step(params, lr: lrNow)
            optimizer.zeroGrad(params)
            losses.append(loss.data[0])
            if step % 50 == 0 || step == steps - 1 {
                log(String(format: "  vit pretraining step %d/%d  loss %.4f  %.0f s", step + 1, steps, loss.data[0], Date().timeIntervalSince(start)))
            }
        }
        let tenth = max(1, steps / 10)
        return (losses.prefix(tenth).reduce(0, +) / Float(tenth), losses.suffix(tenth).reduce(0, +) / Float(tenth))
    }
}
