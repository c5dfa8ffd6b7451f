import Foundation
import TVPModels
import TVPTensor
import XCTest

/// The tiny random transformers LlavaForConditionalGeneration of scripts/fixtures/llava_golden.py
/// (CLIP 32 px / patch 8 / width 16 / 2 layers, MLP projector, Llama hidden 32 / 2 layers / vocab 70,
/// image token 69) against PyTorch: visual tokens, answer logits, the answer-only loss (HF labels
/// semantics, right padding), its image gradient, and candidate mean log-likelihoods with their gradient.
final class LLaVAGoldenTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/llava-tiny")

    func golden(_ file: String = "golden.safetensors") throws -> [String: Tensor] {
        try Safetensors.read(Self.folder.appendingPathComponent(file).path)
    }

    func ids(_ t: Tensor?) throws -> [Int] { try XCTUnwrap(t).toArray().map { Int($0) } }

    /// Prints and asserts the largest absolute difference.
    func assertMatches(_ got: Tensor, _ expected: Tensor?, _ what: String, tolerance: Float,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let expected else { return XCTFail("golden '\(what)' missing", file: file, line: line) }
        XCTAssertEqual(got.shape, expected.shape, what, file: file, line: line)
        guard got.shape == expected.shape else { return }
        let diff = maxAbsDiff(got.toArray(), expected.toArray())
        let scale = expected.toArray().map { abs($0) }.max() ?? 0
        print("LLaVA golden \(what): max |diff| \(diff) (max |value| \(scale))")
        XCTAssertLessThanOrEqual(diff, tolerance, what, file: file, line: line)
    }

    func testConfigAndLayout() throws {
        let config = try LLaVAConfig(configJSON: Self.folder.appendingPathComponent("config.json").path)
        XCTAssertEqual(config.imageTokenID, 69)
        XCTAssertEqual(config.visionFeatureLayer, -2)
        XCTAssertFalse(config.keepsClassToken)
        XCTAssertEqual(config.visionHeads, 2)
        XCTAssertEqual(config.visionActivation, .quickGELU)
        XCTAssertEqual(config.projectorActivation, .none)
        XCTAssertTrue(config.projectorBias)
        XCTAssertEqual([config.text.hiddenSize, config.text.numHiddenLayers, config.text.vocabSize], [32, 2, 70])
        XCTAssertFalse(config.text.tieWordEmbeddings)

        let model = try LLaVA.load(directory: Self.folder.path)
        XCTAssertEqual(model.name, "llava")
        XCTAssertEqual(model.inputSize, 32)
        XCTAssertEqual(model.visualTokenCount, 16)
        XCTAssertEqual(model.encoder.featureWidth, 16)
        XCTAssertEqual(model.normalization, .clip)
        XCTAssertNil(model.tokenizer)
        XCTAssertEqual(model.template, .llava15)
        XCTAssertThrowsError(try model.loss(images: Tensor(zeros: [1, 3, 32, 32]), prompts: ["q"], answers: ["a"]),
                             "the String API needs a tokenizer")
    }

    func testCanonicalNames() {
        let cases = [
            ("model.language_model.layers.0.mlp.up_proj.weight", "language_model.model.layers.0.mlp.up_proj.weight"),
            ("language_model.model.layers.0.mlp.up_proj.weight", "language_model.model.layers.0.mlp.up_proj.weight"),
            ("lm_head.weight", "language_model.lm_head.weight"),
            ("language_model.lm_head.weight", "language_model.lm_head.weight"),
            ("model.vision_tower.encoder.layers.1.mlp.fc1.bias", "vision_tower.vision_model.encoder.layers.1.mlp.fc1.bias"),
            ("vision_tower.encoder.layers.1.mlp.fc1.bias", "vision_tower.vision_model.encoder.layers.1.mlp.fc1.bias"),
            ("vision_tower.vision_model.pre_layrnorm.weight", "vision_tower.vision_model.pre_layrnorm.weight"),
            ("model.vision_tower.vision_model.pre_layrnorm.weight", "vision_tower.vision_model.pre_layrnorm.weight"),
            ("model.multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.weight"),
            ("multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_2.bias"),
            ("something.else", "something.else"),
        ]
        for (name, expected) in cases { XCTAssertEqual(LLaVA.canonicalName(name), expected, name) }
    }

    /// The same weights under the transformers 5 in-memory names and the hub (4.4x) names load to
    /// the same model; an extra tensor is reported.
    func testEveryLayoutLoadsTheSameModel() throws {
        let config = try LLaVAConfig(configJSON: Self.folder.appendingPathComponent("config.json").path)
        let saved = try Safetensors.read(Self.folder.appendingPathComponent("model.safetensors").path)
        func renamed(_ rule: (String) -> String) -> [String: Tensor] {
            Dictionary(uniqueKeysWithValues: saved.map { (rule($0.key), $0.value) })
        }
        let inMemory = renamed { name in
            if name.hasPrefix("language_model.model.") { return "model.language_model." + name.dropFirst("language_model.model.".count) }
            if name == "language_model.lm_head.weight" { return "lm_head.weight" }
            return "model." + name
        }
        let hub = renamed { $0.hasPrefix("vision_tower.") ? "vision_tower.vision_model." + $0.dropFirst("vision_tower.".count) : $0 }
        XCTAssertNotNil(inMemory["model.vision_tower.embeddings.class_embedding"])
        XCTAssertNotNil(hub["vision_tower.vision_model.embeddings.class_embedding"])
        let image = try XCTUnwrap(try golden()["images"])
        let reference = try withoutGrad { try LLaVA.model(config: config, tensors: saved, source: "saved").visualTokens(images: image) }
        for (layout, tensors) in [("transformers 5 in memory", inMemory), ("hub", hub)] {
            let model = try LLaVA.model(config: config, tensors: tensors, source: layout)
            XCTAssertEqual(try withoutGrad { try model.visualTokens(images: image) }.toArray(), reference.toArray(), layout)
        }
        var extra = saved
        extra["multi_modal_projector.linear_3.weight"] = Tensor(zeros: [2])
        XCTAssertThrowsError(try LLaVA.model(config: config, tensors: extra, source: "extra")) { error in
            XCTAssertTrue("\(error)".contains("multi_modal_projector.linear_3.weight"), "\(error)")
        }
    }

    func testVisualTokensLossLogitsAndImageGradient() throws {
        let model = try LLaVA.load(directory: Self.folder.path)
        let g = try golden()
        let images = try XCTUnwrap(g["images"]).copy(requiresGrad: true)
        let prompts = try [model.promptTokens(ids: ids(g["prompt_0"])), model.promptTokens(ids: ids(g["prompt_1"]))]
        XCTAssertEqual(prompts[0], PromptTokens(beforeImage: [1, 10, 11], afterImage: [12, 13, 14]))
        let answers = try [ids(g["answer_0"]), ids(g["answer_1"])]

        let visual = try model.visualTokens(images: images)
        assertMatches(visual, g["visual_tokens"], "visual tokens", tolerance: 2e-5)
        assertMatches(try model.answerLogits(visualTokens: visual, promptTokens: prompts, answerTokens: answers),
                      g["answer_logits"], "answer logits", tolerance: 1e-4)
        let loss = try model.loss(visualTokens: visual, promptTokens: prompts, answerTokens: answers)
        assertMatches(try loss.reshaped([1]), g["loss"], "loss (mean over all answer tokens)", tolerance: 2e-5)
        try loss.backward()
        assertMatches(try XCTUnwrap(images.grad), g["grad_images"], "d loss / d images", tolerance: 2e-5)

        model.lossAveraging = .perSample
        let perSample = try withoutGrad { try model.loss(images: images, promptTokens: prompts, answerTokens: answers) }
        assertMatches(try perSample.reshaped([1]), g["loss_per_sample_mean"], "loss (per-sample mean)", tolerance: 2e-5)
    }

    /// Images [0, 1, 0] with prompts [0, 1, 1]: two prefix lengths, so two cached groups whose rows
    /// are put back in image order.
    func testCandidateLogLikelihoodAndGradient() throws {
        let model = try LLaVA.load(directory: Self.folder.path)
        let g = try golden(), gl = try golden("golden_ll.safetensors")
        let images = try gatherRows(XCTUnwrap(g["images"]), [0, 1, 0]).copy(requiresGrad: true)
        let p0 = try model.promptTokens(ids: ids(g["prompt_0"])), p1 = try model.promptTokens(ids: ids(g["prompt_1"]))
        let candidates = try (0..<3).map { try ids(gl["candidate_\($0)"]) }
        let scores = try model.logLikelihood(images: images, promptTokens: [p0, p1, p1], candidateTokens: candidates)
        assertMatches(scores, gl["mean_log_likelihood"], "candidate mean log-likelihood", tolerance: 2e-5)
        try (scores * XCTUnwrap(gl["ll_weights"])).sum().backward()
        assertMatches(try XCTUnwrap(images.grad), gl["grad_ll_images"], "d Σ w · log-likelihood / d images", tolerance: 5e-5)
        XCTAssertEqual(try withoutGrad { try model.predict(images: images, promptTokens: [p0, p1, p1], candidateTokens: candidates) }, [1, 1, 1])
    }
}
