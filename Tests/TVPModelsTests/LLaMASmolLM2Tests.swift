import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

/// The real SmolLM2-135M-Instruct GGUF (Q4_1 layers, Q8_0 embeddings) against transformers loading
/// the same file (scripts/fixtures/llama_smollm2.py). Needs the asset and a release build:
///   swift test -c release --filter LLaMASmolLM2Tests
final class LLaMASmolLM2Tests: XCTestCase {
    /// "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    static let prompt = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]

    private func loadModel() throws -> LlamaModel {
        #if DEBUG
        throw XCTSkip("SmolLM2 runs only in release builds: swift test -c release --filter LLaMASmolLM2Tests")
        #else
        let path = try realAsset("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
        let start = Date()
        let model = try LlamaModel(gguf: GGUFFile(path: path))
        print("SmolLM2 GGUF load + dequantize: \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        return model
        #endif
    }

    func testLastLogitsAndGreedyGenerationMatchTransformers() throws {
        let model = try loadModel()
        XCTAssertEqual(model.config, .smolLM2_135M)
        let hidden = try withoutGrad { try model.forward(tokens: [Self.prompt]) }
        let last = try model.logits(hidden, positions: [Self.prompt.count - 1]).toArray()

        // transformers 5.24 (float32 after dequantizing the same GGUF):
        let topIDs = [504, 60, 38634, 15319, 7026, 33488, 50, 51, 54, 57]
        let topLogits: [Float] = [27.85875, 26.1295, 26.10153, 25.96228, 25.18138, 24.3655, 24.09434, 23.954, 23.72954, 23.48632]
        let strided: [Float] = [
            9.87175, 8.62173, 4.18829, 5.13002, 2.48609, 4.31462, 4.70089, 5.32346, 11.97241, 3.3815, 3.4689, 6.92693,
            11.95079, 9.70927, 4.99971, 9.01242, 9.00164, 3.95063, 6.04769, 7.95353, 7.18048, 6.61185, 9.37141, 7.34526,
            3.21284, 3.97898, 2.50563, 7.55199, 6.4132, 6.40675, -0.71097, 3.41255, 6.40282, 3.85652, 5.87037, 8.28961,
            15.67452, 5.80445, 7.37681, 4.28158, 5.5728, 4.74483, 7.91462, 8.45488, 7.84444, 12.12804, 6.85354, 3.43172,
        ]
        let referenceLogSumExp: Float = 28.44615

        let ours = topIDs.map { last[$0] } + stride(from: 0, to: last.count, by: 1024).map { last[$0] }
        let diff = maxAbsDiff(ours, topLogits + strided)
        let top = last.indices.sorted { last[$0] > last[$1] }.prefix(10)
        let peak = last.max()!
        let logSumExp = peak + Foundation.log(last.reduce(Float(0)) { $0 + Foundation.exp($1 - peak) })
        print("SmolLM2 last-position logits vs transformers: max abs diff \(diff) over \(ours.count) values, "
              + "logsumexp \(logSumExp) vs \(referenceLogSumExp), top-10 \(Array(top))")
        XCTAssertLessThan(diff, 2e-3)
        XCTAssertEqual(logSumExp, referenceLogSumExp, accuracy: 2e-3)
        XCTAssertEqual(Array(top.prefix(1)), [504])

        // "The capital of France is Paris.<|im_end|>": stops at eos 2.
        let generated = try model.generate(promptIDs: Self.prompt, maxNewTokens: 8, eos: [2])
        print("SmolLM2 greedy: \(generated)")
        XCTAssertEqual(generated, [504, 3575, 282, 4649, 314, 7042, 30, 2])
    }

}
