import TVPTensor

/// The CLIP ViT image tower in OpenAI's layout (`visual.*` names of the released state dicts):
/// patch conv without bias, class token, positional embedding, ln_pre, pre-norm residual blocks
/// (fused in-projection attention, QuickGELU or GELU MLP), ln_post on the class token, projection.
///
/// Shapes: image [B, 3, S, S] → tokens [B, N, D] with N = (S/P)² + 1 → output [B, E].
public struct VisionTransformer {
    public struct Config: Equatable, Sendable {
        public var imageSize: Int, patchSize: Int, width: Int, layers: Int, heads: Int, outputDim: Int
        public var layerNormEps: Float = 1e-5
        public var activation: CLIPActivation = .quickGELU

        public init(imageSize: Int, patchSize: Int, width: Int, layers: Int, heads: Int, outputDim: Int) {
            (self.imageSize, self.patchSize, self.width, self.layers, self.heads, self.outputDim) =
                (imageSize, patchSize, width, layers, heads, outputDim)
        }

        /// ViT-B/32 as in CLIP: 224 px, patch 32, width 768, 12 layers, 12 heads, 512-d output.
        public static let b32 = Config(imageSize: 224, patchSize: 32, width: 768, layers: 12, heads: 12, outputDim: 512)

        public var gridSize: Int { imageSize / patchSize }
        public var tokens: Int { gridSize * gridSize + 1 }

        /// Multiply-adds ×2 of one image's forward pass (GEMMs and attention products only).
        public var forwardFLOPs: Double {
            let n = Double(tokens), d = Double(width), p = Double(patchSize)
            let patch = 2 * Double(gridSize * gridSize) * 3 * p * p * d
            let block = 2 * n * d * (3 * d + d + 8 * d) + 2 * 2 * n * n * d
            return patch + Double(layers) * block + 2 * d * Double(outputDim)
        }

        /// What `callAsFunction` actually executes: the last block computes the class token alone.
        public var executedForwardFLOPs: Double {
            guard layers > 0 else { return forwardFLOPs }
            let n = Double(tokens), d = Double(width)
            let fullBlock = 2 * n * d * (3 * d + d + 8 * d) + 2 * 2 * n * n * d
            let lastBlock = 2 * n * d * (2 * d) + 2 * d * (d + d + 8 * d) + 2 * 2 * n * d
            return forwardFLOPs - fullBlock + lastBlock
        }
    }

    /// The shared CLIP block (kept under this name for callers of the image tower alone).
    public typealias Block = ResidualAttentionBlock

    public let config: Config
    public let conv1, classEmbedding, positionalEmbedding, lnPreWeight, lnPreBias, lnPostWeight, lnPostBias: Tensor
    /// The output projection [D, E]; nil for towers saved without one (HF `CLIPVisionModel`, as
    /// LLaVA ships it), whose output is then the ln_post'd class token [B, D] (HF's `pooler_output`).
    public let proj: Tensor?
    public let blocks: [Block]

    /// Loads from `weights` under `prefix` (e.g. "visual."), inferring the config from shapes as
    /// openai/CLIP's `build_model` does: width and patch from `conv1`, image size from the positional
    /// embedding, layers from the block count, output width from `proj` (D when absent). Heads default to width / 64
    /// (true for every OpenAI CLIP; pass `heads` for others, e.g. open_clip ViT-H/14 has 16 heads of 80).
    public init(weights w: Weights, prefix p: String = "visual.", heads: Int? = nil, activation: CLIPActivation = .quickGELU,
                layerNormEps: Float = 1e-5) throws {
        let conv = try w.take(p + "conv1.weight", shape: [-1, 3, -1, -1])
        let width = conv.dim(0), patch = conv.dim(-1)
        try require(conv.dim(2) == patch, "VisionTransformer", "\(w.source): conv1.weight \(describe(conv.shape)) has a non-square patch")
        let pos = try w.take(p + "positional_embedding", shape: [-1, width])
        let grid = Int(Double(pos.dim(0) - 1).squareRoot())
        try require(grid * grid + 1 == pos.dim(0), "VisionTransformer", "\(w.source): positional_embedding \(describe(pos.shape)) is not a square grid plus a class token")
        let layers = ResidualAttentionBlock.count(in: w, prefix: p + "transformer.resblocks.")
        let projection = try w.takeIfPresent(p + "proj", shape: [width, -1])
        let headCount = heads ?? max(1, width / 64)
        try require(headCount > 0 && width % headCount == 0, "VisionTransformer", "\(w.source): width \(width) does not split into \(headCount) heads")
        var cfg = Config(imageSize: grid * patch, patchSize: patch, width: width, layers: layers, heads: headCount, outputDim: projection?.dim(1) ?? width)
        cfg.activation = activation
        cfg.layerNormEps = layerNormEps
        config = cfg
        conv1 = conv
        positionalEmbedding = pos
        proj = projection
        classEmbedding = try w.take(p + "class_embedding", shape: [width])
        lnPreWeight = try w.take(p + "ln_pre.weight", shape: [width])
        lnPreBias = try w.take(p + "ln_pre.bias", shape: [width])
        lnPostWeight = try w.take(p + "ln_post.weight", shape: [width])
        lnPostBias = try w.take(p + "ln_post.bias", shape: [width])
        blocks = try (0..<layers).map { i in
            try ResidualAttentionBlock(weights: w, prefix: p + "transformer.resblocks.\(i).", width: width)
        }
    }

    /// Random weights in the checkpoint's names (for benchmarks and tests), CLIP-like scales.
    public static func randomWeights(_ c: Config, seed: UInt64, prefix p: String = "visual.") -> [String: Tensor] {
        var seedCounter = seed
        func randn(_ shape: [Int], _ std: Float) -> Tensor { seedCounter &+= 1; return Tensor.randn(shape, std: std, seed: seedCounter) }
        let d = c.width
        var w: [String: Tensor] = [
            p + "conv1.weight": randn([d, 3, c.patchSize, c.patchSize], 0.02),
            p + "class_embedding": randn([d], 0.02),
            p + "positional_embedding": randn([c.tokens, d], 0.01),
            p + "ln_pre.weight": Tensor(repeating: 1, shape: [d]), p + "ln_pre.bias": Tensor(zeros: [d]),
            p + "ln_post.weight": Tensor(repeating: 1, shape: [d]), p + "ln_post.bias": Tensor(zeros: [d]),
            p + "proj": randn([d, c.outputDim], 1 / Float(d).squareRoot()),
        ]
        for i in 0..<c.layers {
            w.merge(ResidualAttentionBlock.randomWeights(width: d, prefix: p + "transformer.resblocks.\(i).", seed: &seedCounter)) { a, _ in a }
        }
        return w
    }

    /// Patch embedding, class token, positions and ln_pre: [B, 3, S, S] → [B, N, D]
    /// (HF's `hidden_states[0]`).
    public func embed(_ image: Tensor) throws -> Tensor {
        let c = config
        try require(image.rank == 4 && image.dim(1) == 3 && image.dim(2) == c.imageSize && image.dim(3) == c.imageSize,
                    "VisionTransformer", "image \(describe(image.shape)) should be [B, 3, \(c.imageSize), \(c.imageSize)]")
        let b = image.dim(0), d = c.width, g = c.gridSize
        // Patch embedding: [B, D, g, g] → [B, g², D].
        let patches = try conv2d(image, conv1, nil, stride: (c.patchSize, c.patchSize))
        let seq = try patches.reshaped([b, d, g * g]).transposed(1, 2)
        let cls = try classEmbedding.reshaped([1, 1, d]).broadcast(to: [b, 1, d])
        let x = try concat([cls, seq], axis: 1) + positionalEmbedding
        return try layerNorm(x, weight: lnPreWeight, bias: lnPreBias, eps: c.layerNormEps)
    }

    /// Feature tap: all tokens [B, N, D] (class token first) after `layer` blocks, without ln_post;
    /// only those blocks run. Indexing follows HF's `hidden_states`: 0 is the embedding after
    /// ln_pre, k the output of block k, and negative values count from the end (−1: the last block,
    /// as BLIP-2 takes it; −2: the penultimate block, LLaVA's default `mm_vision_select_layer`).
    public func hiddenState(_ image: Tensor, layer: Int) throws -> Tensor {
        let count = blocks.count
        let resolved = layer < 0 ? count + 1 + layer : layer
        try require(resolved >= 0 && resolved <= count, "VisionTransformer.hiddenState",
                    "layer \(layer) is outside -\(count + 1)...\(count) for a tower of \(count) blocks")
        var x = try embed(image)
        for block in blocks[0..<resolved] {
            x = try block(x, heads: config.heads, activation: config.activation, eps: config.layerNormEps, causal: false)
        }
        return x
    }

    /// All tokens after the last block (before ln_post): [B, N, D]. Same as `hiddenState(image, layer: -1)`.
    public func tokens(_ image: Tensor) throws -> Tensor {
        try hiddenState(image, layer: -1)
    }

    /// ln_post on the class token, then the projection (when present): tokens [B, N, D] → [B, E].
    public func pool(_ tokens: Tensor) throws -> Tensor {
        try require(tokens.rank == 3 && tokens.dim(2) == config.width, "VisionTransformer.pool",
                    "tokens \(describe(tokens.shape)) should be [B, N, \(config.width)]")
        let cls = try select(tokens, axis: 1, index: 0)
        let pooled = try layerNorm(cls, weight: lnPostWeight, bias: lnPostBias, eps: config.layerNormEps)
        guard let proj else { return pooled }
        return try matmul(pooled, proj)
    }

    /// The projected image embedding [B, E] (not normalized). Only the class token is pooled, so
    /// the last block computes that token alone (keys and values still come from every token).
    public func callAsFunction(_ image: Tensor) throws -> Tensor {
        guard let last = blocks.last else { return try pool(embed(image)) }
        var x = try embed(image)
        for block in blocks.dropLast() {
            x = try block(x, heads: config.heads, activation: config.activation, eps: config.layerNormEps, causal: false)
        }
        return try pool(last(x, heads: config.heads, activation: config.activation, eps: config.layerNormEps, causal: false, queries: 1))
    }
}
