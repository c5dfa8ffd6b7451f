import Foundation
import TVPModels
import TVPPipeline
import TVPTensor
import XCTest

/// A model whose mean token log-likelihoods are fixed: candidate c of every image scores `means[c]`.
private final class FixedScores: MultimodalModel {
    let means: [Float], counts: [Int]
    init(means: [Float], counts: [Int]) { (self.means, self.counts) = (means, counts) }
    var name: String { "fixed" }
    var inputSize: Int { 8 }
    var normalization: ImageNormalization { .clip }
    func visualTokens(images: Tensor) throws -> Tensor { Tensor(zeros: [images.dim(0), 1, 1]) }
    func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor { Tensor(zeros: [1]) }
    func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor {
        try Tensor((0..<images.dim(0)).flatMap { _ in means }, shape: [images.dim(0), means.count])
    }
    func candidateTokenCounts(_ candidates: [String]) throws -> [Int] { counts }
}

/// `scoring: sum` scores a candidate by its whole log-probability (mean × token count); only `sum`
/// enters the evaluate stages' keys.
final class CandidateScoringTests: XCTestCase {
    func testSumScoringUndoesTheMeansFavourForTwoTokenNumbers() throws {
        // "9" one token at log p = −1.2; "10" = "1" (−2.0) then "0" (−0.01): mean −1.005, sum −2.01.
        let model = FixedScores(means: [-1.2, -1.005], counts: [1, 2])
        let images = Tensor(zeros: [2, 3, 8, 8])
        XCTAssertEqual(try model.predict(images: images, prompts: ["q", "q"], candidates: ["9", "10"]), [1, 1])
        XCTAssertEqual(try model.predict(images: images, prompts: ["q", "q"], candidates: ["9", "10"], scoring: .sum), [0, 0])
        let sums = try model.scores(images: images, prompts: ["q", "q"], candidates: ["9", "10"], scoring: .sum)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: sums.data, count: 4)), [-1.2, -2.01, -1.2, -2.01])
    }

    func testTheTasksScoringReachesTheEvaluateStagesAndOnlySumChangesTheirKeys() throws {
        let world = try ToyWorld.make()
        defer { world.remove() }
        try ToyWorld.pipeline.write(toFile: world.pipelinePath, atomically: true, encoding: .utf8)
        let meanKeys = try world.session(backend: TinyBackend()).graph.nodes.filter { $0.stage.id.hasPrefix("eval[") }.map(\.key)
        let explicit = ToyWorld.pipeline.replacingOccurrences(of: "    question: \"What?\"\n", with: "    question: \"What?\"\n    scoring: mean\n")
        try explicit.write(toFile: world.pipelinePath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try world.session(backend: TinyBackend()).graph.nodes.filter { $0.stage.id.hasPrefix("eval[") }.map(\.key), meanKeys)
        try explicit.replacingOccurrences(of: "scoring: mean", with: "scoring: sum").write(toFile: world.pipelinePath, atomically: true, encoding: .utf8)
        let session = try world.session(backend: TinyBackend())
        XCTAssertEqual(session.graph.nodes.filter { $0.stage.id.hasPrefix("eval[") }.map { $0.stage.parameters["scoring"]?.stringValue }.compactMap { $0 }.count,
                       meanKeys.count)
        XCTAssertTrue(Set(session.graph.nodes.filter { $0.stage.id.hasPrefix("eval[") }.map(\.key)).isDisjoint(with: meanKeys))
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")

        try explicit.replacingOccurrences(of: "scoring: mean", with: "scoring: total").write(toFile: world.pipelinePath, atomically: true, encoding: .utf8)
        let error = yamlError({ try world.load() }).map { "\($0)" } ?? ""
        XCTAssertTrue(error.contains("scoring") && error.contains("sum"), error)
    }
}
