import Foundation
import TVPModels
import TVPTensor
import XCTest

/// LoRA on the LLaMA attention projections: exact against merged weights (PEFT's `merge_and_unload`
/// semantics, W + scale·B·A), a fresh adapter changes nothing, gradients reach A and B only and
/// match finite differences, and PEFT-named tensors round-trip.
final class LLaMALoRATests: XCTestCase {
    /// `lora` with every B filled with N(0, 0.3²), so the adapters change the outputs.
    func nonzero(_ lora: LlamaLoRA) -> LlamaLoRA {
        for (i, pairs) in lora.layers.enumerated() {
            for (j, target) in LlamaLoRA.targets.enumerated() {
                let b = pairs[target]!.b, noise = Tensor.randn(b.shape, std: 0.3, seed: UInt64(10 * i + j + 1))
                b.data.update(from: noise.data, count: b.count)
            }
        }
        return lora
    }

    func testAdaptedModelEqualsTheMergedWeights() throws {
        let base = try randomLlama()
        let lora = nonzero(try LlamaLoRA(config: base.config, rank: 3, alpha: 6, seed: 1))
        XCTAssertEqual(lora.scale, 2)
        var merged = LlamaModel.randomWeights(base.config, seed: 3, std: 0.3)
        for (i, pairs) in lora.layers.enumerated() {
            for (target, pair) in pairs {
                let key = "model.layers.\(i).self_attn.\(target).weight"
                merged[key] = try merged[key]! + matmul(pair.b, pair.a) * lora.scale
            }
        }
        let reference = try LlamaModel(config: base.config, weights: Weights(merged, source: "merged"))
        let tokens = [[3, 9, 27, 1, 14]]
        let adapted = try base.adapted(lora).forward(tokens: tokens).toArray()
        XCTAssertLessThan(maxAbsDiff(adapted, try reference.forward(tokens: tokens).toArray()), 1e-4)
        XCTAssertGreaterThan(maxAbsDiff(adapted, try base.forward(tokens: tokens).toArray()), 1e-2, "the adapters should matter")
        // The KV-cached scoring path goes through the adapters too.
        let prefix = try base.embed(tokens)
        let scores = try withoutGrad { try base.adapted(lora).meanLogLikelihood(prefixEmbeddings: prefix, continuations: [[4, 5], [6]]) }.toArray()
        let expected = try withoutGrad { try reference.meanLogLikelihood(prefixEmbeddings: prefix, continuations: [[4, 5], [6]]) }.toArray()
        XCTAssertLessThan(maxAbsDiff(scores, expected), 1e-4)
    }

    func testFreshAdaptersLeaveTheModelUnchanged() throws {
        let base = try randomLlama()
        let lora = try LlamaLoRA(config: base.config, rank: 4, alpha: 8, seed: 2)
        XCTAssertEqual(lora.parameterCount, 2 * 2 * (4 * 16 + 16 * 4) - 2 * 4 * 8)   // per layer: q (A 4×16, B 16×4) + v (A 4×16, B 8×4)
        XCTAssertTrue(lora.layers.allSatisfy { $0.values.allSatisfy { $0.b.toArray().allSatisfy { $0 == 0 } && $0.a.toArray().contains { $0 != 0 } } })
        let tokens = [[1, 2, 3, 4]]
        XCTAssertEqual(try base.adapted(lora).forward(tokens: tokens).toArray(), try base.forward(tokens: tokens).toArray())
        XCTAssertThrowsError(try LlamaLoRA(config: base.config, rank: 0, alpha: 1, seed: 1))
        XCTAssertThrowsError(try randomLlama(layers: 3).adapted(lora)) { XCTAssertTrue("\($0)".contains("2 layers")) }
    }

    func testGradientsReachOnlyTheAdaptersAndMatchFiniteDifferences() throws {
        let base = try randomLlama()
        let lora = nonzero(try LlamaLoRA(config: base.config, rank: 2, alpha: 2, seed: 3))
        let model = try base.adapted(lora)
        let probe = Tensor.randn([1, 5, 16], seed: 4)
        func loss() throws -> Tensor { try (model.forward(tokens: [[7, 3, 30, 2, 11]]) * probe).sum() }
        lora.setTrainable(true)
        defer { lora.setTrainable(false) }
        try loss().backward()
        XCTAssertNil(base.layers[0].qProj.grad)
        XCTAssertNil(base.embedTokens.grad)
        for (name, tensor) in lora.namedParameters.sorted(by: { $0.key < $1.key }) {
            let grad = try XCTUnwrap(tensor.grad, name)
            for flat in [0, tensor.count / 2, tensor.count - 1] {
                let numeric = try centralDifference(tensor, flat, loss)
                XCTAssertEqual(grad.data[flat], numeric, accuracy: 3e-3 + 2e-2 * abs(numeric), "\(name)[\(flat)]")
            }
        }
    }

    func testPEFTNamesRoundTripAndBadFilesFail() throws {
        let config = try randomLlama().config
        let lora = nonzero(try LlamaLoRA(config: config, rank: 3, alpha: 6, seed: 5))
        let named = lora.namedParameters
        XCTAssertEqual(named.count, 2 * 2 * 2)
        XCTAssertEqual(named["model.layers.1.self_attn.v_proj.lora_B.weight"]?.shape, [8, 3])
        XCTAssertEqual(named["model.layers.0.self_attn.q_proj.lora_A.weight"]?.shape, [3, 16])
        let weights = Weights(named, source: "adapter.safetensors")
        let loaded = try LlamaLoRA(config: config, weights: weights, scale: 2)
        try weights.finish()
        XCTAssertEqual(loaded.rank, 3)
        for (name, tensor) in loaded.namedParameters { XCTAssertEqual(tensor.toArray(), named[name]!.toArray(), name) }

        var missing = named
        missing["model.layers.1.self_attn.q_proj.lora_A.weight"] = nil
        XCTAssertThrowsError(try LlamaLoRA(config: config, weights: Weights(missing, source: "adapter.safetensors"), scale: 2)) {
            XCTAssertTrue("\($0)".contains("model.layers.1.self_attn.q_proj.lora_A.weight"), "\($0)")
        }
        var misshaped = named
        misshaped["model.layers.0.self_attn.v_proj.lora_B.weight"] = Tensor(zeros: [8, 4])
        XCTAssertThrowsError(try LlamaLoRA(config: config, weights: Weights(misshaped, source: "adapter.safetensors"), scale: 2)) {
            XCTAssertTrue("\($0)".contains("[8, 4]"), "\($0)")
        }
    }
}
