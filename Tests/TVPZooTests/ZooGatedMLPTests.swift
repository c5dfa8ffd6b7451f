import Foundation
import TVPPrompting
import TVPTensor
import TVPZoo
import XCTest

final class ZooGatedMLPTests: XCTestCase {
    static let table = ZooTiny.language.embedTokens

    /// The gate by hand for one prompt: LN(Σ softmax(e · a) · word_projection(e)) [1, 1, H].
    static func gateByHand(_ gate: ZooQuestionGate, _ ids: [Int]) throws -> Tensor {
        let words = try embedding(ids: ids, shape: [1, ids.count], table: table)
        let weights = try softmax(matmul(words, gate.attention), axis: 1)
        let pooled = try (gate.projection(words) * weights).sum(axis: 1)
        return try layerNorm(pooled, weight: nil, bias: nil, eps: 1e-6).reshaped([1, 1, gate.projection.outputs])
    }

    static func assertClose(_ got: Tensor, _ expected: Tensor, _ message: String, line: UInt = #line) {
        XCTAssertEqual(got.shape, expected.shape, message, line: line)
        for i in 0..<min(got.count, expected.count) { XCTAssertEqual(got.data[i], expected.data[i], accuracy: 1e-5, message, line: line) }
    }

    /// tokens = linear_2(GELU(linear_1(x)) ⊙ (1 + g)); without instructions LLaVA's MLP exactly; each
    /// sample reads its own ids (ids past 64 cut); gradients of every weight match central differences.
    func testTheQuestionGatesTheMLPsHiddenLayer() throws {
        XCTAssertThrowsError(try Zoo.makeConnector(ZooTiny.spec(.gatedMLP), inputWidth: 16, outputWidth: 16)) {
            XCTAssertTrue("\($0)".contains("question gate needs the language model's token embeddings"), "\($0)")
        }
        let c = try XCTUnwrap(try Zoo.makeConnector(ZooTiny.spec(.gatedMLP), inputWidth: 12, outputWidth: 16, wordTable: Self.table)
                              as? ZooGatedMLPConnector)
        XCTAssertEqual(Set(c.namedParameters.keys), ["linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias", "word_attention",
                                                     "word_projection.weight", "word_projection.bias"])
        XCTAssertEqual(c.gate.attention.toArray(), Array(repeating: 0, count: 16), "every word weighs the same at first")
        for i in 0..<16 { c.gate.attention.data[i] = Float(i % 5) * 0.3 - 0.6 }
        let x = Tensor.randn([2, 3, 12], seed: 21)
        XCTAssertEqual(try c(x).toArray(), try c.mlp(x).toArray(), "no instruction: LLaVA's MLP")

        let ids = [[3], [5, 6, 7]]
        let gated = try c(x, instructions: ids)
        for (b, row) in ids.enumerated() {
            let hidden = try gelu(c.mlp.linear1(slice(x, axis: 0, range: b..<b + 1)))
            Self.assertClose(try slice(gated, axis: 0, range: b..<b + 1), try c.mlp.linear2(hidden * (Self.gateByHand(c.gate, row) + 1)), "sample \(b)")
        }
        let long = Array(repeating: 4, count: ZooQuestionGate.maxWords)
        XCTAssertEqual(try c(x, instructions: [long + [9], [3]]).toArray(), try c(x, instructions: [long, [3]]).toArray(), "ids past 64 are cut")
        XCTAssertThrowsError(try c(x, instructions: [[3]])) { XCTAssertTrue("\($0)".contains("1 instructions for 2 images"), "\($0)") }
        XCTAssertThrowsError(try c(x, instructions: [[3], []]))
        try ZooTiny.checkWeightGradients(c.namedParameters) { try c(x, instructions: ids) }
    }

    /// The matching stage trains a gated MLP too: on features that show each scene's categories it
    /// learns to tell a question's object present from absent.
    func testMatchingTrainsAGatedMLP() throws {
        let c = try XCTUnwrap(try Zoo.makeConnector(ZooTiny.spec(.gatedMLP), inputWidth: 16, outputWidth: 16, wordTable: Self.table)
                              as? ZooGatedMLPConnector)
        try ZooTiny.assertMatchingLearnsPresence(c)
    }

    /// Which kinds the question gates (the build runs the matching stage for those), and which zoo
    /// models read the question.
    func testGatedKindsAndTheZoo() {
        XCTAssertEqual(ZooTiny.kinds.map(\.isGated), [false, false, false, false, true, true, true])
        XCTAssertEqual(ZooModelSpec.all.map(\.connector.isGated), [true, true, true, true])
    }
}
