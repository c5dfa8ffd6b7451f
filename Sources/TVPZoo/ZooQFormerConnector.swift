import TVPModels
import TVPTensor

/// A BLIP-2-like connector (InstructBLIP-like when instructed): Q learned queries read the vision features through a small Q-Former
/// (TVPModels `QFormer`, cross-attention in every layer), then one linear map to the LM width:
///
///     features [B, T, C] → Q-Former(queries [1, Q, H], image = features) [B, Q, H] → linear → [B, Q, D]
///
/// Instructed (InstructBLIP-like), the queries also attend to the prompt in the Q-Former's
/// self-attention: the language model's frozen embeddings of the after-image ids through a
/// trained linear map to H, plus a position table (the first `maxInstructionTokens` ids are read).
///
/// Gated by the question (the zoo's own InstructBLIP-like variant), the queries read the image
/// alone, over layer-normalized features, and the prompt scales their outputs channel by channel
/// (`ZooQuestionGate`): tokens = language_projection(Z ⊙ (1 + g)), Z = Q-Former(queries, LN(features)).
/// (Measured on the zoo's scenes: trained to match presence questions to images, InstructBLIP's
/// route, the words in the queries' self-attention, stays at chance, loss ln 2 for 2800 steps,
/// while this gate learns it; see `ZooPresenceMatching`.) Without instructions (FCA's clean
/// tokens) g = 0: the queries alone.
///
/// Tensor names: `query_tokens` [1, Q, H], `qformer.*` (HF BLIP-2 names; InstructBLIP's when
/// instructed, without `embeddings.word_embeddings`), `language_projection.{weight,bias}`, when
/// instructed or gated `word_projection.{weight,bias}` [H, D], and when gated `word_attention` [D, 1].
public struct ZooQFormerConnector: ZooGatedConnector {
    /// The Q-Former's size, and whether it reads the prompt.
    public struct Shape: Sendable, Equatable {
        public var hidden: Int, layers: Int, heads: Int, queries: Int
        public var instructed: Bool
        /// The prompt gates the query outputs (see the type's documentation); excludes `instructed`.
        public var gated: Bool
        public init(hidden: Int, layers: Int, heads: Int, queries: Int, instructed: Bool = false, gated: Bool = false) {
            (self.hidden, self.layers, self.heads, self.queries, self.instructed, self.gated) = (hidden, layers, heads, queries, instructed, gated)
        }
        /// Whether the connector reads the prompt at all.
        public var readsPrompt: Bool { instructed || gated }
    }

    /// Instruction ids read per sample (the rest is cut), the rows of the position table.
    public static let maxInstructionTokens = 64

    public let qformer: QFormer
    public let queryTokens: Tensor
    public let projection: LinearLayer
    /// Instructed: the language model's token embeddings [V, D] (frozen, not saved) and the trained
    /// map D → H that reads them; nil for a BLIP-2-like connector, which ignores instructions.
    public let instructionReader: (table: Tensor, projection: LinearLayer)?
    /// Gated: the question gate on the query outputs; nil otherwise.
    public let questionGate: ZooQuestionGate?
    /// Every trained tensor under its name (the same objects the modules hold).
    public let namedParameters: [String: Tensor]

    /// The Q-Former config of `shape` over features of width `inputWidth`.
    public static func config(_ shape: Shape, inputWidth: Int) -> Blip2Config.QFormer {
        Blip2Config.QFormer(hiddenSize: shape.hidden, numHiddenLayers: shape.layers, numAttentionHeads: shape.heads,
                            intermediateSize: 4 * shape.hidden, maxPositionEmbeddings: maxInstructionTokens, crossAttentionFrequency: 1,
                            encoderHiddenSize: inputWidth)
    }

    /// Loads from `weights` (all names, none left over); an instructed shape needs `wordTable`, the
    /// language model's token embeddings.
    public init(shape: Shape, inputWidth: Int, weights w: Weights, wordTable: Tensor? = nil) throws {
        try require(!(shape.instructed && shape.gated), "ZooQFormerConnector", "a Q-Former is instructed or gated, not both")
        let c = Self.config(shape, inputWidth: inputWidth)
        qformer = try QFormer(config: c, weights: w, prefix: "qformer.", instruction: shape.instructed, wordTable: false)
        queryTokens = try w.take("query_tokens", shape: [1, shape.queries, shape.hidden])
        projection = try LinearLayer(weights: w, prefix: "language_projection.", inputs: shape.hidden, requireBias: true)
        if shape.instructed {
            guard let wordTable, wordTable.rank == 2 else {
                throw TensorError("ZooQFormerConnector", "\(w.source): an instructed Q-Former needs the language model's token embeddings [V, D]")
            }
            instructionReader = (wordTable, try LinearLayer(weights: w, prefix: "word_projection.", inputs: wordTable.dim(1), outputs: shape.hidden,
                                                             requireBias: true))
        } else {
            instructionReader = nil
        }
        questionGate = shape.gated ? try ZooQuestionGate(weights: w, table: wordTable, width: shape.hidden, owner: "ZooQFormerConnector") : nil
        var named: [String: Tensor] = [:]
        for key in w.keys { named[key] = try w.take(key) }
        try w.finish()
        namedParameters = named
    }

    /// A seeded random initialization (BERT-like: N(0, 0.02) matrices, unit LayerNorms, zero biases).
    public init(shape: Shape, inputWidth: Int, outputWidth: Int, wordTable: Tensor? = nil, seed: UInt64) throws {
        try self.init(shape: shape, inputWidth: inputWidth,
                      weights: Weights(Self.randomWeights(shape, inputWidth: inputWidth, outputWidth: outputWidth, seed: seed), source: "random"),
                      wordTable: wordTable)
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
        norm(s.instructed ? "qformer.embeddings.layernorm" : "qformer.layernorm")
        for i in 0..<s.layers {
            let l = "qformer.encoder.layer.\(i)."
            for (part, keyWidth) in [("attention", h), ("crossattention", inputWidth)] {
                dense(l + part + ".attention.query", h, h)
                dense(l + part + ".attention.key", h, keyWidth)
                dense(l + part + ".attention.value", h, keyWidth)
                dense(l + part + ".output.dense", h, h)
                norm(l + part + ".output.LayerNorm")
            }
            for (intermediate, output) in [("intermediate_query", "output_query")] + (s.instructed ? [("intermediate", "output")] : []) {
                dense(l + intermediate + ".dense", inner, h)
                dense(l + output + ".dense", h, inner)
                norm(l + output + ".LayerNorm")
            }
        }
        w["query_tokens"] = randn([1, s.queries, h])
        if s.instructed {
            w["qformer.embeddings.position_embeddings.weight"] = randn([maxInstructionTokens, h])
        }
        if s.gated { w.merge(ZooQuestionGate.randomWeights(wordWidth: outputWidth, width: h, seed: seed &+ 0x3A7D)) { a, _ in a } }
        if s.instructed {
            let words = LinearLayer(inputs: outputWidth, outputs: h, seed: seed &+ 0x3A7D)
            w["word_projection.weight"] = words.weight
            w["word_projection.bias"] = words.bias
        }
        let projection = LinearLayer(inputs: h, outputs: outputWidth, seed: seed &+ 0x51ED)
        w["language_projection.weight"] = projection.weight
        w["language_projection.bias"] = projection.bias
        return w
    }

    public var inputWidth: Int { qformer.config.encoderHiddenSize }
    public var outputWidth: Int { projection.outputs }
    public func outputTokenCount(inputTokens: Int) -> Int { queryTokens.dim(1) }

    /// Instructions are read when instructed or gated (and given), ignored otherwise.
    public func callAsFunction(_ features: Tensor, instructions: [[Int]]?) throws -> Tensor {
        try projection(gatedRepresentation(features, instructions: instructions))
    }

    /// What the language projection reads: the query outputs [B, Q, H] (gated by the prompt when
    /// gated and given one). `ZooPresenceMatching` trains its matching head on them.
    public func gatedRepresentation(_ features: Tensor, instructions: [[Int]]?) throws -> Tensor {
        let op = "ZooQFormerConnector"
        try require(features.rank == 3 && features.dim(2) == inputWidth, op, "features \(describe(features.shape)) should be [B, T, \(inputWidth)]")
        if let questionGate {
            let z = try qformer(queries: queryTokens, imageFeatures: layerNorm(features, weight: nil, bias: nil, eps: 1e-6))
            guard let instructions else { return z }
            return try questionGate(z, instructions: instructions, owner: op)
        }
        guard let reader = instructionReader, let instructions else { return try qformer(queries: queryTokens, imageFeatures: features) }
        try require(instructions.count == features.dim(0) && instructions.allSatisfy { !$0.isEmpty }, op,
                    "\(instructions.count) instructions (none empty) for \(features.dim(0)) images")
        let kept = instructions.map { Array($0.prefix(Self.maxInstructionTokens)) }
        let t = kept.map(\.count).max()!
        let ids = kept.flatMap { $0 + Array(repeating: $0[0], count: t - $0.count) }      // padding is masked out
        let words = try reader.projection(embedding(ids: ids, shape: [kept.count, t], table: reader.table))
        return try qformer(queries: queryTokens, imageFeatures: features, instructionWords: words, lengths: kept.map(\.count))
    }
}
