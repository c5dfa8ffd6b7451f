import TVPTensor

/// The CLIP ViT image tower in OpenAI's layout (`visual.*` names of the released state dicts):
/// patch conv without bias, class token, positional embedding, ln_pre, pre-norm residual blocks
/// (fused in-projection attention, quick-GELU MLP), ln_post on the class token, projection.
///
/// Shapes: image [B, 3, S, S] → tokens [B, N, D] with N = (S/P)² + 1 → output [B, E].
public struct VisionTransformer {
    public struct Config: Equatable, Sendable {
        public var imageSize: Int, patchSize: Int, width: Int, layers: Int, heads: Int, outputDim: Int
        public var layerNormEps: Float = 1e-5

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
    }

    public struct Block {
        public let ln1Weight, ln1Bias, inProjWeight, inProjBias, outProjWeight, outProjBias: Tensor
        public let ln2Weight, ln2Bias, fcWeight, fcBias, projWeight, projBias: Tensor
    }

    public let config: Config
    public let conv1, classEmbedding, positionalEmbedding, lnPreWeight, lnPreBias, lnPostWeight, lnPostBias, proj: Tensor
    public let blocks: [Block]

    /// Loads from `weights` under `prefix` (e.g. "visual."), inferring the config from shapes.
    public init(weights w: Weights, prefix p: String = "visual.") throws {
        let conv = try w.take(p + "conv1.weight", shape: [-1, 3, -1, -1])
        let width = conv.dim(0), patch = conv.dim(-1)
        let pos = try w.take(p + "positional_embedding", shape: [-1, width])
        let grid = Int(Double(pos.dim(0) - 1).squareRoot())
        try require(grid * grid + 1 == pos.dim(0), "VisionTransformer", "\(w.source): positional_embedding \(describe(pos.shape)) is not a square grid plus a class token")
        var layers = 0
        while w.contains(p + "transformer.resblocks.\(layers).ln_1.weight") { layers += 1 }
        let projection = try w.take(p + "proj", shape: [width, -1])
        var cfg = Config(imageSize: grid * patch, patchSize: patch, width: width, layers: layers, heads: max(1, width / 64), outputDim: projection.dim(1))
        cfg.layerNormEps = 1e-5
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
            let b = p + "transformer.resblocks.\(i)."
            let d = width
            return Block(
                ln1Weight: try w.take(b + "ln_1.weight", shape: [d]), ln1Bias: try w.take(b + "ln_1.bias", shape: [d]),
                inProjWeight: try w.take(b + "attn.in_proj_weight", shape: [3 * d, d]), inProjBias: try w.take(b + "attn.in_proj_bias", shape: [3 * d]),
                outProjWeight: try w.take(b + "attn.out_proj.weight", shape: [d, d]), outProjBias: try w.take(b + "attn.out_proj.bias", shape: [d]),
                ln2Weight: try w.take(b + "ln_2.weight", shape: [d]), ln2Bias: try w.take(b + "ln_2.bias", shape: [d]),
                fcWeight: try w.take(b + "mlp.c_fc.weight", shape: [-1, d]), fcBias: try w.take(b + "mlp.c_fc.bias", shape: [-1]),
                projWeight: try w.take(b + "mlp.c_proj.weight", shape: [d, -1]), projBias: try w.take(b + "mlp.c_proj.bias", shape: [d]))
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
            let b = p + "transformer.resblocks.\(i)."
            w[b + "ln_1.weight"] = Tensor(repeating: 1, shape: [d]); w[b + "ln_1.bias"] = Tensor(zeros: [d])
            w[b + "ln_2.weight"] = Tensor(repeating: 1, shape: [d]); w[b + "ln_2.bias"] = Tensor(zeros: [d])
            w[b + "attn.in_proj_weight"] = randn([3 * d, d], 0.02); w[b + "attn.in_proj_bias"] = Tensor(zeros: [3 * d])
            w[b + "attn.out_proj.weight"] = randn([d, d], 0.02); w[b + "attn.out_proj.bias"] = Tensor(zeros: [d])
            w[b + "mlp.c_fc.weight"] = randn([4 * d, d], 0.02); w[b + "mlp.c_fc.bias"] = Tensor(zeros: [4 * d])
            w[b + "mlp.c_proj.weight"] = randn([d, 4 * d], 0.02); w[b + "mlp.c_proj.bias"] = Tensor(zeros: [d])
        }
        return w
    }

    /// All tokens after the last block (before ln_post): [B, N, D]. Used for feature taps.
    public func tokens(_ image: Tensor) throws -> Tensor {
        let c = config
        try require(image.rank == 4 && image.dim(1) == 3 && image.dim(2) == c.imageSize && image.dim(3) == c.imageSize,
                    "VisionTransformer", "image \(describe(image.shape)) should be [B, 3, \(c.imageSize), \(c.imageSize)]")
        let b = image.dim(0), d = c.width, g = c.gridSize
        // Patch embedding: [B, D, g, g] → [B, g², D].
        let patches = try conv2d(image, conv1, nil, stride: (c.patchSize, c.patchSize))
        let seq = try patches.reshaped([b, d, g * g]).transposed(1, 2)
        let cls = try classEmbedding.reshaped([1, 1, d]) + Tensor(zeros: [b, 1, d])
        var x = try concat([cls, seq], axis: 1) + positionalEmbedding
        x = try layerNorm(x, weight: lnPreWeight, bias: lnPreBias, eps: c.layerNormEps)
        for block in blocks { x = try forward(block, x) }
        return x
    }

    /// The projected image embedding [B, E].
    public func callAsFunction(_ image: Tensor) throws -> Tensor {
        let x = try tokens(image)
        let cls = try slice(x, axis: 1, range: 0..<1).reshaped([x.dim(0), config.width])
        return try matmul(layerNorm(cls, weight: lnPostWeight, bias: lnPostBias, eps: config.layerNormEps), proj)
    }

    /// One pre-norm residual block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
    func forward(_ blk: Block, _ x: Tensor) throws -> Tensor {
        let b = x.dim(0), n = x.dim(1), d = config.width, h = config.heads
        let qkv = try linear(layerNorm(x, weight: blk.ln1Weight, bias: blk.ln1Bias, eps: config.layerNormEps), blk.inProjWeight, blk.inProjBias)
        // [B, N, 3, H, Dh] → [3, B, H, N, Dh]; q, k, v are then free views along the first axis.
        let heads = try qkv.reshaped([b, n, 3, h, d / h]).permuted([2, 0, 3, 1, 4])
        let q = try slice(heads, axis: 0, range: 0..<1).reshaped([b, h, n, d / h])
        let k = try slice(heads, axis: 0, range: 1..<2).reshaped([b, h, n, d / h])
        let v = try slice(heads, axis: 0, range: 2..<3).reshaped([b, h, n, d / h])
        let attended = try scaledDotProductAttention(q: q, k: k, v: v)
        let merged = try attended.permuted([0, 2, 1, 3]).reshaped([b, n, d])
        var y = try x + linear(merged, blk.outProjWeight, blk.outProjBias)
        let hidden = try quickGELU(linear(layerNorm(y, weight: blk.ln2Weight, bias: blk.ln2Bias, eps: config.layerNormEps), blk.fcWeight, blk.fcBias))
        y = try y + linear(hidden, blk.projWeight, blk.projBias)
        return y
    }
}
