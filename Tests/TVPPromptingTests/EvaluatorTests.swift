import Foundation
import TVPPrompting
import TVPTensor
import XCTest

final class MetricsTests: XCTestCase {
    /// AUC by counting pairs: positive above negative 1, tie ½.
    func pairAUC(_ s: [Double], _ p: [Bool]) -> Double {
        var total = 0.0, pairs = 0.0
        for i in s.indices where p[i] { for j in s.indices where !p[j] { total += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0; pairs += 1 } }
        return total / pairs
    }

    func testROCAUCIsMannWhitneyWithTies() {
        let scores: [Double] = [0.3, 0.3, 0.9, -1, 0.3, 2, 0.9, -1, 0]
        let positives = [true, false, true, false, true, false, false, true, false]
        XCTAssertEqual(Metrics.rocAUC(scores: scores, positives: positives)!, pairAUC(scores, positives), accuracy: 1e-12)
        XCTAssertEqual(Metrics.rocAUC(scores: [1, 2, 3, 4], positives: [false, false, true, true]), 1)
        XCTAssertEqual(Metrics.rocAUC(scores: [5, 5, 5, 5], positives: [false, true, true, false]), 0.5)
        XCTAssertNil(Metrics.rocAUC(scores: [1, 2], positives: [true, true]))
        var rng = RandomGenerator(seed: 3)
        let many = (0..<300).map { _ in Double(rng.below(20)) }, labels = (0..<300).map { _ in rng.uniform() < 0.4 }
        XCTAssertEqual(Metrics.rocAUC(scores: many, positives: labels)!, pairAUC(many, labels), accuracy: 1e-12)
    }

    func testPOPEMetricsAndTopK() {
        // tp 2, fp 1, tn 3, fn 2.
        let m = POPEMetrics(predictedYes: [true, true, true, false, false, false, false, false],
                            actualYes: [true, true, false, false, false, false, true, true])
        XCTAssertEqual(m.accuracy, 5.0 / 8)
        XCTAssertEqual(m.precision, 2.0 / 3)
        XCTAssertEqual(m.recall, 0.5)
        XCTAssertEqual(m.f1, 2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5), accuracy: 1e-12)
        XCTAssertEqual(m.yesRatio, 3.0 / 8)
        let scores: [[Float]] = [[0.1, 0.5, 0.2], [0.3, 0.3, 0.1], [0.9, 0.1, 0.0]]
        XCTAssertEqual(Metrics.topK(scores, labels: [1, 1, 2], k: 1), [true, false, false], "ties go to the lower index")
        XCTAssertEqual(Metrics.topK(scores, labels: [1, 1, 2], k: 2), [true, true, false])
        // NaN beats nothing: without the check every row holding one would count as right.
        XCTAssertEqual(Metrics.topK([[.nan, .nan], [0.2, .infinity], [.nan, 1]], labels: [0, 1, 1], k: 1), [false, false, false])
    }

    func testBalancedAccuracyAndMacroF1() {
        let labels = [0, 0, 0, 1], predictions = [0, 0, 1, 1]
        // Recall of class 0: 2/3, of class 1: 1.
        XCTAssertEqual(Metrics.balancedAccuracy(predictions: predictions, labels: labels)!, (2.0 / 3 + 1) / 2, accuracy: 1e-12)
        // F1 of class 0: tp 2, fp 0, fn 1 → 0.8; class 1: tp 1, fp 1, fn 0 → 2/3.
        XCTAssertEqual(Metrics.macroF1(predictions: predictions, labels: labels)!, (0.8 + 2.0 / 3) / 2, accuracy: 1e-12)
        // A class only predicted (2) counts in macro-F1 with F1 0, not in balanced accuracy.
        XCTAssertEqual(Metrics.macroF1(predictions: [0, 2], labels: [0, 1])!, (1 + 0 + 0) / 3, accuracy: 1e-12)
        XCTAssertEqual(Metrics.balancedAccuracy(predictions: [0, 2], labels: [0, 1])!, 0.5, accuracy: 1e-12)
        XCTAssertNil(Metrics.balancedAccuracy(predictions: [], labels: []))
        XCTAssertNil(Metrics.macroF1(predictions: [1], labels: [1, 0]))
    }
}

final class EvaluatorTests: XCTestCase {
    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: StepFixture.path) else { throw XCTSkip("fixture \(StepFixture.path) is absent") }
    }

    func testScoresAreCandidateLogLikelihoodsUnderEachProtocol() throws {
        let model = try StepFixture.model()
        let source = try StepFixture.source()
        let evaluator = Evaluator(batchSize: 1)
        let prompt = try PaddingPrompt(perturbation: StepFixture.tensor("start"), frame: StepFixture.frame)
        let images = try StepFixture.tensor("images")      // 8 px: shrunk for the 4 px frame already
        // Zero-shot official = the zero prompt; native = the image resized to 16 px, no frame.
        let official = try evaluator.inputs(images, model: model, protocol: .zeroShotOfficial(frame: 4), draw: 0)
        XCTAssertEqual(official.toArray(), try PaddingPrompt(imageSize: 16, frame: 4).apply(to: images).toArray())
        XCTAssertEqual(try evaluator.inputs(images, model: model, protocol: .zeroShotNative, draw: 0).shape, [2, 3, 16, 16])
        XCTAssertEqual(try evaluator.inputs(images, model: model, protocol: .tvp(prompt), draw: 0).toArray(), try prompt.apply(to: images).toArray())

        let (scores, labels) = try evaluator.scores(model: model, protocol: .tvp(prompt), source: source)
        XCTAssertEqual(labels, [2, 0])
        XCTAssertEqual(scores.count, 2)
        XCTAssertEqual(scores[0].count, 3)
        // Oracle: the score of the right answer is minus the per-sample task loss, computed by another path.
        for b in 0..<2 {
            let one = try slice(prompt.apply(to: images), axis: 0, range: b..<(b + 1))
            let loss = try withoutGrad { try model.loss(images: one, prompts: [ClassificationPrompts.officialQuestion], answers: [StepFixture.classes[labels[b]]]) }
            XCTAssertEqual(scores[b][labels[b]], -loss.item, accuracy: 1e-4)
        }
        let result = try evaluator.evaluate(model: model, protocol: .tvp(prompt), source: source)
        XCTAssertEqual(result.protocolName, "tvp")
        XCTAssertEqual(result.samples, 2)
        XCTAssertNil(result.top5, "3 candidates: no top-5, as the official code")
        XCTAssertNil(result.rocAUC)
        let argmax = scores.map { row in row.indices.max { row[$0] < row[$1] }! }
        XCTAssertEqual(result.predictions, argmax)
        XCTAssertEqual(result.top1, Double(zip(argmax, labels).filter { $0 == $1 }.count) / 2)
        let data = try JSONEncoder().encode(result)
        XCTAssertEqual(try JSONDecoder().decode(EvaluationResult.self, from: data), result)
        // Severity loops reuse the same evaluation.
        let sweep = try evaluator.evaluateSeverities(model: model, protocol: .tvp(prompt), sources: [(1, source), (2, source)])
        XCTAssertEqual(sweep.map(\.severity), [1, 2])
        XCTAssertEqual(sweep[1].result, result)
    }

    func testANaNPromptIsAnErrorNotACorrectAnswer() throws {
        let model = try StepFixture.model()
        let nan = try PaddingPrompt(perturbation: Tensor(repeating: .nan, shape: [3, 16, 16]), frame: StepFixture.frame)
        XCTAssertThrowsError(try Evaluator(batchSize: 1).evaluate(model: model, protocol: .vp(nan), source: try StepFixture.source())) { error in
            XCTAssertTrue("\(error)".contains("a NaN or infinite score has no answer"), "\(error)")
            XCTAssertTrue("\(error)".contains("item 0"), "\(error)")
        }
    }

    func testYesNoTasksGetROCAUCAndPOPEMetrics() {
        let evaluator = Evaluator()
        let scores: [[Float]] = [[0, 1], [1, 0], [0.2, 0.1], [0, 3]]   // candidates no, yes
        let result = evaluator.result(model: "m", protocolName: "vp", scores: scores, labels: [1, 0, 1, 0], candidates: ["no", "yes"])
        XCTAssertEqual(result.predictions, [1, 0, 0, 1])
        XCTAssertEqual(result.top1, 0.5)
        // yes − no: 1, −1, −0.1, 3; positives are samples 0 and 2.
        XCTAssertEqual(result.rocAUC, Metrics.rocAUC(scores: [1, -1, -0.1, 3], positives: [true, false, true, false]))
        XCTAssertEqual(result.pope, POPEMetrics(predictedYes: [true, false, false, true], actualYes: [true, false, true, false]))
        XCTAssertEqual(result.meanScore, (0.5 + 0.5 + 0.15 + 1.5) / 4, accuracy: 1e-6)
    }
}
