import TVPModels
import TVPTensor

/// A BLIP-2-like connector: Q learned queries read the vision features through a small Q-Former
/// (TVPModels `QFormer`, cross-attention in every layer), then one linear map to the LM width:
///
///     features [B, T, C] → Q-Former(queries [1, Q, H], image = features) [B, Q, H] → linear → [B, Q, D]
///
/// Tensor names: `query_tokens` [1, Q, H], `qformer.*` (HF BLIP-2 names), `language_projection.{weight,bias}`.
public struct ZooQFormerConnector: Connector {
    /// The Q-Former's size.
    public struct Shape: Sendable, Equatable {
        public var hidden: Int, layers: Int, heads: Int, queries: Int
        public init(hidden: Int, layers: Int, heads: Int, queries: Int) {
            (self.hidden, self.layers, self.heads, self.queries) = (hidden, layers, heads, queries)
        }
    }

    public let qformer: QFormer
    public let queryTokens: Tensor
    public let projection: LinearLayer
    /// Every tensor under its name (the same objects the modules hold).
    public let namedParameters: [String: Tensor]

    /// The Q-Former config of `shape` over features of width `inputWidth`.
    public static func config(_ shape: Shape, inputWidth: Int) -> Blip2Config.QFormer {
        Blip2Config.QFormer(hiddenSize: shape.hidden, numHiddenLayers: shape.layers, numAttentionHeads: shape.heads,
                            intermediateSize: 4 * shape.hidden, crossAttentionFrequency: 1, encoderHiddenSize: inputWidth)
    }

    /// Loads from `weights` (all names, none left over).
    public init(shape: Shape, inputWidth: Int, weights w: Weights) throws {
        let c = Self.config(shape, inputWidth: inputWidth)
        qformer = try QFormer(config: c, weights: w, prefix: "qformer.", instruction: false)
        queryTokens = try w.take("query_tokens", shape: [1, shape.queries, shape.hidden])
        projection = try LinearLayer(weights: w, prefix: "language_projection.", inputs: shape.hidden, requireBias: true)
        var named: [String: Tensor] = [:]
        for key in w.keys { named[key] = try w.take(key) }
        try w.finish()
        namedParameters = named
    }

    /// A seeded random initialization (BERT-like: N(0, 0.02) matrices, unit LayerNorms, zero biases).
    public init(shape: Shape, inputWidth: Int, outputWidth: Int, seed: UInt64) throws {
        try self.init(shape: shape, inputWidth: inputWidth,
                      weights: Weights(Self.randomWeights(shape, inputWidth: inputWidth, outputWidth: outputWidth, seed: seed), source: "random"))
    }

    /// Random weights in this connector's names.
    public static func randomWeights(_ s: Shape, inputWidth: Int, outputWidth: Int, seed: UInt64) -> [String: Tensor] {
        var counter = seed
        func randn(_ shape: [Int]) -> Tensor { counter &+= 1; return Tensor.randn(shape, std: 0.02, seed: counter) }
        let h = s.hidden, inner = 4 * h
        var w: [String: Tensor] = [:]
        func dense(_ name: String, _ out: Int, _ inputs: Int) {
            w[name + ".weight"] = randn([out, inputs]); w[name + ".bias"] = Tensor(zeros: [out])
        }
        func norm(_ name: String) {
            w[name + ".weight"] = Tensor(repeating: 1, shape: [h]); w[name + ".bias"] = Tensor(zeros: [h])
        }
        norm("qformer.layernorm")
        for i in 0..<s.layers {
            let l = "qformer.encoder.layer.\(i)."
            for (part, keyWidth) in [("attention", h), ("crossattention", inputWidth)] {
                dense(l + part + ".attention.query", h, h)
                dense(l + part + ".attention.key", h, keyWidth)
                dense(l + part + ".attention.value", h, keyWidth)
                dense(l + part + ".output.dense", h, h)
                norm(l + part + ".output.LayerNorm")
            }
            dense(l + "intermediate_query.dense", inner, h)
            dense(l + "output_query.dense", h, inner)
            norm(l + "output_query.LayerNorm")
        }
        w["query_tokens"] = randn([1, s.queries, h])
        let projection = LinearLayer(inputs: h, outputs: outputWidth, seed: seed &+ 0x51ED)
        w["language_projection.weight"] = projection.weight
        w["language_projection.bias"] = projection.bias
        return w
    }

    public var inputWidth: Int { qformer.config.encoderHiddenSize }
    public var outputWidth: Int { projection.outputs }
    public func outputTokenCount(inputTokens: Int) -> Int { queryTokens.dim(1) }

    public func callAsFunction(_ features: Tensor) throws -> Tensor {
        try require(features.rank == 3 && features.dim(2) == inputWidth, "ZooQFormerConnector",
                    "features \(describe(features.shape)) should be [B, T, \(inputWidth)]")
        return try projection(qformer(queries: queryTokens, imageFeatures: features))
    }
}
