import Foundation
import XCTest
import TVPModels
import TVPTensor

/// Tiny random CLIPs written by scripts/fixtures/clip_golden.py (open_clip and HF transformers), with
/// their PyTorch outputs: width 16, 2 heads, 2 layers per tower, 32 px images in 8 px patches,
/// context 12, vocabulary 100, 16-d embeddings.
final class CLIPTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func fixture(_ name: String) throws -> [String: Tensor] {
        try Safetensors.read(Self.fixtures.appendingPathComponent(name).path)
    }

    /// Token ids stored as floats [T, N] → rows.
    func ids(_ t: Tensor) -> [[Int]] {
        let values = t.toArray().map { Int($0) }
        return (0..<t.dim(0)).map { Array(values[($0 * t.dim(1))..<(($0 + 1) * t.dim(1))]) }
    }

    /// Prints and asserts the largest absolute difference.
    func assertMatches(_ got: Tensor, _ expected: Tensor?, _ what: String, tolerance: Float = 1e-5,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let expected else { return XCTFail("golden '\(what)' missing", file: file, line: line) }
        XCTAssertEqual(got.shape, expected.shape, what, file: file, line: line)
        guard got.shape == expected.shape else { return }
        let diff = zip(got.toArray(), expected.toArray()).map { abs($0 - $1) }.max() ?? 0
        let scale = expected.toArray().map { abs($0) }.max() ?? 0
        print("CLIP golden \(what): max |diff| \(diff) (max |value| \(scale))")
        XCTAssertLessThanOrEqual(diff, tolerance, what, file: file, line: line)
    }

    let tiny = CLIPModel.Options(visionHeads: 2, textHeads: 2)

    func openCLIP(_ options: CLIPModel.Options? = nil) throws -> CLIPModel {
        try CLIPModel(weights: Weights(fixture("clip_openclip_tiny.safetensors"), source: "clip_openclip_tiny"), options: options ?? tiny)
    }

    func testConfigInferredFromShapes() throws {
        let model = try openCLIP()
        let v = model.visual.config, t = model.text.config
        XCTAssertEqual([v.imageSize, v.patchSize, v.width, v.layers, v.heads, v.outputDim, v.tokens], [32, 8, 16, 2, 2, 16, 17])
        XCTAssertEqual([t.contextLength, t.vocabSize, t.width, t.layers, t.heads, t.outputDim], [12, 100, 16, 2, 2, 16])
        XCTAssertEqual(model.logitScale, 2, accuracy: 1e-6)
        XCTAssertEqual(model.scale, Float(Foundation.exp(2.0)), accuracy: 1e-5)
        // Without options, heads follow openai/CLIP's width / 64 rule (at least one).
        XCTAssertEqual(try openCLIP(CLIPModel.Options()).visual.config.heads, 1)
    }

    func testOpenCLIPGolden() throws {
        let model = try openCLIP()
        let golden = try fixture("clip_openclip_tiny_golden.safetensors")
        let image = try XCTUnwrap(golden["image"]), text = ids(try XCTUnwrap(golden["text"]))
        try withoutGrad {
            assertMatches(try model.encodeImage(image), golden["image_features"], "open_clip image features")
            assertMatches(try model.encodeText(text), golden["text_features"], "open_clip text features")
            assertMatches(try model.logits(image: image, text: text), golden["logits_per_image"], "open_clip logits_per_image")
            assertMatches(try model.visual.hiddenState(image, layer: -2), golden["penultimate_tokens"], "open_clip penultimate tokens")
            // The penultimate tap equals hidden state 1 of a 2-block tower; the last equals `tokens`.
            XCTAssertEqual(try model.visual.hiddenState(image, layer: 1).toArray(), try model.visual.hiddenState(image, layer: -2).toArray())
            XCTAssertEqual(try model.visual.hiddenState(image, layer: 2).toArray(), try model.visual.tokens(image).toArray())
            // The class-token-only last block computes the same embedding as pooling every token.
            assertMatches(try model.encodeImage(image), try model.visual.pool(model.visual.tokens(image)), "class-token-only last block")
        }
    }

    func testPlainGELUOption() throws {
        let model = try openCLIP(CLIPModel.Options(visionHeads: 2, textHeads: 2, activation: .gelu))
        let golden = try fixture("clip_openclip_tiny_golden.safetensors")
        let image = try XCTUnwrap(golden["image"])
        assertMatches(try withoutGrad { try model.encodeImage(image) }, golden["gelu_image_features"], "open_clip GELU image features")
    }

    /// d/dimage of Σ_b scale · cos(image_b, text_b), the TSE term's shape, against torch autograd.
    func testTSEScoreGradientMatchesTorch() throws {
        let model = try openCLIP()
        let golden = try fixture("clip_openclip_tiny_golden.safetensors")
        let image = try XCTUnwrap(golden["image"]).copy(requiresGrad: true)
        let captions = Array(ids(try XCTUnwrap(golden["text"])).prefix(2))
        let textFeatures = try withoutGrad { try model.encodeText(captions) }
        let score = try (cosineSimilarity(model.encodeImage(image), textFeatures, axis: -1) * model.scale).sum()
        try score.backward()
        assertMatches(try score.reshaped([1]), golden["tse_score"], "TSE score", tolerance: 1e-5)
        assertMatches(try XCTUnwrap(image.grad), golden["tse_image_grad"], "TSE image gradient", tolerance: 1e-6)
    }

    func testCausalMaskAndEndOfTextPooling() throws {
        let model = try openCLIP()
        // EOT (99, the highest id) at position 4; what follows it must not matter, nor must the context length.
        let padded = [[98, 5, 6, 7, 99, 0, 0, 0, 0, 0, 0, 0]]
        let noisy = [[98, 5, 6, 7, 99, 50, 3, 97, 12, 1, 1, 1]]
        let short = [[98, 5, 6, 7, 99]]
        try withoutGrad {
            let reference = try model.encodeText(padded).toArray()
            let a = try model.encodeText(noisy).toArray(), b = try model.encodeText(short).toArray()
            for i in reference.indices {
                XCTAssertEqual(a[i], reference[i], accuracy: 1e-6)
                XCTAssertEqual(b[i], reference[i], accuracy: 1e-6)
            }
            // A change before the EOT does change the features.
            let changed = try model.encodeText([[98, 5, 60, 7, 99]]).toArray()
            XCTAssertGreaterThan(zip(changed, reference).map { abs($0 - $1) }.max() ?? 0, 1e-4)
        }
    }

    func testHuggingFaceGolden() throws {
        let config = try HuggingFaceCLIPConfig(json: Data(contentsOf: Self.fixtures.appendingPathComponent("clip_hf_tiny_config.json")))
        let options = try config.options()
        XCTAssertEqual(options, CLIPModel.Options(visionHeads: 2, textHeads: 2, activation: .quickGELU, textPooling: .argmax))
        var tensors = try fixture("clip_hf_tiny.safetensors")
        // Older transformers saved these buffers; the loader drops them on purpose.
        tensors["vision_model.embeddings.position_ids"] = Tensor(zeros: [1, 17])
        tensors["text_model.embeddings.position_ids"] = Tensor(zeros: [1, 12])
        let model = try CLIPModel(huggingFace: tensors, source: "clip_hf_tiny", options: options)
        let golden = try fixture("clip_hf_tiny_golden.safetensors")
        let image = try XCTUnwrap(golden["image"]), text = ids(try XCTUnwrap(golden["text"]))
        try withoutGrad {
            // HF's CLIPModel.forward returns normalized embeddings.
            assertMatches(try model.encodeImage(image, normalize: true), golden["image_features"], "HF image embeds")
            assertMatches(try model.encodeText(text, normalize: true), golden["text_features"], "HF text embeds")
            assertMatches(try model.logits(image: image, text: text), golden["logits_per_image"], "HF logits_per_image")
            assertMatches(try model.visual.hiddenState(image, layer: -2), golden["penultimate_tokens"], "HF hidden_states[-2]")

            // eos_token_id 7 (not 2): pooling takes the first 7 of each row.
            var eosOptions = options
            eosOptions.textPooling = .firstOccurrence(of: 7)
            let eosModel = try CLIPModel(huggingFace: tensors, source: "clip_hf_tiny", options: eosOptions)
            let eosText = ids(try XCTUnwrap(golden["eos_text"]))
            assertMatches(try eosModel.encodeText(eosText, normalize: true), golden["eos7_text_features"], "HF eos_token_id=7 text embeds")
        }
    }

    /// An HF `CLIPVisionModel`-style checkpoint (no text tower, no projection), as LLaVA ships its tower.
    func testHuggingFaceVisionTowerAlone() throws {
        let all = try fixture("clip_hf_tiny.safetensors")
        let visionOnly = all.filter { $0.key.hasPrefix("vision_model.") }
        let weights = Weights(try HuggingFaceCLIP.openAILayout(visionOnly), source: "clip_hf_tiny vision")
        let tower = try VisionTransformer(weights: weights, heads: 2)
        try weights.finish()
        XCTAssertNil(tower.proj)
        XCTAssertEqual(tower.config.outputDim, 16)
        let golden = try fixture("clip_hf_tiny_golden.safetensors")
        let image = try XCTUnwrap(golden["image"])
        try withoutGrad {
            assertMatches(try tower.hiddenState(image, layer: -2), golden["penultimate_tokens"], "HF vision tower alone, hidden_states[-2]")
            // pooler_output times the transposed visual_projection is the image embedding.
            let projection = try XCTUnwrap(all["visual_projection.weight"])
            let embeds = try normalize(linear(tower(image), projection), axis: -1)
            assertMatches(embeds, golden["image_features"], "HF vision tower alone, projected pooler_output")
        }
    }

    func testHuggingFaceRenameRules() throws {
        XCTAssertEqual(HuggingFaceCLIP.rename("vision_model.encoder.layers.11.layer_norm2.bias"), "visual.transformer.resblocks.11.ln_2.bias")
        XCTAssertEqual(HuggingFaceCLIP.rename("text_model.encoder.layers.3.mlp.fc1.weight"), "transformer.resblocks.3.mlp.c_fc.weight")
        XCTAssertEqual(HuggingFaceCLIP.rename("text_model.encoder.layers.0.self_attn.out_proj.weight"), "transformer.resblocks.0.attn.out_proj.weight")
        XCTAssertEqual(HuggingFaceCLIP.rename("vision_model.pre_layrnorm.weight"), "visual.ln_pre.weight")
        XCTAssertEqual(HuggingFaceCLIP.rename("text_model.final_layer_norm.bias"), "ln_final.bias")
        XCTAssertNil(HuggingFaceCLIP.rename("vision_model.encoder.layers.0.unknown.weight"))

        let q = try Tensor([1, 2], shape: [2, 1]), k = try Tensor([3, 4], shape: [2, 1]), v = try Tensor([5, 6], shape: [2, 1])
        let fused = try HuggingFaceCLIP.openAILayout([
            "text_model.encoder.layers.0.self_attn.q_proj.weight": q,
            "text_model.encoder.layers.0.self_attn.k_proj.weight": k,
            "text_model.encoder.layers.0.self_attn.v_proj.weight": v,
            "text_projection.weight": try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]),
            "some.extra": q,
        ])
        XCTAssertEqual(fused["transformer.resblocks.0.attn.in_proj_weight"]?.toArray(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(fused["text_projection"]?.shape, [3, 2])
        XCTAssertEqual(fused["text_projection"]?.toArray(), [1, 4, 2, 5, 3, 6])
        XCTAssertNotNil(fused["some.extra"], "unknown names pass through so Weights.finish() reports them")

        XCTAssertThrowsError(try HuggingFaceCLIP.openAILayout(["vision_model.encoder.layers.0.self_attn.q_proj.bias": q])) { error in
            XCTAssertTrue("\(error)".contains("k_proj"), "\(error)")
        }
    }

    func testLoadingAndInputErrors() throws {
        var tensors = try fixture("clip_openclip_tiny.safetensors")
        tensors["logit_bias"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try CLIPModel(weights: Weights(tensors, source: "extra"), options: tiny)) { error in
            XCTAssertTrue("\(error)".contains("logit_bias"), "\(error)")
        }
        tensors["logit_bias"] = nil
        tensors["context_length"] = Tensor(scalar: 12)  // OpenAI metadata keys are ignored
        let model = try CLIPModel(weights: Weights(tensors, source: "metadata"), options: tiny)

        let errors: [(String, () throws -> Tensor)] = [
            ("rows of different lengths", { try model.encodeText([[98, 99], [98, 1, 99]]) }),
            ("id outside the vocabulary", { try model.encodeText([[98, 100]]) }),
            ("longer than the context", { try model.encodeText([Array(repeating: 1, count: 13)]) }),
            ("no rows", { try model.encodeText([]) }),
            ("wrong image size", { try model.encodeImage(Tensor(zeros: [1, 3, 24, 24])) }),
            ("tap layer out of range", { try model.visual.hiddenState(Tensor(zeros: [1, 3, 32, 32]), layer: 3) }),
            ("tap layer out of range (negative)", { try model.visual.hiddenState(Tensor(zeros: [1, 3, 32, 32]), layer: -4) }),
            ("logits of mismatched widths", { try model.logits(imageFeatures: Tensor(zeros: [1, 16]), textFeatures: Tensor(zeros: [1, 8])) }),
        ]
        for (what, body) in errors {
            XCTAssertThrowsError(try body(), what) { XCTAssertTrue($0 is TensorError, "\(what): \($0)") }
        }
        XCTAssertThrowsError(try CLIPModel(weights: Weights(tensors, source: "bad heads"), options: CLIPModel.Options(visionHeads: 3)))
        tensors["visual.proj"] = nil
        XCTAssertThrowsError(try CLIPModel(weights: Weights(tensors, source: "no proj"), options: tiny)) { error in
            XCTAssertTrue("\(error)".contains("visual.proj"), "\(error)")
        }
    }
}
