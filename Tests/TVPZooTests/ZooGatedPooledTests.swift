import Foundation
import TVPPrompting
import TVPTensor
import TVPZoo
import XCTest

final class ZooGatedPooledTests: XCTestCase {
    /// tokens = linear(mean of each group) ⊙ (1 + g); without instructions the pooled map exactly;
    /// each sample reads its own ids; gradients of every weight match central differences.
    func testTheQuestionGatesThePooledMapsTokens() throws {
        let table = ZooTiny.language.embedTokens
        let spec = ZooTiny.spec(.gatedPooledLinear(groupSize: 2))
        XCTAssertThrowsError(try Zoo.makeConnector(spec, inputWidth: 12, outputWidth: 16)) {
            XCTAssertTrue("\($0)".contains("question gate needs the language model's token embeddings"), "\($0)")
        }
        let c = try XCTUnwrap(try Zoo.makeConnector(spec, inputWidth: 12, outputWidth: 16, wordTable: table) as? ZooGatedPooledConnector)
        XCTAssertEqual(Set(c.namedParameters.keys), ["weight", "bias", "word_attention", "word_projection.weight", "word_projection.bias"])
        for i in 0..<16 { c.gate.attention.data[i] = Float(i % 3) * 0.4 - 0.4 }
        let x = Tensor.randn([2, 4, 12], seed: 31)
        XCTAssertEqual(try c(x).toArray(), try c.pooled(x).toArray(), "no instruction: the pooled map")
        XCTAssertEqual(try c(x).shape, [2, 2, 16])

        let ids = [[7, 8], [9]]
        let gated = try c(x, instructions: ids)
        for (b, row) in ids.enumerated() {
            let sample = try slice(x, axis: 0, range: b..<b + 1)
            let groups = try (slice(sample, axis: 1, range: 0..<2).mean(axis: 1).reshaped([1, 1, 12]),
                              slice(sample, axis: 1, range: 2..<4).mean(axis: 1).reshaped([1, 1, 12]))
            let tokens = try concat([c.pooled.projection(groups.0), c.pooled.projection(groups.1)], axis: 1)
            ZooGatedMLPTests.assertClose(try slice(gated, axis: 0, range: b..<b + 1), try tokens * (ZooGatedMLPTests.gateByHand(c.gate, row) + 1),
                                         "sample \(b)")
        }
        XCTAssertThrowsError(try c(x, instructions: [[3]])) { XCTAssertTrue("\($0)".contains("1 instructions for 2 images"), "\($0)") }
        XCTAssertThrowsError(try Zoo.makeConnector(ZooTiny.spec(.gatedPooledLinear(groupSize: 3)), inputWidth: 12, outputWidth: 16, wordTable: table)
                             .callAsFunction(x)) { XCTAssertTrue("\($0)".contains("do not split into groups of 3"), "\($0)") }
        try ZooTiny.checkWeightGradients(c.namedParameters) { try c(x, instructions: ids) }
    }

    /// The matching stage trains the gated pooled map: on features that show each scene's categories
    /// it learns to tell a question's object present from absent.
    func testMatchingTrainsAGatedPooledMap() throws {
        let c = try XCTUnwrap(try Zoo.makeConnector(ZooTiny.spec(.gatedPooledLinear(groupSize: 2)), inputWidth: 16, outputWidth: 16,
                                                    wordTable: ZooTiny.language.embedTokens) as? ZooGatedPooledConnector)
        try ZooTiny.assertMatchingLearnsPresence(c)
    }
}
