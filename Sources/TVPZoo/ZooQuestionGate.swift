import TVPModels
import TVPTensor

/// The zoo's question gate: the prompt scales a connector's inner representation channel by
/// channel, so a yes/no question about one object picks the channels that tell whether that object
/// is in the image — a product of question and image from the first step, which presence needs and
/// which a frozen language model reading question-blind visual tokens never finds (measured: the
/// zoo's question-blind connectors answer POPE at chance).
///
///     w = softmax over the after-image ids of (word embedding · word_attention)    (which words matter)
///     g = LN(Σ w · word_projection(word embedding)) [B, H]
///     gated = x ⊙ (1 + g)          for x [B, T, H]
///
/// The words are the language model's frozen token embeddings (not saved); the first
/// `maxWords` ids are read. Tensor names: `word_attention` [D, 1] (zero at first: every word alike),
/// `word_projection.{weight,bias}` [H, D].
public struct ZooQuestionGate {
    /// Instruction ids read per sample (the rest is cut).
    public static let maxWords = 64

    /// The language model's token embeddings [V, D] (frozen, not saved).
    public let table: Tensor
    /// Scores each prompt word [D, 1].
    public let attention: Tensor
    /// Maps a word embedding to the gated width, D → H.
    public let projection: LinearLayer

    /// Takes `word_attention` and `word_projection.*` from `w` (the width H is `width`).
    public init(weights w: Weights, table: Tensor?, width: Int, owner: String) throws {
        guard let table, table.rank == 2 else {
            throw TensorError(owner, "\(w.source): a question gate needs the language model's token embeddings [V, D]")
        }
        self.table = table
        attention = try w.take("word_attention", shape: [table.dim(1), 1])
        projection = try LinearLayer(weights: w, prefix: "word_projection.", inputs: table.dim(1), outputs: width, requireBias: true)
    }

    /// Fresh weights in the gate's names: zero word attention, a PyTorch-default word map seeded by `seed`.
    public static func randomWeights(wordWidth: Int, width: Int, seed: UInt64) -> [String: Tensor] {
        let words = LinearLayer(inputs: wordWidth, outputs: width, seed: seed)
        return ["word_attention": Tensor(zeros: [wordWidth, 1]), "word_projection.weight": words.weight, "word_projection.bias": words.bias!]
    }

    public var namedParameters: [String: Tensor] { projection.named("word_projection.").merging(["word_attention": attention]) { a, _ in a } }

    /// The gate g [B, 1, H] of B prompts (after-image ids, none empty).
    public func gate(_ instructions: [[Int]]) throws -> Tensor {
        try require(instructions.allSatisfy { !$0.isEmpty }, "ZooQuestionGate", "an empty instruction among \(instructions.count)")
        let pooled = try instructions.map { ids -> Tensor in
            let kept = Array(ids.prefix(Self.maxWords))
            let words = try embedding(ids: kept, shape: [1, kept.count], table: table)
            let weights = try softmax(matmul(words, attention), axis: 1)                       // [1, T, 1]
            return try (projection(words) * weights).sum(axis: 1)                             // [1, H]
        }
        return try layerNorm(concat(pooled, axis: 0), weight: nil, bias: nil, eps: 1e-6).reshaped([instructions.count, 1, projection.outputs])
    }

    /// x [B, T, H] ⊙ (1 + g): one prompt per row of x.
    public func callAsFunction(_ x: Tensor, instructions: [[Int]], owner: String) throws -> Tensor {
        try require(instructions.count == x.dim(0), owner, "\(instructions.count) instructions for \(x.dim(0)) images")
        return try x * (gate(instructions) + 1)
    }
}

/// A zoo connector with a question gate (`ZooQuestionGate`), whose gated representation BLIP-2's
/// matching stage (`ZooPresenceMatching`) trains before the language model's loss does.
public protocol ZooGatedConnector: InstructedConnector {
    /// The gate; nil when this connector does not read the question.
    var questionGate: ZooQuestionGate? { get }
    /// What the output map reads, gated by the prompt when given one: [B, T', H].
    func gatedRepresentation(_ features: Tensor, instructions: [[Int]]?) throws -> Tensor
}
