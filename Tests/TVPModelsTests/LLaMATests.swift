import Foundation
import TVPModels
import TVPTensor
import XCTest

/// The tiny HF model of scripts/fixtures/llama_tiny.py (hidden 32, 2 layers, 4 heads, 2 KV heads,
/// vocab 64, tied, rope theta 500) as safetensors and as a llama.cpp-style GGUF, plus its goldens.
enum LlamaTinyFixture {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/llama-tiny")
    static func model() throws -> LlamaModel { try LlamaModel.load(directory: folder.path) }
    static func golden() throws -> [String: Tensor] { try Safetensors.read(folder.appendingPathComponent("golden.safetensors").path) }
    static let tokens = [5, 17, 42, 3, 60, 8, 33]
}

/// Largest |a − b| over two equally long arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// The central difference (f(t + h) − f(t − h)) / 2h of the scalar `f` in one entry of `t`, without gradients.
func centralDifference(_ t: Tensor, _ flat: Int, h: Float = 1e-2, _ f: () throws -> Tensor) throws -> Float {
    let saved = t.data[flat]
    t.data[flat] = saved + h
    let up = try withoutGrad { try f().item }
    t.data[flat] = saved - h
    let down = try withoutGrad { try f().item }
    t.data[flat] = saved
    return (up - down) / (2 * h)
}

/// A small untied random model for consistency checks (no golden needed).
func randomLlama(tied: Bool = false, layers: Int = 2) throws -> LlamaModel {
    let config = LlamaConfig(hiddenSize: 16, intermediateSize: 24, numHiddenLayers: layers, numAttentionHeads: 4,
                             numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 100, vocabSize: 40, tieWordEmbeddings: tied)
    let weights = Weights(LlamaModel.randomWeights(config, seed: 3, std: 0.3), source: "random")
    let model = try LlamaModel(config: config, weights: weights)
    try weights.finish()
    return model
}

final class LLaMATests: XCTestCase {
    // MARK: config

    func testConfigFromTransformers5JSON() throws {
        let c = try LlamaConfig(configJSON: LlamaTinyFixture.folder.appendingPathComponent("config.json").path)
        XCTAssertEqual(c, LlamaConfig(hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4,
                                      numKeyValueHeads: 2, headDim: 8, rmsNormEps: 1e-5, ropeTheta: 500, vocabSize: 64,
                                      tieWordEmbeddings: true, maxPositionEmbeddings: 64))
    }

    func testConfigFromTransformers4JSONAndRejections() throws {
        let old = #"{"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 6,"#
            + #" "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "vocab_size": 100}"#
        let c = try JSONDecoder().decode(LlamaConfig.self, from: Data((old.dropLast() + #", "rope_scaling": null}"#).utf8))
        XCTAssertEqual(c.numKeyValueHeads, 6)
        XCTAssertEqual(c.headDim, 8)
        XCTAssertEqual(c.ropeTheta, 10000)
        XCTAssertFalse(c.tieWordEmbeddings)
        XCTAssertEqual(try JSONDecoder().decode(LlamaConfig.self, from: JSONEncoder().encode(c)), c)

        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("config.json").path
        for (json, fragment) in [
            (old.dropLast() + #", "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}"#, "llama3"),
            (old.dropLast() + #", "attention_bias": true}"#, "attention_bias"),
            (#"{"hidden_size": 48}"#, "intermediate_size"),
        ] {
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            assertFormatError(try LlamaConfig(configJSON: path), mentions: [path, fragment])
        }
    }

    func testConfigFromGGUFMetadataAndInferredFromShapes() throws {
        let file = try GGUFFile(path: LlamaTinyFixture.folder.appendingPathComponent("model.gguf").path)
        let fromJSON = try LlamaConfig(configJSON: LlamaTinyFixture.folder.appendingPathComponent("config.json").path)
        XCTAssertEqual(try LlamaConfig(gguf: file), fromJSON)
        let weights = Weights(try Safetensors.read(LlamaTinyFixture.folder.appendingPathComponent("model.safetensors").path), source: "tiny")
        XCTAssertEqual(try LlamaConfig(inferringFrom: weights, headDim: 8, rmsNormEps: 1e-5, ropeTheta: 500, maxPositionEmbeddings: 64), fromJSON)
    }

    // MARK: GGUF names and row order

    func testGGUFNameRules() {
        let expected = [
            "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
            "output.weight": "lm_head.weight", "blk.0.attn_q.weight": "model.layers.0.self_attn.q_proj.weight",
            "blk.12.attn_k.weight": "model.layers.12.self_attn.k_proj.weight", "blk.3.attn_v.weight": "model.layers.3.self_attn.v_proj.weight",
            "blk.3.attn_output.weight": "model.layers.3.self_attn.o_proj.weight", "blk.29.ffn_gate.weight": "model.layers.29.mlp.gate_proj.weight",
            "blk.1.ffn_up.weight": "model.layers.1.mlp.up_proj.weight", "blk.1.ffn_down.weight": "model.layers.1.mlp.down_proj.weight",
            "blk.4.attn_norm.weight": "model.layers.4.input_layernorm.weight", "blk.4.ffn_norm.weight": "model.layers.4.post_attention_layernorm.weight",
        ]
        for (gguf, hf) in expected { XCTAssertEqual(LlamaGGUF.hfName(gguf), hf, gguf) }
        for unknown in ["rope_freqs.weight", "blk.x.attn_q.weight", "blk.0.attn_q.bias", "blk.0.attn_qkv.weight", "blk.-1.ffn_up.weight"] {
            XCTAssertNil(LlamaGGUF.hfName(unknown), unknown)
        }
    }

    /// llama.cpp's `LlamaModel.permute` written as a plain loop: HF row h·Dh + j·Dh/2 + i → GGUF row h·Dh + 2i + j.
    private func llamaCppPermute(_ w: Tensor, heads: Int) throws -> Tensor {
        let dh = w.dim(0) / heads, cols = w.dim(1)
        var out = [Float](repeating: 0, count: w.count)
        for h in 0..<heads { for j in 0..<2 { for i in 0..<(dh / 2) { for col in 0..<cols {
            out[(h * dh + 2 * i + j) * cols + col] = w.data[(h * dh + j * dh / 2 + i) * cols + col]
        } } } }
        return try Tensor(out, shape: w.shape)
    }

    func testUnpermuteUndoesLlamaCppPermute() throws {
        let w = Tensor.randn([3 * 8, 5], seed: 1)
        let back = try LlamaGGUF.unpermuteRotaryRows(llamaCppPermute(w, heads: 3), heads: 3)
        XCTAssertEqual(back.toArray(), w.toArray())
        XCTAssertThrowsError(try LlamaGGUF.unpermuteRotaryRows(w, heads: 5))
    }

    // MARK: goldens from transformers (tiny model)

    func testHiddenAndLogitsMatchTransformers() throws {
        let model = try LlamaTinyFixture.model(), golden = try LlamaTinyFixture.golden()
        XCTAssertTrue(model.lmHead === model.embedTokens)
        let hidden = try model.forward(tokens: [LlamaTinyFixture.tokens])
        let logits = try model.logits(hidden)
        let dh = maxAbsDiff(hidden.toArray(), golden["hidden"]!.toArray())
        let dl = maxAbsDiff(logits.toArray(), golden["logits"]!.toArray())
        print("llama tiny vs transformers: hidden max abs diff \(dh), logits max abs diff \(dl)")
        XCTAssertEqual(logits.shape, [1, 7, 64])
        XCTAssertLessThan(dh, 1e-4)
        XCTAssertLessThan(dl, 1e-4)
    }

    func testGGUFFixtureLoadsToTheSameModel() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: LlamaTinyFixture.folder.appendingPathComponent("model.gguf").path))
        let logits = try model.logits(model.forward(tokens: [LlamaTinyFixture.tokens]))
        let d = maxAbsDiff(logits.toArray(), try LlamaTinyFixture.golden()["logits"]!.toArray())
        print("llama tiny GGUF (unpermuted q/k, half-split rope) vs transformers: logits max abs diff \(d)")
        XCTAssertLessThan(d, 1e-4)
    }

    func testInputEmbeddingGradientMatchesTransformers() throws {
        let model = try LlamaTinyFixture.model(), golden = try LlamaTinyFixture.golden()
        let embeds = try model.embed([LlamaTinyFixture.tokens]).copy(requiresGrad: true)
        let hidden = try model.forward(inputEmbeddings: embeds)
        let loss = try crossEntropy(model.logits(hidden, positions: [2, 4, 6]).reshaped([3, 64]), targets: [11, 29, 50])
        try loss.backward()
        XCTAssertEqual(loss.item, golden["loss"]!.item, accuracy: 1e-4)
        let grad = try XCTUnwrap(embeds.grad)
        let d = maxAbsDiff(grad.toArray(), golden["grad_inputs_embeds"]!.toArray())
        print("llama tiny d loss / d inputs_embeds vs transformers: max abs diff \(d)")
        XCTAssertLessThan(d, 1e-5)
        XCTAssertNil(model.embedTokens.grad)
        XCTAssertNil(model.layers[0].qProj.grad)
        XCTAssertFalse(model.layers[1].downProj.requiresGrad)
    }

    func testGreedyGenerationMatchesTransformers() throws {
        let model = try LlamaTinyFixture.model()
        let expected = try LlamaTinyFixture.golden()["generated"]!.toArray().map { Int($0) }
        XCTAssertEqual(try model.generate(promptIDs: [7, 21, 2, 44], maxNewTokens: 6), expected)
        // eos stops generation and is returned; zero new tokens is allowed.
        XCTAssertEqual(try model.generate(promptIDs: [7, 21, 2, 44], maxNewTokens: 6, eos: [expected[2]]), Array(expected.prefix(3)))
        XCTAssertEqual(try model.generate(promptIDs: [7, 21, 2, 44], maxNewTokens: 0), [])
    }

    func testMeanLogLikelihoodMatchesTransformers() throws {
        let model = try LlamaTinyFixture.model()
        let scores = try withoutGrad {
            try model.meanLogLikelihood(prefixEmbeddings: model.embed([[9, 30, 14]]), continuations: [[4], [12, 40], [63, 1, 22]])
        }
        XCTAssertEqual(scores.shape, [1, 3])
        let d = maxAbsDiff(scores.toArray(), try LlamaTinyFixture.golden()["mean_log_likelihood"]!.toArray())
        print("llama tiny mean log-likelihood vs transformers: max abs diff \(d)")
        XCTAssertLessThan(d, 1e-4)
    }

    // MARK: consistency (KV cache, padding, batching, row selection)

    func testCachedDecodeEqualsFullRecompute() throws {
        let model = try randomLlama()
        let tokens = [3, 14, 15, 9, 26, 5, 35, 8]
        let full = try model.logits(model.forward(tokens: [tokens]))
        let cache = LlamaKVCache(layers: 2)
        var pieces = [try model.forward(tokens: [Array(tokens[0..<3])], cache: cache)]
        pieces.append(try model.forward(tokens: [Array(tokens[3..<5])], cache: cache))
        for t in tokens[5...] { pieces.append(try model.forward(tokens: [[t]], cache: cache)) }
        XCTAssertEqual(cache.length, 8)
        XCTAssertEqual(cache.layer(1)?.keys.shape, [1, 2, 8, 4])
        let cached = try model.logits(concat(pieces, axis: 1))
        let d = maxAbsDiff(cached.toArray(), full.toArray())
        print("llama cached decode vs full recompute: logits max abs diff \(d)")
        XCTAssertLessThan(d, 1e-4)
        XCTAssertThrowsError(try model.forward(tokens: [[1], [2]], cache: cache))  // batch changed
    }

    func testRightPaddingMatchesUnpaddedRuns() throws {
        let model = try randomLlama()
        let long = [1, 2, 3, 4, 5], short = [6, 7, 8]
        let batch = try model.forward(tokens: [long, short + [0, 0]],
                                      attentionMask: Array(repeating: true, count: 5) + [true, true, true, false, false])
        let alone = try model.forward(tokens: [short])
        XCTAssertLessThan(maxAbsDiff(try slice(batch, axis: 0, range: 1..<2).toArray().prefix(3 * 16).map { $0 },
                                     alone.toArray()), 1e-5)
        XCTAssertLessThan(maxAbsDiff(try slice(batch, axis: 0, range: 0..<1).toArray(), try model.forward(tokens: [long]).toArray()), 1e-5)
        // A padded cache carries its key padding into later calls.
        let cache = LlamaKVCache(layers: 2)
        _ = try model.forward(tokens: [[6, 7, 8, 0]], attentionMask: [true, true, true, false], cache: cache)
        XCTAssertEqual(cache.validKeys, [true, true, true, false])
        let next = try model.forward(tokens: [[9]], positions: [3], cache: cache)
        let reference = try model.forward(tokens: [[6, 7, 8, 9]])
        XCTAssertLessThan(maxAbsDiff(next.toArray(), try slice(reference, axis: 1, range: 3..<4).toArray()), 1e-5)
    }

    func testLogitsOnlyAtRequestedRows() throws {
        let model = try randomLlama()
        let hidden = try model.forward(tokens: [[1, 2, 3, 4], [5, 6, 7, 8]])
        let all = try model.logits(hidden)
        let some = try model.logits(hidden, rows: [(batch: 1, position: 2), (batch: 0, position: 0)])
        XCTAssertEqual(some.shape, [2, 40])
        // Same values up to BLAS summation order (different row counts pick different kernels).
        XCTAssertLessThan(maxAbsDiff(Array(some.toArray()[0..<40]), Array(all.toArray()[(4 + 2) * 40..<(4 + 3) * 40])), 1e-5)
        XCTAssertLessThan(maxAbsDiff(Array(some.toArray()[40..<80]), Array(all.toArray()[0..<40])), 1e-5)
        XCTAssertEqual(try model.logits(hidden, positions: [3]).shape, [2, 1, 40])
        XCTAssertThrowsError(try model.logits(hidden, rows: [(batch: 2, position: 0)]))
    }

    /// The oracle for `meanLogLikelihood`: one full forward per candidate, log-softmax, plain averages.
    private func referenceMeanLogLikelihood(_ model: LlamaModel, prefix: Tensor, candidate: [Int]) throws -> Tensor {
        let inputs = try concat([prefix, model.embed([candidate])], axis: 1)
        let logProbs = try logSoftmax(model.logits(model.forward(inputEmbeddings: inputs)))
        let p = prefix.dim(1), v = model.config.vocabSize
        var picks = [Float](repeating: 0, count: logProbs.count)
        for (j, t) in candidate.enumerated() { picks[(p - 1 + j) * v + t] = 1 / Float(candidate.count) }
        return try (logProbs * Tensor(picks, shape: logProbs.shape)).sum()
    }

    func testMeanLogLikelihoodBatchesAndGradientsMatchPlainLoop() throws {
        let model = try randomLlama(tied: true)
        let candidates = [[4, 9, 2], [17], [30, 31]]
        let prefix = try model.embed([[1, 2, 3, 4], [5, 6, 7, 8]]).copy(requiresGrad: true)
        let scores = try model.meanLogLikelihood(prefixEmbeddings: prefix, continuations: candidates)
        XCTAssertEqual(scores.shape, [2, 3])
        try (scores * Tensor([1, -2, 3, 0.5, 1.5, -1], shape: [2, 3])).sum().backward()
        let fast = try XCTUnwrap(prefix.grad).toArray()

        let leaves = [try select(prefix, axis: 0, index: 0).copy(requiresGrad: true), try select(prefix, axis: 0, index: 1).copy(requiresGrad: true)]
        var reference: [Float] = []
        var total = Tensor(scalar: 0)
        for (b, weights) in [[Float(1), -2, 3], [0.5, 1.5, -1]].enumerated() {
            for (c, candidate) in candidates.enumerated() {
                let s = try referenceMeanLogLikelihood(model, prefix: leaves[b].reshaped([1, 4, 16]), candidate: candidate)
                reference.append(s.item)
                total = try total + s * weights[c]
            }
        }
        try total.backward()
        let d = maxAbsDiff(scores.toArray(), reference)
        let dg = maxAbsDiff(fast, leaves.flatMap { $0.grad!.toArray() })
        print("llama batched mean log-likelihood vs per-candidate loop: scores \(d), prefix gradient \(dg)")
        XCTAssertLessThan(d, 1e-4)
        XCTAssertLessThan(dg, 1e-4)
        XCTAssertThrowsError(try model.meanLogLikelihood(prefixEmbeddings: prefix, continuations: [[]]))
        XCTAssertThrowsError(try model.meanLogLikelihood(prefixEmbeddings: prefix, continuations: [[40]]))
    }

    // MARK: loading errors

    func testLoadingFailsOnUnusedMissingAndMisshapedTensors() throws {
        let config = try randomLlama().config
        var tensors = LlamaModel.randomWeights(config, seed: 1)
        tensors["model.layers.0.self_attn.q_proj.bias"] = Tensor(zeros: [16])
        let extra = Weights(tensors, source: "extra")
        _ = try LlamaModel(config: config, weights: extra)
        XCTAssertThrowsError(try extra.finish()) { XCTAssertTrue("\($0)".contains("q_proj.bias"), "\($0)") }

        tensors = LlamaModel.randomWeights(config, seed: 1)
        tensors["lm_head.weight"] = nil
        XCTAssertThrowsError(try LlamaModel(config: config, weights: Weights(tensors, source: "untied"))) {
            XCTAssertTrue("\($0)".contains("lm_head.weight"), "\($0)")
        }
        tensors = LlamaModel.randomWeights(config, seed: 1)
        tensors["model.layers.1.mlp.up_proj.weight"] = Tensor(zeros: [16, 24])
        XCTAssertThrowsError(try LlamaModel(config: config, weights: Weights(tensors, source: "shapes"))) {
            XCTAssertTrue("\($0)".contains("up_proj") && "\($0)".contains("[24, 16]"), "\($0)")
        }
        let model = try randomLlama()
        XCTAssertThrowsError(try model.forward(inputEmbeddings: Tensor(zeros: [1, 3, 8])))
        XCTAssertThrowsError(try model.forward(tokens: [[1, 2]], positions: [0]))
        XCTAssertThrowsError(try model.forward(tokens: [[1, 2]], attentionMask: [true]))
        XCTAssertThrowsError(try model.embed([[1, 2], [3]]))
    }
}
