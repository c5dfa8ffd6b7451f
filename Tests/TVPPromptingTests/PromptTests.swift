import TVPModels
import TVPPrompting
import TVPTensor
import XCTest

final class PromptTests: XCTestCase {
    func testOfficialFrameGeometry() throws {
        let prompt = try PaddingPrompt()
        XCTAssertEqual(prompt.innerSize, 164)
        XCTAssertEqual(prompt.learnableCount, 69_840)
        XCTAssertEqual(prompt.mask.toArray().reduce(0, +), 69_840)
        XCTAssertEqual(prompt.mask[0, 29, 100], 1)
        XCTAssertEqual(prompt.mask[2, 30, 30], 0)
        XCTAssertEqual(prompt.mask[1, 193, 193], 0)
        XCTAssertEqual(prompt.mask[1, 194, 100], 1)
        XCTAssertTrue(prompt.perturbation.requiresGrad)
        XCTAssertThrowsError(try PaddingPrompt(imageSize: 224, frame: 112))
    }

    func testPadThenPromptThenNormalize() throws {
        let prompt = try PaddingPrompt(imageSize: 8, frame: 2)
        prompt.perturbation.data[0] = 0.25  // channel 0, pixel (0, 0): in the frame
        let images = Tensor(repeating: 0.5, shape: [2, 3, 4, 4])
        let padded = try prompt.pad(images)
        XCTAssertEqual(padded.shape, [2, 3, 8, 8])
        XCTAssertEqual(padded[1, 2, 3, 3], 0.5)
        XCTAssertEqual(padded[1, 2, 1, 3], 0)
        let input = try prompt.apply(toPadded: padded)
        let clip = ImageNormalization.clip
        XCTAssertEqual(input[0, 0, 0, 0], (0.25 - clip.mean[0]) / clip.std[0], accuracy: 1e-5)
        XCTAssertEqual(input[1, 1, 4, 4], (0.5 - clip.mean[1]) / clip.std[1], accuracy: 1e-5)
        XCTAssertEqual(input[1, 2, 7, 7], -clip.mean[2] / clip.std[2], accuracy: 1e-5)
        // The gradient reaches the prompt through padding and normalization: d/dp Σ input = B / std.
        try input.sum().backward()
        XCTAssertEqual(prompt.perturbation.grad?[1, 0, 0] ?? 0, 2 / clip.std[1], accuracy: 1e-4)
        XCTAssertThrowsError(try prompt.pad(Tensor(zeros: [1, 3, 5, 5]))) { XCTAssertTrue("\($0)".contains("[B, 3, 4, 4]"), "\($0)") }
    }

    func testFeatureConsistencyIsMeanOfUnsquaredNorms() throws {
        let prompted = try Tensor([3, 4, 0, 0, 1, 0, 0, 2], shape: [1, 2, 4], requiresGrad: true)
        let clean = Tensor(zeros: [1, 2, 4])
        let loss = try featureConsistencyLoss(prompted: prompted, clean: clean)
        XCTAssertEqual(loss.item, (5 + Float(5).squareRoot()) / 2, accuracy: 1e-5)
        try loss.backward()
        let g = try XCTUnwrap(prompted.grad).toArray()
        XCTAssertEqual(g[0], 0.5 * 3 / 5, accuracy: 1e-5)
        XCTAssertEqual(g[7], 0.5 * 2 / Float(5).squareRoot(), accuracy: 1e-5)
        XCTAssertThrowsError(try featureConsistencyLoss(prompted: prompted, clean: Tensor(zeros: [1, 4])))
    }

    func testTaskSemanticsScoreScalesCosineAndClampsAt100() throws {
        let image = try Tensor([1, 0, 0, 1], shape: [2, 2], requiresGrad: true)
        let text = try Tensor([1, 0, 1, 1], shape: [2, 2])
        let cosMean = (1 + 1 / Float(2).squareRoot()) / 2
        XCTAssertEqual(try taskSemanticsScore(imageFeatures: image, textFeatures: text, logitScale: 4.6052).item, 100 * cosMean, accuracy: 1e-3)
        XCTAssertEqual(try taskSemanticsScore(imageFeatures: image, textFeatures: text, logitScale: 9).item, 100 * cosMean, accuracy: 1e-3)
        XCTAssertEqual(try taskSemanticsScore(imageFeatures: image, textFeatures: text, logitScale: 0).item, cosMean, accuracy: 1e-5)
    }

    func testObjectiveCombinesWeightedTerms() throws {
        let task = Tensor(scalar: 2), fca = Tensor(scalar: 10), tse = Tensor(scalar: 50)
        let total = try transferObjective(task: task, fca: 0.005, featureConsistency: fca, tse: 0.001, taskSemantics: tse)
        XCTAssertEqual(total.item, 2 + 0.05 - 0.05, accuracy: 1e-6)
        XCTAssertEqual(try transferObjective(task: task, fca: 0, featureConsistency: nil, tse: 0, taskSemantics: nil).item, 2)
        XCTAssertThrowsError(try transferObjective(task: task, fca: 1, featureConsistency: nil, tse: 0, taskSemantics: nil))
    }
}

final class PromptFileTests: XCTestCase {
    /// The prompt released with the official TVP code (MIT licence beside it).
    static let official = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../TVPModelsTests/Fixtures/official-prompt/tvp-official-cifar10-minigpt4.pth").standardized.path

    func testOfficialCheckpointImportsWithItsFrameAndRoundTripsThroughSafetensors() throws {
        let prompt = try PromptFile.importOfficial(Self.official)
        XCTAssertEqual(prompt.imageSize, 224)
        XCTAssertEqual(prompt.frame, 30)
        XCTAssertEqual(prompt.learnableCount, 69_840)
        let path = NSTemporaryDirectory() + "tvp-prompt-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PromptFile.save(prompt, to: path)
        let back = try PromptFile.load(path)
        XCTAssertEqual(back.frame, 30)
        XCTAssertEqual(back.perturbation.toArray(), prompt.perturbation.toArray(), "exact values survive the round trip")
        XCTAssertEqual(try PromptFile.load(Self.official).perturbation.toArray(), prompt.perturbation.toArray())
    }

    func testFrameIsInferredFromTheZeroCentre() throws {
        let values = Tensor(zeros: [3, 10, 10])
        for c in 0..<3 { for y in 0..<10 { for x in 0..<10 where y < 2 || y > 7 || x < 2 || x > 7 { values.data[(c * 10 + y) * 10 + x] = 0.5 } } }
        values.data[(1 * 10 + 1) * 10 + 1] = 0  // a zero inside the frame does not shrink it
        let path = NSTemporaryDirectory() + "tvp-prompt-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Safetensors.write(["perturbation": values], to: path)
        XCTAssertEqual(try PromptFile.load(path).frame, 2)
        try Safetensors.write(["other": values], to: path)
        XCTAssertThrowsError(try PromptFile.load(path)) { XCTAssertTrue("\($0)".contains("no 'perturbation'"), "\($0)") }
    }
}
