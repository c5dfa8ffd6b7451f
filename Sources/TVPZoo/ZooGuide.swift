import Foundation
import TVPData
import TVPModels
import TVPPrompting
import TVPTensor

/// The zoo's TSE guide, a CLIP-style pair trained by the zoo build:
///
///     image: EfficientNet-Lite0 pooled head [B, 1280] → image_projection → [B, 256]
///     text:  all-MiniLM-L6-v2 sentence embedding [N, 384] → text_projection → [N, 256]
///
/// Both towers are real and frozen; only the two linear projections and the logit scale are
/// trained, contrastively (InfoNCE) on cached features. Weight file names: `image_projection.*`,
/// `text_projection.*`, `logit_scale` [1] (the log of the scale, as CLIP stores it).
public final class ZooGuide: TSEGuide {
    /// The shared embedding width.
    public static let width = 256
    public let network: EfficientNetLite
    public let text: BERTEncoder
    public let tokenizer: any Tokenizer
    public let imageProjection: LinearLayer
    public let textProjection: LinearLayer
    /// log of the similarity scale [1].
    public let logScale: Tensor
    private var cache: [String: Tensor] = [:]

    public init(network: EfficientNetLite, text: BERTEncoder, tokenizer: any Tokenizer, weights: [String: Tensor], source: String) throws {
        let w = Weights(weights, source: source)
        imageProjection = try LinearLayer(weights: w, prefix: "image_projection.", inputs: network.config.headChannels, outputs: Self.width)
        textProjection = try LinearLayer(weights: w, prefix: "text_projection.", inputs: text.config.hiddenSize, outputs: Self.width)
        logScale = try w.take("logit_scale", shape: [1])
        try w.finish()
        (self.network, self.text, self.tokenizer) = (network, text, tokenizer)
    }

    public var inputSize: Int { Zoo.imageSize }
    public var logitScale: Float { logScale.data[0] }

    public func imageFeatures(_ images: Tensor) throws -> Tensor {
        let pooled = try network.features(EfficientNetVisionEncoder.liteNormalization(images), taps: [.pooled])[0]
        return try imageProjection(pooled)
    }

    public func textFeatures(_ captions: [String]) throws -> Tensor {
        let missing = Array(Set(captions.filter { cache[$0] == nil })).sorted()
        if !missing.isEmpty {
            let embedded = try withoutGrad { try textProjection(Self.sentenceEmbeddings(missing, text: text, tokenizer: tokenizer)) }
            for (i, caption) in missing.enumerated() { cache[caption] = try slice(embedded, axis: 0, range: i..<(i + 1)) }
        }
        return try concat(captions.map { cache[$0]! }, axis: 0)
    }

    /// all-MiniLM-L6-v2 sentence embeddings [N, 384] (normalized) of `captions`.
    public static func sentenceEmbeddings(_ captions: [String], text: BERTEncoder, tokenizer: any Tokenizer) throws -> Tensor {
        let batch = try BERTBatch(sequences: captions.map { tokenizer.encodeWithSpecials($0).map(Int32.init) })
        return try withoutGrad { try text.sentenceEmbeddings(batch) }
    }

    /// The largest similarity scale (CLIP clamps `logit_scale.exp()` at 100).
    public static let maxScale: Float = 100

    /// InfoNCE from images to captions: logits = min(exp(logScale), 100) · cos(imageProjection(x_b),
    /// textProjection(t_k)) [B, K]; the mean cross-entropy of each image's caption `targets[b]`.
    /// With one caption per class, this is CLIP's image→text loss with the classes as the batch's texts.
    public static func infoNCE(imageFeatures: Tensor, textFeatures: Tensor, targets: [Int], imageProjection: LinearLayer,
                               textProjection: LinearLayer, logScale: Tensor) throws -> Tensor {
        let image = try normalize(imageProjection(imageFeatures), axis: -1)      // [B, E]
        let text = try normalize(textProjection(textFeatures), axis: -1)         // [K, E]
        let scale = logScale.exp().clamp(max: maxScale)                         // [1]
        let logits = try matmul(image, text, transB: true) * scale              // [B, K]
        return try crossEntropy(logits, targets: targets)
    }

    /// Trains the projections and the scale with AdamW over `steps` seeded minibatches; returns the
    /// new weights (names as `init` reads them) and the mean loss of the first and last 10% of steps.
    public static func train(imageFeatures: Tensor, labels: [Int], textFeatures: Tensor, steps: Int, batchSize: Int, lr: Float,
                             seed: UInt64, log: (String) -> Void = { print($0) }) throws -> (weights: [String: Tensor], first: Float, last: Float) {
        let n = imageFeatures.dim(0)
        try require(imageFeatures.rank == 2 && labels.count == n && n >= batchSize && textFeatures.rank == 2, "ZooGuide.train",
                    "image features \(describe(imageFeatures.shape)), \(labels.count) labels, text \(describe(textFeatures.shape)), batch \(batchSize)")
        let imageProjection = LinearLayer(inputs: imageFeatures.dim(1), outputs: width, seed: seed)
        let textProjection = LinearLayer(inputs: textFeatures.dim(1), outputs: width, seed: seed &+ 1)
        let logScale = try Tensor([Float(Foundation.log(1 / 0.07))], shape: [1])
        let weights = imageProjection.named("image_projection.").merging(textProjection.named("text_projection.")) { a, _ in a }
            .merging(["logit_scale": logScale]) { a, _ in a }
        let params = weights.sorted { $0.key < $1.key }.map(\.value)
        for p in params { p.requiresGrad = true }
        defer { for p in params { p.requiresGrad = false } }
        let optimizer = try AdamW(weightDecay: 0.01)
        var order = Sampling.shuffledIndices(count: n, seed: seed), cursor = 0, epoch = 0
        var losses: [Float] = []
        for step in 0..<steps {
            if cursor + batchSize > n { epoch += 1; order = Sampling.shuffledIndices(count: n, seed: seed, epoch: epoch); cursor = 0 }
            let batch = Array(order[cursor..<(cursor + batchSize)]); cursor += batchSize
            let loss = try infoNCE(imageFeatures: gatherRows(imageFeatures, batch), textFeatures: textFeatures, targets: batch.map { labels[$0] },
                                   imageProjection: imageProjection, textProjection: textProjection, logScale: logScale)
            try loss.backward()
            try optimizer.step(params, lr: lr * 0.5 * (1 + cos(Float.pi * Float(step) / Float(steps))))
            optimizer.zeroGrad(params)
            losses.append(loss.data[0])
            if step % 100 == 0 || step == steps - 1 {
                log(String(format: "  guide step %d/%d  loss %.4f  scale %.1f", step + 1, steps, loss.data[0], Foundation.exp(logScale.data[0])))
            }
        }
        let tenth = max(1, steps / 10)
        return (weights.mapValues { $0.detached() }, losses.prefix(tenth).reduce(0, +) / Float(tenth), losses.suffix(tenth).reduce(0, +) / Float(tenth))
    }
}
