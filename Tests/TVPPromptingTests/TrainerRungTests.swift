import Foundation
import TVPPrompting
import TVPTensor
import XCTest

/// Training in parts (`stoppingAfter:`, then `continuing:` the state) is the same training as one
/// call: what the rungs of a halving search rely on.
final class TrainerRungTests: XCTestCase {
    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: StepFixture.path) else { throw XCTSkip("fixture \(StepFixture.path) is absent") }
    }

    func config(_ update: PromptUpdateRule, lr: Float) -> PromptTrainingConfig {
        var c = PromptTrainingConfig.tvp
        (c.fca, c.tse, c.epochs, c.batchSize, c.update, c.learningRate) = (0.5, 0, 3, 2, update, lr)
        return c
    }

    /// Each part on a fresh trainer and prompt, as a rung stage builds them; returns the kept prompt,
    /// the parts' validation points in order, the kept step and the trained (last) prompt.
    func trainInParts(_ config: PromptTrainingConfig, stops: [Int?],
                      dropOptimizerState: Bool = false) throws -> ([Float], [ValidationPoint], Int?, [Float]) {
        let (train, held) = try PromptValidation.holdOut(SixImages(), count: 2)
        var state: TrainingState?, points: [ValidationPoint] = [], best: Int?, values: [Float] = []
        for stop in stops {
            let prompt = try PaddingPrompt(imageSize: 16, frame: StepFixture.frame)
            let trainer = try PromptTrainer(surrogates: [StepFixture.model()], prompt: prompt, config: config)
            if dropOptimizerState { state?.optimizer = OptimizerState() }
            let summary = try trainer.train(on: train, validation: try PromptValidation(source: held, every: 2), continuing: state, stoppingAfter: stop)
            state = try XCTUnwrap(trainer.state)
            points += summary.validation
            (best, values) = (summary.bestStep, prompt.values.toArray())
        }
        return (values, points, best, try XCTUnwrap(state).values.toArray())
    }

    func testPartsGiveTheStraightPromptBitForBitForEveryUpdateRule() throws {
        for (update, lr) in [(PromptUpdateRule.adam(beta1: 0.9, beta2: 0.999), Float(0.05)), (.sgd(momentum: 0.9), 0.5), (.official, 3)] {
            let c = config(update, lr: lr)
            let (straight, straightPoints, straightBest, straightLast) = try trainInParts(c, stops: [nil])
            let (parts, partPoints, partBest, partLast) = try trainInParts(c, stops: [2, 4, 6])
            XCTAssertEqual(parts, straight, "\(update)")
            XCTAssertEqual(partLast, straightLast, "\(update)")
            XCTAssertEqual(partPoints, straightPoints, "\(update): the same validation points, each measured once")
            XCTAssertEqual(partPoints.map(\.step), [0, 2, 4, 6])
            XCTAssertEqual(partBest, straightBest)
            // An uneven cut (mid-epoch) too.
            XCTAssertEqual(try trainInParts(c, stops: [1, 5, 6]).3, straightLast, "\(update)")
        }
    }

    func testTheOptimizerStateIsWhatMakesThePartsAgree() throws {
        let c = config(.adam(beta1: 0.9, beta2: 0.999), lr: 0.05)
        let straight = try trainInParts(c, stops: [nil]).3
        XCTAssertEqual(try trainInParts(c, stops: [2, 4, 6]).3, straight)
        XCTAssertNotEqual(try trainInParts(c, stops: [2, 4, 6], dropOptimizerState: true).3, straight,
                          "Adam restarted at each part moves the prompt differently")
    }

    func testAStopPastTheTrainingOrAStateAheadOfTheStopIsRefused() throws {
        let c = config(.adam(beta1: 0.9, beta2: 0.999), lr: 0.05)
        XCTAssertThrowsError(try trainInParts(c, stops: [7])) { XCTAssertTrue("\($0)".contains("has 6 steps"), "\($0)") }
        XCTAssertThrowsError(try trainInParts(c, stops: [4, 2])) { XCTAssertTrue("\($0)".contains("past the step 2"), "\($0)") }
    }

    func testAdamAndSGDStateRoundTripsAndARestoreOfTheWrongShapeIsRefused() throws {
        let param = Tensor.uniform([2, 3], seed: 1, requiresGrad: true)
        let adam = try AdamW(weightDecay: 0)
        XCTAssertEqual(adam.state(of: param), OptimizerState())
        param.grad = Tensor.uniform([2, 3], seed: 2)
        try adam.step([param], lr: 0.1)
        let state = adam.state(of: param)
        XCTAssertEqual(state.steps, 1)
        XCTAssertEqual(Set(state.tensors.keys), ["mean", "mean_square"])
        let other = try AdamW(weightDecay: 0)
        try other.restore(state, of: param)
        XCTAssertEqual(other.state(of: param), state)
        XCTAssertThrowsError(try other.restore(OptimizerState(steps: 1, tensors: ["mean": Tensor(zeros: [3])]), of: param))
        let sgd = try SGD(momentum: 0.9)
        try sgd.step([param], lr: 0.1)
        XCTAssertEqual(Set(sgd.state(of: param).tensors.keys), ["momentum"])
        XCTAssertThrowsError(try SGD(momentum: 0.9).restore(state, of: param), "Adam's moments are not SGD's state")
    }
}
