import Foundation
import TVPData
import TVPModels
import TVPTensor

/// The zoo's small ViT (CLIP layout, `VisionTransformer`): 128 px, patch 16 (8×8 = 64 patch tokens),
/// width 192, 4 layers, 3 heads, trained from scratch by the zoo build as a 28-way classifier
/// (Fashion-MNIST's 10 classes, MNIST's 10 digits, then the object counts 3…10 of rendered scenes)
/// and, on the scenes, a 24-way object-presence tagger (which of POPE's "{color} {shape}"
/// categories are in the image), on the train splits, then frozen. Its zoo encoder (`ZooViTEncoder`)
/// takes the class token and the patch tokens after the last block, each 2×2 patches averaged.
public enum ZooViT {
    public static let config: VisionTransformer.Config = {
        var c = VisionTransformer.Config(imageSize: Zoo.imageSize, patchSize: 16, width: 192, layers: 4, heads: 3, outputDim: 192)
        c.activation = .gelu
        return c
    }()
    /// Pixels in [0, 1] are mapped to [−1, 1].
    public static let normalization = ImageNormalization(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    /// Tensor-name prefix of the tower in its weight file ("head." and "presence." hold the pretraining heads).
    public static let prefix = "visual."
    /// What the pretraining teaches and on which grid (a tower file's `objective` metadata). Patch
    /// 32 hardly sees which objects a scene holds: its features gave a linear probe ROC-AUC 0.58,
    /// and even with the presence tagger no question gate learned POPE from them (matching loss at
    /// ln 2); presence alone, 400 steps, held-out cross-entropy 0.517 at patch 32, 0.461 at patch 16
    /// (0.550 for the base rate).
    public static let objective = "classes+presence\(CLEVRPOPE.categories.count) patch\(config.patchSize)"

    /// The tower from its weights (names under `visual.`; the pretraining heads `head.*`, `presence.*` may be present and are ignored).
    public static func tower(weights: [String: Tensor], source: String) throws -> VisionTransformer {
        let w = Weights(weights, source: source)
        let tower = try VisionTransformer(weights: w, prefix: prefix, heads: config.heads, activation: config.activation)
        w.ignore { $0.hasPrefix("head.") || $0.hasPrefix("presence.") }
        try w.finish()
        try require(tower.config.imageSize == config.imageSize && tower.config.width == config.width && tower.config.patchSize == config.patchSize,
                    "ZooViT", "\(source): a tower of \(tower.config.imageSize) px, patch \(tower.config.patchSize) and width \(tower.config.width), "
                        + "expected \(config.imageSize) px, patch \(config.patchSize) and \(config.width); rebuild it with `tvp-run Pipelines/zoo.yaml --set models=[zoo-vit-mlp]`")
        return tower
    }

    /// The zoo encoder over `tower`: the class token and 16 tokens of 2×2 patches each, [B, 17, 192].
    public static func encoder(_ tower: VisionTransformer) throws -> ZooViTEncoder {
        try ZooViTEncoder(inner: CLIPVisionEncoder(tower: tower, layer: -1, keepsClassToken: true, normalization: normalization))
    }

    /// Seeded random weights in the tower's names plus the classifier `head.{weight,bias}` [classes, 192]
    /// and the presence tagger `presence.{weight,bias}` [2 · 24, 192] (absent, present logits per category).
    public static func randomWeights(classes: Int, seed: UInt64) -> [String: Tensor] {
        var w = VisionTransformer.randomWeights(config, seed: seed, prefix: prefix)
        let head = LinearLayer(inputs: config.outputDim, outputs: classes, seed: seed &+ 77)
        let presence = LinearLayer(inputs: config.outputDim, outputs: 2 * CLEVRPOPE.categories.count, seed: seed &+ 78)
        w.merge(head.named("head.")) { a, _ in a }
        w.merge(presence.named("presence.")) { a, _ in a }
        return w
    }

    /// Pretraining: AdamW (lr `lr`, weight decay 0.05, cosine) over `steps` seeded minibatches of
    /// `batchSize` of the cross-entropy of head(tower(normalize(images))) plus, for the images with
    /// `objects` (scenes: the indices of the `CLEVRPOPE.categories` in them; nil for the others), the
    /// mean two-way cross-entropy of each category's presence logits; every weight in `weights` is
    /// trained in place. Returns the mean loss of the first and of the last 10% of steps.
    @discardableResult
    public static func pretrain(weights: [String: Tensor], images: Tensor, labels: [Int], objects: [Set<Int>?], steps: Int, batchSize: Int,
                                lr: Float, seed: UInt64, log: (String) -> Void = { print($0) }) throws -> (first: Float, last: Float) {
        let n = images.dim(0), k = CLEVRPOPE.categories.count
        try require(labels.count == n && objects.count == n && n >= batchSize, "ZooViT.pretrain",
                    "\(n) images, \(labels.count) labels, \(objects.count) object sets, batch \(batchSize)")
        let tower = try VisionTransformer(weights: Weights(weights, source: "pretraining"), prefix: prefix, heads: config.heads, activation: config.activation)
        let head = LinearLayer(weight: weights["head.weight"]!, bias: weights["head.bias"])
        let presence = LinearLayer(weight: weights["presence.weight"]!, bias: weights["presence.bias"])
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
            let embedded = try tower(normalization(x))
            var loss = try crossEntropy(head(embedded), targets: batch.map { labels[$0] })
            let rows = batch.indices.filter { objects[batch[$0]] != nil }          // the scenes of the batch
            if !rows.isEmpty {
                let logits = try gatherRows(presence(embedded), rows).reshaped([rows.count * k, 2])
                loss = try loss + crossEntropy(logits, targets: rows.flatMap { r in (0..<k).map { objects[batch[r]]!.contains($0) ? 1 : 0 } })
            }
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

/// A ViT's tokens after its last block with the patch grid merged 2×2 (each token the mean of a 2×2
/// block of patches, row-major), the class token first: [B, 1 + (g/2)², D] — as LLaVA-OneVision and
/// Qwen2-VL merge neighbouring patches, so the language model reads as many tokens as a patch-32
/// tower would give while the tower sees patch-16 detail.
public struct ZooViTEncoder: VisionEncoder {
    public let inner: CLIPVisionEncoder

    public init(inner: CLIPVisionEncoder) throws {
        let grid = inner.tower.config.imageSize / inner.tower.config.patchSize
        try require(inner.keepsClassToken && grid % 2 == 0, "ZooViTEncoder", "needs the class token and an even patch grid, got \(grid)×\(grid)")
        self.inner = inner
    }

    var grid: Int { inner.tower.config.imageSize / inner.tower.config.patchSize }
    public var inputSize: Int { inner.inputSize }
    public var normalization: ImageNormalization { inner.normalization }
    public var featureWidth: Int { inner.featureWidth }
    public var tokenCount: Int { 1 + (grid / 2) * (grid / 2) }

    public func features(_ images: Tensor) throws -> Tensor {
        let hidden = try inner.features(images)
        let (b, g, d) = (hidden.dim(0), grid, hidden.dim(2))
        let patches = try slice(hidden, axis: 1, range: 1..<hidden.dim(1)).reshaped([b, g / 2, 2, g / 2, 2, d])
        let merged = try patches.mean(axis: 4).mean(axis: 2).reshaped([b, (g / 2) * (g / 2), d])
        return try concat([slice(hidden, axis: 1, range: 0..<1), merged], axis: 1)
    }
}
