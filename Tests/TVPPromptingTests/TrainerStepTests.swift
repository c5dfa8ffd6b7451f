import Foundation
import TVPPrompting
import XCTest

/// One official TVP step on the tiny MLLM and guide against the PyTorch re-implementation
/// (scripts/fixtures/tvp_step.py): loss terms, prompt gradient and updated prompt.
final class TrainerStepTests: XCTestCase {
    func checkStep(_ name: String, fca: Float, tse: Float) throws {
        guard FileManager.default.fileExists(atPath: StepFixture.path) else { throw XCTSkip("fixture \(StepFixture.path) is absent") }
        var config = PromptTrainingConfig.tvp
        (config.fca, config.tse) = (fca, tse)
        let prompt = try PaddingPrompt(perturbation: StepFixture.tensor("start"), frame: StepFixture.frame)
        let trainer = try PromptTrainer(surrogates: [StepFixture.model()], prompt: prompt,
                                        guide: tse == 0 ? nil : StepFixture.guide(), config: config)
        let answers = StepFixture.labels.map { StepFixture.classes[$0] }
        let batch = try PromptBatch(images: StepFixture.tensor("images"), questions: Array(repeating: ClassificationPrompts.officialQuestion, count: 2),
                                    labels: StepFixture.labels, answers: answers)
        let losses = try trainer.step(batch, lr: config.learningRate)

        XCTAssertEqual(losses.total, try StepFixture.tensor("\(name).loss").item, accuracy: 1e-4, "\(name) loss")
        XCTAssertEqual(losses.task, try StepFixture.tensor("\(name).task").item, accuracy: 1e-4, "\(name) task loss")
        if fca != 0 {
            XCTAssertEqual(losses.featureConsistency ?? .nan, try StepFixture.tensor("\(name).fca_term").item, accuracy: 1e-4)
        } else {
            XCTAssertNil(losses.featureConsistency)
        }
        if tse != 0 {
            XCTAssertEqual(losses.taskSemantics ?? .nan, try StepFixture.tensor("\(name).tse_term").item, accuracy: 1e-4)
        } else {
            XCTAssertNil(losses.taskSemantics)
        }
        assertClose(try XCTUnwrap(prompt.values.grad), try StepFixture.tensor("\(name).grad"), atol: 1e-6, rtol: 1e-3, "\(name) prompt gradient")
        assertClose(prompt.values, try StepFixture.tensor("\(name).updated"), atol: 2e-5, rtol: 2e-5, "\(name) updated prompt")
        // The centre never moves.
        XCTAssertEqual(prompt.values[1, 8, 8], 0)
    }

    func testVisualPromptingStep() throws { try checkStep("vp", fca: 0, tse: 0) }
    func testFeatureConsistencyOnlyStep() throws { try checkStep("fca", fca: 0.5, tse: 0) }
    func testTaskSemanticsOnlyStep() throws { try checkStep("tse", fca: 0, tse: 0.1) }
    func testTransferableVisualPromptingStep() throws { try checkStep("tvp", fca: 0.5, tse: 0.1) }
}
