import Foundation
import TVPPrompting
import TVPTensor
import TVPZoo
import XCTest

final class ZooGatedQFormerTests: XCTestCase {
    static func connector() throws -> ZooQFormerConnector {
        try XCTUnwrap(try Zoo.makeConnector(ZooTiny.spec(ZooTiny.gated), inputWidth: 16, outputWidth: 16, wordTable: ZooTiny.language.embedTokens)
                      as? ZooQFormerConnector)
    }

    /// tokens = projection(Z ⊙ (1 + LN(Σ softmax(e · a) · word_projection(e)))), Z the queries over LN(features);
    /// without instructions the queries alone; each sample reads its own ids; gradients match central differences.
    func testTheQuestionGatesTheQueryOutputs() throws {
        XCTAssertThrowsError(try Zoo.makeConnector(ZooTiny.spec(ZooTiny.gated), inputWidth: 16, outputWidth: 16)) {
            XCTAssertTrue("\($0)".contains("question gate needs the language model's token embeddings"), "\($0)")
        }
        let c = try Self.connector()
        XCTAssertEqual(c.questionGate?.attention.shape, [16, 1])
        XCTAssertEqual(c.questionGate?.attention.toArray(), Array(repeating: 0, count: 16), "every word weighs the same at first")
        let x = Tensor.randn([2, 4, 16], seed: 21)
        let z = try c.qformer(queries: c.queryTokens, imageFeatures: layerNorm(x, weight: nil, bias: nil, eps: 1e-6))
        XCTAssertEqual(try c(x).toArray(), try c.projection(z).toArray(), "no instruction: the queries alone")

        // The gate by hand, with zero word attention: the mean of the projected words.
        let table = ZooTiny.language.embedTokens, ids = [[3], [5, 6, 7]]
        let gated = try c(x, instructions: ids)
        for (b, row) in ids.enumerated() {
            let words = try c.questionGate!.projection(embedding(ids: row, shape: [1, row.count], table: table)).mean(axis: 1)
            let gate = try layerNorm(words, weight: nil, bias: nil, eps: 1e-6).reshaped([1, 1, 8])
            let expected = try c.projection(slice(z, axis: 0, range: b..<b + 1) * (gate + 1))
            let got = try slice(gated, axis: 0, range: b..<b + 1)
            for i in 0..<expected.count { XCTAssertEqual(got.data[i], expected.data[i], accuracy: 1e-5) }
        }
        let other = try c(x, instructions: [[9], [5, 6, 7]])
        XCTAssertGreaterThan(abs(other.data[0] - gated.data[0]), 1e-4, "another question, other tokens")
        XCTAssertThrowsError(try c(x, instructions: [[3]]))
        XCTAssertThrowsError(try c(x, instructions: [[3], []]))

        // Weight gradients (word attention made non-zero so its path counts) against central differences.
        for i in 0..<16 { c.questionGate!.attention.data[i] = Float(i % 5) * 0.3 - 0.6 }
        try ZooTiny.checkWeightGradients(c.namedParameters) { try c(x, instructions: ids) }
    }

    /// Every present category and as many absent ones per scene, reshuffled per epoch, deterministic.
    func testMatchingPairsAreBalancedAndTrue() throws {
        let scenes: [(row: Int, categories: Set<Int>)] = [(row: 4, categories: [0, 5, 23]), (row: 9, categories: [7])]
        let pairs = ZooPresenceMatching.pairs(scenes: scenes, epoch: 0, seed: 1)
        XCTAssertEqual(pairs.count, 8)
        for scene in scenes {
            let mine = pairs.filter { $0.row == scene.row }
            XCTAssertEqual(Set(mine.filter(\.present).map(\.category)), scene.categories)
            XCTAssertEqual(mine.filter { !$0.present }.count, scene.categories.count)
            XCTAssertTrue(mine.filter { !$0.present }.allSatisfy { !scene.categories.contains($0.category) && $0.category < 24 })
        }
        XCTAssertEqual(pairs, ZooPresenceMatching.pairs(scenes: scenes, epoch: 0, seed: 1))
        XCTAssertNotEqual(pairs, ZooPresenceMatching.pairs(scenes: scenes, epoch: 1, seed: 1))
    }

    /// On features that show each scene's categories (a one-hot per object, one token each), the
    /// matching stage learns to tell a question's object present from absent.
    func testMatchingLearnsPresenceWhenTheFeaturesShowIt() throws {
        let c = try Self.connector()
        try ZooTiny.assertMatchingLearnsPresence(c)
        let (features, scenes, questions) = try ZooTiny.presenceScenes()
        XCTAssertThrowsError(try ZooPresenceMatching.train(c, features: features, scenes: scenes, questions: Array(questions.prefix(3)), log: { _ in }))
        let plain = try XCTUnwrap(try Zoo.makeConnector(ZooTiny.spec(.qformer(.init(hidden: 8, layers: 2, heads: 2, queries: 3))), inputWidth: 16,
                                                        outputWidth: 16) as? ZooQFormerConnector)
        XCTAssertThrowsError(try ZooPresenceMatching.train(plain, features: features, scenes: scenes, questions: questions, log: { _ in })) {
            XCTAssertTrue("\($0)".contains("only a question-gated connector"), "\($0)")
        }
    }
}
