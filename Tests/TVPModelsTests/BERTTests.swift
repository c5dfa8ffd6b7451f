import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

// Goldens come from scripts/fixtures/bert_golden.py (transformers 5.24 BertModel, eager attention):
// Fixtures/bert_tiny/{model.safetensors, config.json, expected.safetensors} for a tiny random BERT,
// Fixtures/minilm_expected.safetensors for the real all-MiniLM-L6-v2 (used only when the asset exists).
final class BERTTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let tinyFolder = fixtures.appendingPathComponent("bert_tiny")
    // The padded batch of bert_golden.py: lengths 7 and 4, padding id 0.
    static let tinySequences: [[Int32]] = [[2, 17, 45, 99, 8, 61, 3], [2, 33, 71, 3]]
    static let tinyTypes: [[Int32]] = [[0, 0, 0, 0, 1, 1, 1], [0, 0, 1, 1]]

    func tinyWeights() throws -> Weights {
        try BERTEncoder.weights(from: SafetensorsFile(path: Self.tinyFolder.appendingPathComponent("model.safetensors").path))
    }

    func expected(_ name: String) throws -> Tensor {
        try SafetensorsFile(path: Self.tinyFolder.appendingPathComponent("expected.safetensors").path).tensor(name)
    }

    func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? .infinity
    }

    // MARK: config

    func testConfigDecodesHuggingFaceJSONAndValidates() throws {
        let config = try BERTEncoder.Config.load(path: Self.tinyFolder.appendingPathComponent("config.json").path)
        XCTAssertEqual(config, BERTEncoder.Config(hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 48,
                                                  maxPositionEmbeddings: 24, typeVocabSize: 2, vocabSize: 100))
        XCTAssertEqual(config.layerNormEps, 1e-12)
        XCTAssertEqual(config.headSize, 8)
        // all-MiniLM-L6-v2's config.json (extra keys ignored) decodes to the built-in preset.
        let minilm = """
            {"_name_or_path": "nreimers/MiniLM-L6-H384-uncased", "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1,
             "gradient_checkpointing": false, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 384,
             "initializer_range": 0.02, "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
             "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
             "position_embedding_type": "absolute", "transformers_version": "4.8.2", "type_vocab_size": 2, "use_cache": true,
             "vocab_size": 30522}
            """
        XCTAssertEqual(try JSONDecoder().decode(BERTEncoder.Config.self, from: Data(minilm.utf8)), .miniLML6)
        // Round trip with the HF key names.
        let encoded = String(decoding: try JSONEncoder().encode(BERTEncoder.Config.miniLML6), as: UTF8.self)
        XCTAssertTrue(encoded.contains("\"num_attention_heads\":12") && encoded.contains("\"hidden_act\":\"gelu\""), encoded)

        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func loadError(_ json: String) -> String {
            let path = folder.appendingPathComponent("config.json").path
            _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
            do { _ = try BERTEncoder.Config.load(path: path); return "no error" } catch { return "\(error)" }
        }
        let base = #""hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48, "layer_norm_eps": 1e-12, "max_position_embeddings": 24, "type_vocab_size": 2, "vocab_size": 100"#
        XCTAssertTrue(loadError("{\(base)}").contains("hidden_act"))
        XCTAssertTrue(loadError(#"{\#(base), "hidden_act": "relu"}"#).contains("\"relu\" is not supported"))
        XCTAssertTrue(loadError(#"{\#(base), "hidden_act": "gelu", "position_embedding_type": "relative_key"}"#).contains("relative_key"))
        XCTAssertTrue(loadError(#"{\#(base.replacingOccurrences(of: "\"num_attention_heads\": 4", with: "\"num_attention_heads\": 5")), "hidden_act": "gelu"}"#)
                        .contains("not a multiple of num_attention_heads 5"))
        XCTAssertTrue(loadError(#"{"hidden_size": "wide"}"#).contains("hidden_size"))
    }

    // MARK: goldens

    func testTinyModelMatchesTransformers() throws {
        let model = try BERTEncoder(directory: Self.tinyFolder.path)
        XCTAssertNotNil(model.poolerWeight)
        let batch = try BERTBatch(sequences: Self.tinySequences)
        XCTAssertEqual(batch.ids, [2, 17, 45, 99, 8, 61, 3, 2, 33, 71, 3, 0, 0, 0])
        XCTAssertEqual(batch.lengths, [7, 4])
        let hidden = try model.hiddenStates(batch)
        let diffs: [(String, Float)] = [
            ("last_hidden_state", maxAbsDiff(hidden, try expected("hidden"))),
            ("last_hidden_state with token types", maxAbsDiff(try model.hiddenStates(BERTBatch(sequences: Self.tinySequences, tokenTypes: Self.tinyTypes)),
                                                             try expected("hidden_types"))),
            ("mean pooled", maxAbsDiff(try model.sentenceEmbeddings(batch, normalized: false), try expected("mean"))),
            ("mean pooled, normalized", maxAbsDiff(try model.sentenceEmbeddings(batch), try expected("mean_normalized"))),
            ("pooler_output", maxAbsDiff(try model.poolerOutput(hidden), try expected("pooler"))),
        ]
        for (name, diff) in diffs {
            print("BERT tiny golden: \(name) max abs diff \(diff)")
            XCTAssertLessThan(diff, 2e-5, name)
        }
    }

    func testRealMiniLMMatchesSentenceTransformers() throws {
        let folder = URL(fileURLWithPath: try realAsset("all-minilm-l6-v2", "model.safetensors")).deletingLastPathComponent()
        let model = try BERTEncoder(directory: folder.path)
        XCTAssertEqual(model.config, .miniLML6)
        // transformers' BertTokenizer (vocab.txt of the asset) on:
        // "this is a photo of a cat", "this is a photo of a dog", "a diagram of the solar system".
        let ids: [[Int32]] = [[101, 2023, 2003, 1037, 6302, 1997, 1037, 4937, 102],
                              [101, 2023, 2003, 1037, 6302, 1997, 1037, 3899, 102],
                              [101, 1037, 16403, 1997, 1996, 5943, 2291, 102]]
        let embeddings = try model.sentenceEmbeddings(BERTBatch(sequences: ids))
        let reference = try SafetensorsFile(path: Self.fixtures.appendingPathComponent("minilm_expected.safetensors").path).tensor("embeddings")
        let diff = maxAbsDiff(embeddings, reference)
        print("BERT all-MiniLM-L6-v2: sentence embeddings max abs diff \(diff) vs transformers")
        XCTAssertLessThan(diff, 1e-4)
        XCTAssertEqual(try l2Norm(embeddings).toArray(), [1, 1, 1], accuracy: 1e-5)
        let rows = try (0..<3).map { try select(embeddings, axis: 0, index: $0) }
        let catDog = try cosineSimilarity(rows[0], rows[1], axis: 0).item, catSolar = try cosineSimilarity(rows[0], rows[2], axis: 0).item
        print("BERT all-MiniLM-L6-v2: cosine(cat, dog) \(catDog), cosine(cat, solar system) \(catSolar)")
        XCTAssertEqual(catDog, 0.7044621, accuracy: 1e-4)
        XCTAssertEqual(catSolar, 0.1986202, accuracy: 1e-4)
    }

    // MARK: loading

    func testPrefixesBuffersPoolerAndUnusedKeys() throws {
        let config = try BERTEncoder.Config.load(path: Self.tinyFolder.appendingPathComponent("config.json").path)
        let file = try SafetensorsFile(path: Self.tinyFolder.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(file.entries["embeddings.position_ids"]?.dtype, "I64", "the fixture carries HF's int64 buffer")
        var tensors = try file.tensors(excluding: "embeddings.position_ids")
        XCTAssertEqual(try BERTEncoder.Config.inferred(from: Weights(tensors, source: "tiny"), heads: 4), config)

        // "bert." prefix (BertForMaskedLM-style files) is detected; other heads' keys are unused.
        var prefixed = Dictionary(uniqueKeysWithValues: tensors.map { ("bert." + $0.key, $0.value) })
        prefixed["bert.embeddings.position_ids"] = Tensor(zeros: [1, 24])
        prefixed["cls.predictions.bias"] = Tensor(zeros: [100])
        let w = Weights(prefixed, source: "prefixed")
        let model = try BERTEncoder(weights: w, config: config)
        XCTAssertThrowsError(try w.finish()) { XCTAssertTrue("\($0)".contains("1 unused") && "\($0)".contains("cls.predictions.bias"), "\($0)") }
        let batch = try BERTBatch(sequences: Self.tinySequences)
        XCTAssertLessThan(maxAbsDiff(try model.hiddenStates(batch), try expected("hidden")), 2e-5)

        // Without a pooler: still loads, nothing unused, but poolerOutput says why it cannot run.
        tensors["pooler.dense.weight"] = nil
        tensors["pooler.dense.bias"] = nil
        let bare = Weights(tensors, source: "bare")
        let noPooler = try BERTEncoder(weights: bare, config: config)
        XCTAssertNoThrow(try bare.finish())
        XCTAssertNil(noPooler.poolerWeight)
        XCTAssertThrowsError(try noPooler.poolerOutput(noPooler.hiddenStates(batch))) { XCTAssertTrue("\($0)".contains("no pooler"), "\($0)") }

        // Shape and layer-count mismatches name the tensor.
        var wide = config
        wide.intermediateSize = 64
        XCTAssertThrowsError(try BERTEncoder(weights: Weights(tensors, source: "tiny"), config: wide)) {
            XCTAssertTrue("\($0)".contains("encoder.layer.0.intermediate.dense.weight") && "\($0)".contains("[48, 32]"), "\($0)")
        }
        var shallow = config
        shallow.numHiddenLayers = 1
        XCTAssertThrowsError(try BERTEncoder(weights: Weights(tensors, source: "tiny"), config: shallow)) {
            XCTAssertTrue("\($0)".contains("more layers"), "\($0)")
        }
    }

    func testBatchValidationAndMasks() throws {
        let fromMask = try BERTBatch(ids: [5, 6, 7, 5, 6, 0], attentionMask: [1, 1, 1, 1, 1, 0], batchSize: 2, tokens: 3)
        XCTAssertEqual(fromMask.lengths, [3, 2])
        XCTAssertThrowsError(try BERTBatch(ids: [5, 6, 7, 0, 5, 6], attentionMask: [1, 1, 1, 0, 1, 1], batchSize: 2, tokens: 3)) {
            XCTAssertTrue("\($0)".contains("right padding"), "\($0)")
        }
        XCTAssertThrowsError(try BERTBatch(ids: [1, 2], batchSize: 1, tokens: 2, lengths: [0]))
        XCTAssertThrowsError(try BERTBatch(ids: [1, 2, 3], batchSize: 1, tokens: 2, lengths: [2]))
        XCTAssertThrowsError(try BERTBatch(sequences: [[1], []]))
        XCTAssertThrowsError(try BERTBatch(sequences: [[1, 2]], tokenTypes: [[0]]))

        let model = try BERTEncoder(directory: Self.tinyFolder.path)
        XCTAssertThrowsError(try model.hiddenStates(BERTBatch(sequences: [[2, 100]]))) { XCTAssertTrue("\($0)".contains("100"), "\($0)") }
        XCTAssertThrowsError(try model.hiddenStates(BERTBatch(sequences: [Array(repeating: 5, count: 25)]))) {
            XCTAssertTrue("\($0)".contains("24 positions"), "\($0)")
        }
        XCTAssertThrowsError(try model.hiddenStates(BERTBatch(sequences: [[2, 3]], tokenTypes: [[0, 2]])))
        XCTAssertThrowsError(try model.hiddenStates(wordEmbeddings: Tensor(zeros: [1, 2, 31]), lengths: [2]))
    }

    /// A sequence's embedding does not depend on how much padding its batch adds.
    func testPaddingDoesNotChangeEmbeddings() throws {
        let model = try BERTEncoder(directory: Self.tinyFolder.path)
        let alone = try model.sentenceEmbeddings(BERTBatch(sequences: [Self.tinySequences[1]]))
        let padded = try model.sentenceEmbeddings(BERTBatch(sequences: Self.tinySequences, padID: 77))
        XCTAssertLessThan(maxAbsDiff(alone, try slice(padded, axis: 0, range: 1..<2)), 1e-6)
    }

    // MARK: pooling and gradients

    func testMeanPoolingMatchesReferenceLoop() throws {
        let hidden = Tensor.randn([3, 5, 4], seed: 7)
        let lengths = [5, 1, 3]
        let pooled = try meanPooling(hidden, lengths: lengths)
        var reference = [Float](repeating: 0, count: 3 * 4)
        for b in 0..<3 { for n in 0..<lengths[b] { for d in 0..<4 { reference[b * 4 + d] += hidden[b, n, d] / Float(lengths[b]) } } }
        XCTAssertEqual(pooled.shape, [3, 4])
        XCTAssertEqual(pooled.toArray(), reference, accuracy: 1e-6)
        XCTAssertThrowsError(try meanPooling(hidden, lengths: [5, 0, 3]))
        XCTAssertThrowsError(try meanPooling(hidden, lengths: [5, 6, 3]))
    }

    /// Frozen weights: gradients reach the word embeddings passed in (matching finite differences),
    /// padding positions get exactly zero, and no weight gets a gradient. Unfreezing one weight gives
    /// it a gradient that also matches finite differences.
    func testGradientsFlowToInputsAndOnlyToUnfrozenWeights() throws {
        let model = try BERTEncoder(directory: Self.tinyFolder.path)
        let batch = try BERTBatch(sequences: Self.tinySequences)
        let words = try model.wordEmbeddings(batch).copy(requiresGrad: true)
        let probe = Tensor.randn([2, 32], seed: 3)
        func loss(_ w: Tensor) throws -> Tensor {
            try (model.sentenceEmbeddings(wordEmbeddings: w, lengths: batch.lengths) * probe).sum()
        }
        try loss(words).backward()
        let grad = try XCTUnwrap(words.grad)
        XCTAssertTrue(model.parameters.allSatisfy { $0.grad == nil && !$0.requiresGrad })
        for n in 4..<7 { for d in 0..<32 { XCTAssertEqual(grad[1, n, d], 0, "padding token \(n)") } }
        for flat in [0, 37, 100, 223, 7 * 32 + 5, 7 * 32 + 3 * 32 + 31] {
            let numeric = try centralDifference(words, flat) { try loss(words) }
            XCTAssertEqual(grad.data[flat], numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "word embedding \(flat)")
        }

        let weight = model.layers[1].intermediateWeight
        weight.requiresGrad = true
        defer { weight.requiresGrad = false }
        let frozenWords = words.detached()
        try loss(frozenWords).backward()
        let weightGrad = try XCTUnwrap(weight.grad)
        XCTAssertNil(model.layers[0].queryWeight.grad)
        for flat in [0, 500, 1535] {
            let numeric = try centralDifference(weight, flat) { try loss(frozenWords) }
            XCTAssertEqual(weightGrad.data[flat], numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "intermediate weight \(flat)")
        }
    }

}

private extension SafetensorsFile {
    func tensors(excluding skipped: String) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in names where name != skipped { out[name] = try tensor(name) }
        return out
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > accuracy {
        XCTFail("value \(i): \(x) vs \(y)", file: file, line: line)
        return
    }
}
