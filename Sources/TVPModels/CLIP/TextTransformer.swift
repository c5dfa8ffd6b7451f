import TVPTensor

/// Which token's features represent a whole text.
public enum CLIPTextPooling: Equatable, Sendable {
    /// The position of the highest token id in each row: OpenAI CLIP's end-of-text token 49407 is the
    /// largest id of its vocabulary (open_clip `pool_type='argmax'`, HF with the legacy `eos_token_id == 2`).
    /// Ties go to the first position, as `torch.argmax`.
    case argmax
    /// The first position holding this id (HF `CLIPTextTransformer` when `eos_token_id != 2`,
    /// open_clip `pool_type='eos'`); a row without it pools position 0, as PyTorch's argmax of all-false.
    case firstOccurrence(of: Int)

    /// The pooled position of each row of `ids` [B, N].
    func positions(_ ids: [[Int]]) -> [Int] {
        ids.map { row in
            switch self {
            case .argmax:
                var best = 0
                for (i, id) in row.enumerated() where id > row[best] { best = i }
                return best
            case .firstOccurrence(let eos):
                return row.firstIndex(of: eos) ?? 0
            }
        }
    }
}

/// CLIP's causal text transformer in OpenAI's layout (top-level names of the released state dicts):
/// `token_embedding.weight` [V, D], `positional_embedding` [L, D], blocks
/// `transformer.resblocks.N.*` (the same `ResidualAttentionBlock` as the image tower, with a causal
/// mask), `ln_final`, then the features at the pooled (end-of-text) position times
/// `text_projection` [D, E].
///
/// Shapes: ids [B, N] with N ≤ L → tokens [B, N, D] → output [B, E].
public struct TextTransformer {
    public struct Config: Equatable, Sendable {
        public var contextLength: Int, vocabSize: Int, width: Int, layers: Int, heads: Int, outputDim: Int
        public var layerNormEps: Float = 1e-5
        public var activation: CLIPActivation = .quickGELU
        public var pooling: CLIPTextPooling = .argmax

        public init(contextLength: Int, vocabSize: Int, width: Int, layers: Int, heads: Int, outputDim: Int) {
            (self.contextLength, self.vocabSize, self.width, self.layers, self.heads, self.outputDim) =
                (contextLength, vocabSize, width, layers, heads, outputDim)
        }
    }

    public let config: Config
    public let tokenEmbedding, positionalEmbedding, lnFinalWeight, lnFinalBias, textProjection: Tensor
    public let blocks: [ResidualAttentionBlock]

    /// Loads from `weights` under `prefix` (OpenAI checkpoints: ""), inferring the config from shapes as
    /// openai/CLIP's `build_model` does: context length from `positional_embedding`, vocabulary from
    /// `token_embedding`, width from `ln_final`, layers from the block count, output width from
    /// `text_projection`; heads default to width / 64.
    public init(weights w: Weights, prefix p: String = "", heads: Int? = nil, activation: CLIPActivation = .quickGELU,
                pooling: CLIPTextPooling = .argmax, layerNormEps: Float = 1e-5) throws {
        let lnWeight = try w.take(p + "ln_final.weight", shape: [-1])
        let width = lnWeight.dim(0)
        let tokens = try w.take(p + "token_embedding.weight", shape: [-1, width])
        let positions = try w.take(p + "positional_embedding", shape: [-1, width])
        let projection = try w.take(p + "text_projection", shape: [width, -1])
        let layers = ResidualAttentionBlock.count(in: w, prefix: p + "transformer.resblocks.")
        let headCount = heads ?? max(1, width / 64)
        try require(headCount > 0 && width % headCount == 0, "TextTransformer", "\(w.source): width \(width) does not split into \(headCount) heads")
        var cfg = Config(contextLength: positions.dim(0), vocabSize: tokens.dim(0), width: width, layers: layers,
                         heads: headCount, outputDim: projection.dim(1))
        cfg.activation = activation
        cfg.pooling = pooling
        cfg.layerNormEps = layerNormEps
        config = cfg
        tokenEmbedding = tokens
        positionalEmbedding = positions
        textProjection = projection
        lnFinalWeight = lnWeight
        lnFinalBias = try w.take(p + "ln_final.bias", shape: [width])
        blocks = try (0..<layers).map { i in
            try ResidualAttentionBlock(weights: w, prefix: p + "transformer.resblocks.\(i).", width: width)
        }
    }

    /// Checks `ids` ([B][N], equal row lengths, 1 ≤ N ≤ context length, ids inside the vocabulary).
    private func validate(_ ids: [[Int]]) throws {
        let op = "TextTransformer"
        try require(!ids.isEmpty, op, "needs at least one row of token ids")
        let n = ids[0].count
        try require(n >= 1 && n <= config.contextLength, op, "rows of \(n) tokens; the context holds 1...\(config.contextLength)")
        for (b, row) in ids.enumerated() {
            try require(row.count == n, op, "row \(b) has \(row.count) tokens, row 0 has \(n); pad every row to one length")
            if let bad = row.firstIndex(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw TensorError(op, "token id \(row[bad]) at row \(b), position \(bad) is outside the vocabulary 0..<\(config.vocabSize)")
            }
        }
    }

    /// All tokens after the last block and ln_final: [B, N, D]. The causal mask lets position i see
    /// positions 0...i only, so trailing padding never changes earlier tokens.
    public func tokens(_ ids: [[Int]]) throws -> Tensor {
        try validate(ids)
        let b = ids.count, n = ids[0].count, c = config
        // x [B, N, D] = token_embedding[ids] + positional_embedding[0..<N]
        var x = try embedding(ids: ids.flatMap { $0 }, shape: [b, n], table: tokenEmbedding)
            + slice(positionalEmbedding, axis: 0, range: 0..<n)
        for block in blocks {
            x = try block(x, heads: c.heads, activation: c.activation, eps: c.layerNormEps, causal: true)
        }
        return try layerNorm(x, weight: lnFinalWeight, bias: lnFinalBias, eps: c.layerNormEps)
    }

    /// The projected text embedding [B, E] (not normalized): features at each row's pooled position.
    public func callAsFunction(_ ids: [[Int]]) throws -> Tensor {
        let x = try tokens(ids)
        let b = x.dim(0), n = x.dim(1), d = x.dim(2)
        let rows = config.pooling.positions(ids).enumerated().map { $0.offset * n + $0.element }
        let pooled = try gatherRows(x.reshaped([b * n, d]), rows)
        return try matmul(pooled, textProjection)
    }
}
