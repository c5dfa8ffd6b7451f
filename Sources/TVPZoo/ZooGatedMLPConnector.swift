import TVPModels
import TVPTensor

/// LLaVA's two-layer MLP with the question gate (`ZooQuestionGate`) on its hidden layer, the zoo's
/// question-reading variant of LLaVA's projector:
///
///     tokens = linear_2(GELU(linear_1(features)) ⊙ (1 + g))        g = 0 without a prompt
///
/// Tensor names: `linear_1.*`, `linear_2.*` (LLaVA's) and the gate's `word_attention`, `word_projection.*`.
public struct ZooGatedMLPConnector: ZooGatedConnector {
    public let mlp: MLPProjector
    public let gate: ZooQuestionGate
    public var questionGate: ZooQuestionGate? { gate }

    /// Loads from `w` (every name used); `wordTable` is the language model's token embeddings.
    public init(weights w: Weights, wordTable: Tensor?) throws {
        mlp = try MLPProjector(weights: w, prefix: "")
        gate = try ZooQuestionGate(weights: w, table: wordTable, width: mlp.linear1.outputs, owner: "ZooGatedMLPConnector")
        try w.finish()
    }

    /// LLaVA's seeded initialization, C → D → D, and a fresh gate on the D hidden channels.
    public init(inputWidth: Int, outputWidth: Int, wordTable: Tensor?, seed: UInt64) throws {
        let mlp = MLPProjector(inputWidth: inputWidth, outputWidth: outputWidth, seed: seed)
        let gate = ZooQuestionGate.randomWeights(wordWidth: wordTable?.dim(1) ?? 0, width: outputWidth, seed: seed &+ 0x3A7D)
        try self.init(weights: Weights(mlp.namedParameters.merging(gate) { a, _ in a }, source: "random"), wordTable: wordTable)
    }

    public var inputWidth: Int { mlp.inputWidth }
    public var outputWidth: Int { mlp.outputWidth }
    public func outputTokenCount(inputTokens: Int) -> Int { inputTokens }
    public var namedParameters: [String: Tensor] { mlp.namedParameters.merging(gate.namedParameters) { a, _ in a } }

    public func gatedRepresentation(_ features: Tensor, instructions: [[Int]]?) throws -> Tensor {
        let hidden = try mlp.hidden(features)
        guard let instructions else { return hidden }
        return try gate(hidden, instructions: instructions, owner: "ZooGatedMLPConnector")
    }

    public func callAsFunction(_ features: Tensor, instructions: [[Int]]?) throws -> Tensor {
        try mlp.linear2(gatedRepresentation(features, instructions: instructions))
    }
}
