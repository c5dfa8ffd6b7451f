import Foundation
import TVPData
import TVPModels
import TVPPrompting
import TVPTensor
import XCTest

/// A source of six 12×10 images (labels cycling through the fixture's classes) that can fail on
/// a chosen call, to simulate a killed run.
final class SixImages: PromptBatchSource {
    let base: ClassificationPrompts
    var failOnCall: Int?
    private(set) var calls = 0

    init(failOnCall: Int? = nil) throws {
        let images = Tensor.uniform([6, 3, 12, 10], seed: 9)
        base = ClassificationPrompts(try ImageClassificationSet(images: images, labels: [0, 1, 2, 0, 1, 2], classNames: StepFixture.classes))
        self.failOnCall = failOnCall
    }

    var count: Int { base.count }
    var classNames: [String] { base.classNames }

    func batch(_ indices: [Int]) throws -> PromptBatch {
        calls += 1
        if calls == failOnCall { throw TensorError("SixImages", "simulated kill on call \(calls)") }
        return try base.batch(indices)
    }
}

/// A surrogate whose loss turns NaN from a chosen call on.
final class PoisonedModel: MultimodalModel {
    let inner: TinyMLLM
    let poisonFrom: Int
    var calls = 0
    init(_ inner: TinyMLLM, poisonFrom: Int) { self.inner = inner; self.poisonFrom = poisonFrom }
    var name: String { "poisoned" }
    var inputSize: Int { inner.inputSize }
    var normalization: ImageNormalization { inner.normalization }
    func visualTokens(images: Tensor) throws -> Tensor { try inner.visualTokens(images: images) }
    func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor {
        calls += 1
        let loss = try inner.loss(images: images, prompts: prompts, answers: answers)
        return calls >= poisonFrom ? loss * Float.nan : loss
    }
    func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor {
        try inner.logLikelihood(images: images, prompts: prompts, candidates: candidates)
    }
    func candidateTokenCounts(_ candidates: [String]) throws -> [Int] { try inner.candidateTokenCounts(candidates) }
}

final class TrainerLoopTests: XCTestCase {
    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: StepFixture.path) else { throw XCTSkip("fixture \(StepFixture.path) is absent") }
    }

    func config(seed: UInt64 = 42) -> PromptTrainingConfig {
        var c = PromptTrainingConfig.tvp
        (c.fca, c.tse, c.epochs, c.batchSize, c.seed, c.checkpointEvery) = (0.5, 0.1, 2, 4, seed, 1)
        return c
    }

    func train(_ config: PromptTrainingConfig, source: SixImages, checkpoint: String? = nil,
               progress: ((TrainingProgress) -> Void)? = nil) throws -> (PaddingPrompt, TrainingSummary) {
        let prompt = try PaddingPrompt(imageSize: 16, frame: StepFixture.frame)
        let trainer = try PromptTrainer(surrogates: [StepFixture.model()], prompt: prompt, guide: StepFixture.guide(), config: config)
        trainer.checkpointPath = checkpoint
        trainer.onProgress = progress
        return (prompt, try trainer.train(on: source))
    }

    func testSameSeedGivesTheSamePromptAndTheScheduleIsCosinePerEpoch() throws {
        var seen: [TrainingProgress] = []
        let (a, summary) = try train(config(), source: SixImages()) { seen.append($0) }
        let (b, _) = try train(config(), source: SixImages())
        let (c, _) = try train(config(seed: 43), source: SixImages())
        XCTAssertEqual(a.values.toArray(), b.values.toArray())
        XCTAssertNotEqual(a.values.toArray(), c.values.toArray(), "another seed shuffles and augments differently")
        XCTAssertEqual(summary.stepsPerEpoch, 2)
        XCTAssertEqual(summary.losses.count, 4)
        XCTAssertEqual(seen.map(\.globalStep), [1, 2, 3, 4])
        // CosineAnnealingLR(T_max = 2) stepped per epoch: 10, then 10 · (1 + cos(π/2)) / 2 = 5.
        XCTAssertEqual(seen.map(\.learningRate), [10, 10, 5, 5])
        XCTAssertEqual(seen[0].losses, summary.losses[0])
        XCTAssertNotNil(seen[0].losses.featureConsistency)
        XCTAssertNotNil(seen[0].losses.taskSemantics)
        XCTAssertEqual(a.values[0, 8, 8], 0, "the centre never moves")
        XCTAssertNotEqual(a.values[0, 0, 0], 0)
    }

    func testValidationScoresEveryKStepsAndKeepsTheBestPrompt() throws {
        var c = config()
        (c.fca, c.tse, c.epochs, c.batchSize, c.checkpointEvery) = (0, 0, 3, 2, 0)
        let (train, held) = try PromptValidation.holdOut(SixImages(), count: 2)
        XCTAssertEqual(train.count, 4)
        XCTAssertEqual(held.count, 2)
        XCTAssertTrue(Set(train.indices).isDisjoint(with: held.indices), "validation items are held out of training")
        XCTAssertEqual(try PromptValidation.holdOut(SixImages(), count: 2).validation.indices, held.indices, "the same items every time")
        XCTAssertThrowsError(try PromptValidation.holdOut(SixImages(), count: 6), "no training item would be left")
        let validation = try PromptValidation(source: held, every: 4)
        let prompt = try PaddingPrompt(imageSize: 16, frame: StepFixture.frame)
        let trainer = try PromptTrainer(surrogates: [StepFixture.model()], prompt: prompt, config: c)
        var seen: [Int] = []
        trainer.onProgress = { if let point = $0.validation { seen.append(point.step) } }
        let summary = try trainer.train(on: train, validation: validation)
        // 3 epochs of 2 steps: points before the first step, after step 4 and after the last (6).
        XCTAssertEqual(summary.validation.map(\.step), [0, 4, 6])
        XCTAssertEqual(seen, [0, 0, 0, 4, 4, 6], "each step reports the latest point")
        let best = try XCTUnwrap(summary.validation.first { $0.step == summary.bestStep })
        XCTAssertFalse(summary.validation.contains { $0.isBetter(than: best) }, "the kept prompt is the best point's")
        // Scoring the returned prompt again gives the kept point's numbers.
        let again = try trainer.validate(validation, step: best.step)
        XCTAssertEqual(again.accuracy, best.accuracy)
        XCTAssertEqual(again.loss, best.loss, accuracy: 1e-9)
        XCTAssertEqual(again.n, 2)
    }

    func testCandidatesTaskLossIsTheAnswersCrossEntropyAmongTheCandidatesWithItsGradient() throws {
        var c = config()
        (c.fca, c.tse, c.taskLoss, c.candidateScoring) = (0, 0, .candidates, .sum)
        let prompt = try PaddingPrompt(perturbation: StepFixture.tensor("start"), frame: StepFixture.frame)
        let model = try StepFixture.model()
        let trainer = try PromptTrainer(surrogates: [model], prompt: prompt, config: c)
        let batch = try PromptBatch(images: StepFixture.tensor("images"), questions: Array(repeating: ClassificationPrompts.officialQuestion, count: 2),
                                    labels: StepFixture.labels, answers: StepFixture.labels.map { StepFixture.classes[$0] })
        XCTAssertThrowsError(try trainer.objective(batch), "no candidates before train(on:) or by hand")
        trainer.candidates = StepFixture.classes
        // By hand: −log softmax of the whole-answer log-probabilities, averaged over the batch.
        let scores = try withoutGrad {
            try model.scores(images: prompt.apply(to: batch.images, draw: 0), prompts: batch.questions, candidates: StepFixture.classes, scoring: .sum)
        }
        var expected = 0.0
        for (b, label) in batch.labels.enumerated() {
            let row = (0..<3).map { Double(scores.data[b * 3 + $0]) }
            let top = row.max()!
            expected += -(row[label] - top - log(row.reduce(0) { $0 + exp($1 - top) }))
        }
        expected /= 2
        let (total, losses) = try trainer.objective(batch)
        XCTAssertEqual(Double(losses.task), expected, accuracy: 1e-4)
        // The gradient matches central differences on a frame value.
        try total.backward()
        let grad = try XCTUnwrap(prompt.values.grad)
        let index = 0, h: Float = 1e-2
        func objective(_ shift: Float) throws -> Double {
            let saved = prompt.values.data[index]
            prompt.values.data[index] = saved + shift
            defer { prompt.values.data[index] = saved }
            return Double(try withoutGrad { try trainer.objective(batch).losses.total })
        }
        let numeric = (try objective(h) - objective(-h)) / Double(2 * h)
        XCTAssertEqual(Double(grad.data[index]), numeric, accuracy: 2e-3 + 0.05 * abs(numeric))
        XCTAssertNotEqual(grad.data[index], 0)
    }

    func testDiagnosticsWarnWhenTheLossDoesNotFallOrValidationNeverBeatsTheStart() {
        XCTAssertEqual(TrainingDiagnostics.lossRatio([2, 2, 1.5, 1.5, 1, 1, 1, 1]) ?? 0, 0.5, accuracy: 1e-12)
        XCTAssertNil(TrainingDiagnostics.lossRatio([1, 2, 3]))
        let falling = TrainingDiagnostics.warnings(totals: [2, 2, 1, 1], validation: [])
        XCTAssertEqual(falling, [])
        let rising = TrainingDiagnostics.warnings(totals: [1.38, 1.47, 1.53, 1.51, 1.70, 1.56, 1.41, 2.16], validation: [])
        XCTAssertEqual(rising.count, 1)
        XCTAssertTrue(rising[0].contains("did not fall"), rising[0])
        let start = ValidationPoint(step: 0, accuracy: 0.5, loss: 1, n: 10)
        let flat = TrainingDiagnostics.warnings(totals: [], validation: [start, ValidationPoint(step: 8, accuracy: 0.5, loss: 1.2, n: 10)])
        XCTAssertEqual(flat.count, 1)
        XCTAssertTrue(flat[0].contains("50.0% on 10 held-out items"), flat[0])
        XCTAssertEqual(TrainingDiagnostics.warnings(totals: [], validation: [start, ValidationPoint(step: 8, accuracy: 0.6, loss: 1.2, n: 10)]), [])
    }

    func testBatchesAreASeededShuffleKeepingTheShortLastBatch() throws {
        let trainer = try PromptTrainer(surrogates: [StepFixture.model()], prompt: PaddingPrompt(imageSize: 16, frame: 4), config: .vp)
        let epoch0 = trainer.batches(epoch: 0, count: 37)
        XCTAssertEqual(epoch0.map(\.count), [16, 16, 5])
        XCTAssertEqual(epoch0.flatMap { $0 }.sorted(), Array(0..<37))
        XCTAssertNotEqual(epoch0.flatMap { $0 }, Array(0..<37))
        XCTAssertNotEqual(trainer.batches(epoch: 1, count: 37), epoch0)
        XCTAssertEqual(trainer.batches(epoch: 0, count: 37), epoch0)
    }

    func testAKilledRunResumesToTheSamePrompt() throws {
        let path = NSTemporaryDirectory() + "tvp-resume-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (uninterrupted, _) = try train(config(), source: SixImages())
        // Killed while loading the third batch (epoch 1, step 0): the state after step 2 is on disk.
        XCTAssertThrowsError(try train(config(), source: SixImages(failOnCall: 3), checkpoint: path))
        let meta = try PromptFile.metadata(path)
        XCTAssertEqual(meta["trainer-epoch"], "1")
        XCTAssertEqual(meta["trainer-step"], "0")
        let (resumed, summary) = try train(config(), source: SixImages(), checkpoint: path)
        XCTAssertEqual(summary.resumedFromEpoch, 1)
        XCTAssertEqual(summary.losses.count, 2)
        XCTAssertEqual(resumed.values.toArray(), uninterrupted.values.toArray())
        // A run with other settings refuses the state instead of mixing runs.
        XCTAssertThrowsError(try train(config(seed: 7), source: SixImages(), checkpoint: path)) {
            XCTAssertTrue("\($0)".contains("other settings"), "\($0)")
        }
    }

    func testNonFiniteLossStopsAndKeepsTheLastGoodPrompt() throws {
        var c = config()
        c.tse = 0
        let prompt = try PaddingPrompt(imageSize: 16, frame: StepFixture.frame)
        let trainer = try PromptTrainer(surrogates: [PoisonedModel(StepFixture.model(), poisonFrom: 2)], prompt: prompt, config: c)
        var afterFirst: [Float] = []
        trainer.onProgress = { _ in afterFirst = prompt.values.toArray() }
        XCTAssertThrowsError(try trainer.train(on: SixImages())) { error in
            guard case let .nonFinite(what, epoch, step, losses) = error as? PromptTrainingError else {
                return XCTFail("expected PromptTrainingError.nonFinite, got \(error)")
            }
            XCTAssertEqual(what, "loss")
            XCTAssertEqual(epoch, 0)
            XCTAssertEqual(step, 1)
            XCTAssertTrue(losses.total.isNaN)
            XCTAssertTrue("\(error)".contains("keeps its values"), "\(error)")
        }
        XCTAssertFalse(afterFirst.isEmpty)
        XCTAssertEqual(prompt.values.toArray(), afterFirst, "the prompt is the one after the last good step")
    }

    func testCleanTokensAreComputedOnceAndReused() throws {
        var c = config()
        (c.tse, c.augment, c.shuffle, c.epochs) = (0, false, false, 2)
        let cache = CleanTokenCache()
        let prompt = try PaddingPrompt(imageSize: 16, frame: StepFixture.frame)
        let trainer = try PromptTrainer(surrogates: [StepFixture.model()], prompt: prompt, config: c)
        trainer.cleanTokens = cache
        let withCache = try trainer.train(on: SixImages())
        XCTAssertEqual(cache.count, 2, "two batches, the same in both epochs without shuffling or augmentation")
        let plain = try train(c, source: SixImages()).1
        XCTAssertEqual(withCache.losses, plain.losses)
    }

    func testMismatchedSizesAndMissingGuideAreClearErrors() throws {
        XCTAssertThrowsError(try PromptTrainer(surrogates: [StepFixture.model()], prompt: PaddingPrompt(), config: .vp)) {
            XCTAssertTrue("\($0)".contains("takes 16 px images but the prompt makes 224 px"), "\($0)")
        }
        XCTAssertThrowsError(try PromptTrainer(surrogates: [StepFixture.model()], prompt: PaddingPrompt(imageSize: 16, frame: 4), config: .tvp)) {
            XCTAssertTrue("\($0)".contains("needs a TSE guide"), "\($0)")
        }
    }

    func testEnsembleSumsSurrogateLosses() throws {
        var c = config()
        c.tse = 0
        let images = try ImagePipeline.tvpTest(imageSize: 8).apply(StepFixture.tensor("images"), seed: 0)
        let batch = try PromptBatch(images: images, questions: ["This is a photo of a", "This is a photo of a"], labels: [2, 0], answers: ["frog", "cat"])
        // Two different surrogates: the fixture's model and one with every weight scaled by 0.8.
        let other = try TinyMLLM(StepFixture.subset("mllm.").mapValues { $0 * 0.8 }, name: "scaled")
        func run(_ surrogates: [any MultimodalModel]) throws -> (losses: StepLosses, gradient: [Float]) {
            let trainer = try PromptTrainer(surrogates: surrogates, prompt: PaddingPrompt(perturbation: StepFixture.tensor("start"), frame: 4), config: c)
            let (total, losses) = try trainer.objective(batch)
            try total.backward()
            return (losses, try XCTUnwrap(trainer.prompt.values.grad).toArray())
        }
        let a = try run([StepFixture.model()]), b = try run([other]), both = try run([StepFixture.model(), other])
        XCTAssertGreaterThan(abs(a.losses.task - b.losses.task), 1e-3, "the two surrogates differ")
        XCTAssertEqual(both.losses.task, a.losses.task + b.losses.task, accuracy: 1e-5)
        XCTAssertEqual(both.losses.total, a.losses.total + b.losses.total, accuracy: 1e-5)
        XCTAssertEqual(both.losses.featureConsistency!, a.losses.featureConsistency! + b.losses.featureConsistency!, accuracy: 1e-5)
        for (g, (x, y)) in zip(both.gradient, zip(a.gradient, b.gradient)) { XCTAssertEqual(g, x + y, accuracy: 1e-5) }
    }
}
