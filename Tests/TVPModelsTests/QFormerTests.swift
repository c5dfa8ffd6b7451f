import Foundation
import TVPModels
import TVPTensor
import XCTest

/// The tiny BLIP-2 and InstructBLIP models of scripts/fixtures/blip2_golden.py (vision 32 px, patch 8,
/// width 16; Q-Former width 16, 2 layers, 4 queries; LLaMA width 32, 2 layers) and their goldens.
enum Blip2Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func folder(_ name: String) -> String { root.appendingPathComponent(name).path }
    static func golden(_ name: String) throws -> [String: Tensor] {
        try Safetensors.read(root.appendingPathComponent(name).appendingPathComponent("golden.safetensors").path)
    }
    static let prompts = [[1, 5, 9, 13], [1, 7, 22]]
    static let answers = [[30, 31, 32], [40, 41]]
    static let candidates = [[30, 31, 32], [40, 41], [50]]
    static let instructions = [[2, 10, 11, 3], [2, 12, 3]]

    /// 0.5 + 0.5 sin(0.37 x + 0.23 (c + 1) y + 1.3 b), [2, 3, 32, 32], as the script computes it.
    static func images() -> Tensor {
        let t = Tensor(zeros: [2, 3, 32, 32])
        var i = 0
        for b in 0..<2 { for c in 0..<3 { for y in 0..<32 { for x in 0..<32 {
            t.data[i] = Float(0.5 + 0.5 * sin(0.37 * Double(x) + 0.23 * Double(c + 1) * Double(y) + 1.3 * Double(b)))
            i += 1
        } } } }
        return t
    }
}

final class QFormerTests: XCTestCase {
    /// Largest |a − b|, printed with its label (llm.c style), asserted below `tolerance`.
    func assertClose(_ label: String, _ actual: Tensor, _ expected: Tensor?, tolerance: Float, file: StaticString = #filePath, line: UInt = #line) {
        guard let expected else { return XCTFail("golden '\(label)' missing", file: file, line: line) }
        XCTAssertEqual(actual.shape, expected.shape, label, file: file, line: line)
        guard actual.count == expected.count else { return }
        let diff = maxAbsDiff(actual.toArray(), expected.toArray())
        print("\(label): max |diff| \(diff)")
        XCTAssertLessThan(diff, tolerance, label, file: file, line: line)
    }

    func testConfigFromTransformers5JSON() throws {
        let blip2 = try Blip2Config(configJSON: Blip2Fixture.folder("blip2-tiny") + "/config.json")
        XCTAssertFalse(blip2.isInstructBLIP)
        XCTAssertEqual(blip2.visionConfig, Blip2Config.Vision(hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 2, numAttentionHeads: 2,
                                                              imageSize: 32, patchSize: 8))
        XCTAssertEqual(blip2.qformerConfig, Blip2Config.QFormer(hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32,
                                                                maxPositionEmbeddings: 20, vocabSize: 50, crossAttentionFrequency: 2,
                                                                encoderHiddenSize: 16))
        XCTAssertEqual(blip2.textConfig.hiddenSize, 32)
        XCTAssertEqual(blip2.textConfig.ropeTheta, 500)
        XCTAssertEqual([blip2.numQueryTokens, blip2.imageTokenIndex], [4, 63])
        let instruct = try Blip2Config(configJSON: Blip2Fixture.folder("instructblip-tiny") + "/config.json")
        XCTAssertTrue(instruct.isInstructBLIP)
        XCTAssertEqual(instruct.qformerConfig.crossAttentionFrequency, 1)
        XCTAssertTrue(instruct.textConfig.tieWordEmbeddings)

        // Omitted keys take transformers' defaults; the default (OPT) and other LMs are refused with the reason.
        let llama = #"{"model_type": "llama", "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 64}"#
        let minimal = try JSONDecoder().decode(Blip2Config.self, from: Data(#"{"text_config": \#(llama)}"#.utf8))
        XCTAssertEqual(minimal.visionConfig, Blip2Config.Vision())
        XCTAssertEqual(minimal.qformerConfig.crossAttentionFrequency, 2)
        XCTAssertEqual(minimal.qformerConfig.layerNormEps, 1e-12)
        XCTAssertEqual(minimal.numQueryTokens, 32)
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("config.json").path
        for (json, fragment) in [(#"{"model_type": "blip-2"}"#, "'opt' is not supported"),
                                 (#"{"text_config": {"model_type": "t5"}}"#, "LLaMA-family"),
                                 (#"{"model_type": "llava", "text_config": \#(llama)}"#, "llava"),
                                 (#"{"vision_config": {"hidden_act": "quick_gelu"}, "text_config": \#(llama)}"#, "quick_gelu")] {
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            assertFormatError(try Blip2Config(configJSON: path), mentions: [path, fragment])
        }
    }

    func testBlip2MatchesTransformers() throws {
        let model = try Blip2Model.load(directory: Blip2Fixture.folder("blip2-tiny"))
        let golden = try Blip2Fixture.golden("blip2-tiny")
        XCTAssertEqual([model.name, "\(model.inputSize)"], ["blip2", "32"])
        XCTAssertFalse(model.isInstructBLIP)
        XCTAssertEqual(model.qformer.layers.map { $0.crossAttention != nil }, [true, false])
        try checkGoldens(model, golden, instructions: nil)
    }

    func testInstructBLIPMatchesTransformers() throws {
        let model = try Blip2Model.load(directory: Blip2Fixture.folder("instructblip-tiny"))
        let golden = try Blip2Fixture.golden("instructblip-tiny")
        XCTAssertEqual(model.name, "instructblip")
        XCTAssertTrue(model.isInstructBLIP)
        XCTAssertEqual(model.qformer.layers.map { $0.crossAttention != nil }, [true, true])
        try checkGoldens(model, golden, instructions: Blip2Fixture.instructions)
    }

    /// Vision features, query outputs, visual tokens, both loss reductions, the image gradient of
    /// HF's loss and the candidate scores, against transformers.
    func checkGoldens(_ model: Blip2Model, _ golden: [String: Tensor], instructions: [[Int]]?) throws {
        let images = Blip2Fixture.images()
        try withoutGrad {
            assertClose("vision features", try model.imageFeatures(images: images), golden["vision"], tolerance: 1e-4)
            assertClose("Q-Former queries", try model.queryOutputs(images: images, instructionIDs: instructions), golden["query"], tolerance: 1e-4)
            assertClose("visual tokens", try model.visualTokens(images: images, instructionIDs: instructions), golden["visual"], tolerance: 2e-4)
            let perAnswer = try model.loss(images: images, promptIDs: Blip2Fixture.prompts, answerIDs: Blip2Fixture.answers,
                                           instructionIDs: instructions, reduction: .meanOverAnswers)
            assertClose("loss, mean over answers", try perAnswer.reshaped([1]), golden["loss_per_answer"], tolerance: 1e-4)
            let scores = try model.logLikelihood(images: images, promptIDs: Blip2Fixture.prompts, candidateIDs: Blip2Fixture.candidates,
                                                 instructionIDs: instructions)
            assertClose("candidate log-likelihoods", scores, golden["scores"], tolerance: 1e-4)
        }
        images.requiresGrad = true
        let loss = try model.loss(images: images, promptIDs: Blip2Fixture.prompts, answerIDs: Blip2Fixture.answers,
                                  instructionIDs: instructions, reduction: .meanOverTokens)
        assertClose("loss, mean over tokens (HF)", try loss.reshaped([1]), golden["loss"], tolerance: 1e-4)
        try loss.backward()
        let grad = try XCTUnwrap(images.grad)
        let scale = golden["image_grad"].map { $0.toArray().map(abs).max()! } ?? 1
        print("d loss / d image: largest golden |value| \(scale)")
        assertClose("d loss / d image", grad, golden["image_grad"], tolerance: 1e-3 * max(scale, 1e-3))
    }

    /// An instruction handed in as word vectors (what a caller with its own word table does) equals
    /// the same instruction as ids; a Q-Former loaded without its word table takes vectors only.
    func testInstructionAsWordVectorsEqualsIDs() throws {
        let folder = Blip2Fixture.folder("instructblip-tiny")
        let model = try Blip2Model.load(directory: folder)
        let images = Blip2Fixture.images()
        let rows = Blip2Fixture.instructions, t = rows.map(\.count).max()!
        let ids = rows.flatMap { $0 + Array(repeating: 0, count: t - $0.count) }
        try withoutGrad {
            let features = try model.imageFeatures(images: images)
            let table = try XCTUnwrap(model.qformer.wordEmbeddings)
            let words = try embedding(ids: ids, shape: [rows.count, t], table: table)
            let fromWords = try model.qformer(queries: model.queryTokens, imageFeatures: features, instructionWords: words, lengths: rows.map(\.count))
            XCTAssertLessThan(maxAbsDiff(fromWords.toArray(), try model.queryOutputs(images: images, instructionIDs: rows).toArray()), 1e-6)
            let config = try Blip2Config(configJSON: folder + "/config.json")
            let weights = Weights(try Safetensors.read(folder + "/model.safetensors"), source: "instructblip-tiny")
            let wordless = try QFormer(config: config.qformerConfig, weights: weights, prefix: "qformer.", instruction: true, wordTable: false)
            XCTAssertTrue(wordless.acceptsInstruction)
            XCTAssertNil(wordless.wordEmbeddings)
            let again = try wordless(queries: model.queryTokens, imageFeatures: features, instructionWords: words, lengths: rows.map(\.count))
            XCTAssertEqual(again.toArray(), fromWords.toArray())
            let batch = try BERTBatch(sequences: rows.map { $0.map { Int32($0) } })
            XCTAssertThrowsError(try wordless(queries: model.queryTokens, imageFeatures: features, instruction: batch)) {
                XCTAssertTrue("\($0)".contains("no word table"), "\($0)")
            }
            XCTAssertThrowsError(try wordless(queries: model.queryTokens, imageFeatures: features, instructionWords: words, lengths: [t + 1, 1]))
        }
    }

    /// Batched calls with ragged prompts, answers and instructions equal one call per image.
    func testBatchedEqualsRowByRow() throws {
        let model = try Blip2Model.load(directory: Blip2Fixture.folder("instructblip-tiny"))
        let images = Blip2Fixture.images()
        let (p, a, i) = (Blip2Fixture.prompts, Blip2Fixture.answers, Blip2Fixture.instructions)
        try withoutGrad {
            let batched = try model.logLikelihood(images: images, promptIDs: p, candidateIDs: Blip2Fixture.candidates, instructionIDs: i)
            let queries = try model.queryOutputs(images: images, instructionIDs: i)
            var perImage: Float = 0
            for b in 0..<2 {
                let one = try gatherRows(images, [b])
                let rowScores = try model.logLikelihood(images: one, promptIDs: [p[b]], candidateIDs: Blip2Fixture.candidates, instructionIDs: [i[b]])
                XCTAssertLessThan(maxAbsDiff(rowScores.toArray(), try gatherRows(batched, [b]).toArray()), 1e-4)
                let rowQueries = try model.queryOutputs(images: one, instructionIDs: [i[b]])
                XCTAssertLessThan(maxAbsDiff(rowQueries.toArray(), try gatherRows(queries, [b]).toArray()), 1e-4)
                perImage += try model.loss(images: one, promptIDs: [p[b]], answerIDs: [a[b]], instructionIDs: [i[b]]).item / 2
            }
            let batchedLoss = try model.loss(images: images, promptIDs: p, answerIDs: a, instructionIDs: i, reduction: .meanOverAnswers)
            XCTAssertEqual(batchedLoss.item, perImage, accuracy: 1e-4)
            // Prompts listed longest-last: groups come back in the images' order.
            let swapped = try model.logLikelihood(images: gatherRows(images, [1, 0]), promptIDs: [p[1], p[0]],
                                                  candidateIDs: Blip2Fixture.candidates, instructionIDs: [i[1], i[0]])
            XCTAssertLessThan(maxAbsDiff(swapped.toArray(), try gatherRows(batched, [1, 0]).toArray()), 1e-4)
        }
    }

    /// The MultimodalModel string methods tokenize and call the token-id methods.
    func testStringMethodsUseTheTokenizers() throws {
        let model = try Blip2Model.load(directory: Blip2Fixture.folder("instructblip-tiny"))
        let images = Blip2Fixture.images()
        XCTAssertThrowsError(try model.loss(images: images, prompts: ["a", "b"], answers: ["c", "d"]))   // no tokenizer yet
        // A 64-word LM vocabulary ("w0" … "w63", [UNK] = 0, BOS 1) and a 50-word Q-Former one with [CLS] 2, [SEP] 3.
        var lmVocabulary = ["[UNK]": 0]
        for i in 1..<64 { lmVocabulary["w\(i)"] = i }
        model.tokenizer = try WordPieceTokenizer(vocabulary: lmVocabulary, addedTokens: [], template: SpecialTokenTemplate(prefix: [1]))
        XCTAssertThrowsError(try model.loss(images: images, prompts: ["a", "b"], answers: ["c", "d"]))   // no instruction tokenizer
        var bertVocabulary = ["[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3]
        for i in 4..<50 { bertVocabulary["w\(i)"] = i }
        model.instructionTokenizer = try WordPieceTokenizer(vocabulary: bertVocabulary)
        let prompts = ["w5 w9 w13", "w7 w22"], answers = ["w30 w31 w32", "w40 w41"], candidates = ["w30 w31 w32", "w40 w41", "w50"]
        let instructionIDs = [[2, 5, 9, 13, 3], [2, 7, 22, 3]]
        try withoutGrad {
            let fromStrings = try model.loss(images: images, prompts: prompts, answers: answers)
            let fromIDs = try model.loss(images: images, promptIDs: Blip2Fixture.prompts, answerIDs: Blip2Fixture.answers, instructionIDs: instructionIDs)
            XCTAssertEqual(fromStrings.item, fromIDs.item, accuracy: 1e-6)
            let scores = try model.logLikelihood(images: images, prompts: prompts, candidates: candidates)
            let expected = try model.logLikelihood(images: images, promptIDs: Blip2Fixture.prompts, candidateIDs: Blip2Fixture.candidates,
                                                   instructionIDs: instructionIDs)
            XCTAssertEqual(scores.toArray(), expected.toArray())
            let best = (0..<2).map { b in (0..<3).max { expected.data[b * 3 + $0] < expected.data[b * 3 + $1] }! }
            XCTAssertEqual(try model.predict(images: images, prompts: prompts, candidates: candidates), best)
            XCTAssertEqual(try model.visualTokens(images: images).shape, [2, 4, 32])
            model.appendEOSToAnswers = true   // the WordPiece LM vocabulary has no EOS
            XCTAssertThrowsError(try model.loss(images: images, prompts: prompts, answers: answers))
        }
    }

    func testLoadingLayoutsAndErrors() throws {
        let folder = Blip2Fixture.folder("blip2-tiny")
        let config = try Blip2Config(configJSON: folder + "/config.json")
        var tensors = try Safetensors.read(folder + "/model.safetensors")
        let reference = try Blip2Model.load(directory: folder)
        let images = Blip2Fixture.images()
        // EVA/LAVIS keeps q_bias and v_bias apart (no key bias): the same model.
        for i in 0..<2 {
            let key = "vision_model.encoder.layers.\(i).self_attn."
            let fused = try XCTUnwrap(tensors.removeValue(forKey: key + "qkv.bias"))
            tensors[key + "q_bias"] = try slice(fused, axis: 0, range: 0..<16)
            tensors[key + "v_bias"] = try slice(fused, axis: 0, range: 32..<48)
        }
        let weights = Weights(tensors, source: "split-bias")
        let split = try Blip2Model(config: config, weights: weights)
        try weights.finish()
        try withoutGrad {
            XCTAssertLessThan(maxAbsDiff(try split.imageFeatures(images: images).toArray(), try reference.imageFeatures(images: images).toArray()), 1e-6)
            XCTAssertThrowsError(try reference.queryOutputs(images: images, instructionIDs: Blip2Fixture.instructions)) { error in
                XCTAssertTrue("\(error)".contains("reads no instruction"), "\(error)")
            }
            XCTAssertThrowsError(try reference.visualTokens(images: Tensor(zeros: [1, 3, 24, 24]))) { error in
                XCTAssertTrue("\(error)".contains("[B, 3, 32, 32]"), "\(error)")
            }
            XCTAssertThrowsError(try reference.loss(images: images, promptIDs: Blip2Fixture.prompts, answerIDs: [[30], []]))
            XCTAssertThrowsError(try reference.loss(images: images, promptIDs: Blip2Fixture.prompts, answerIDs: [[30], [64]]))
            XCTAssertThrowsError(try reference.logLikelihood(images: images, promptIDs: [[1]], candidateIDs: [[3]]))
        }
        // A stray tensor fails loading; a missing one names itself.
        tensors["qformer.extra.weight"] = Tensor(zeros: [1])
        let extra = Weights(tensors, source: "extra")
        _ = try Blip2Model(config: config, weights: extra)
        XCTAssertThrowsError(try extra.finish()) { XCTAssertTrue("\($0)".contains("qformer.extra.weight"), "\($0)") }
        tensors.removeValue(forKey: "query_tokens")
        XCTAssertThrowsError(try Blip2Model(config: config, weights: Weights(tensors, source: "missing"))) {
            XCTAssertTrue("\($0)".contains("query_tokens"), "\($0)")
        }
    }
}
