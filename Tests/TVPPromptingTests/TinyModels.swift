import Foundation
import TVPData
import TVPModels
import TVPPrompting
import TVPTensor
import XCTest

/// The fixture of scripts/fixtures/tvp_step.py: tiny MLLM and guide weights, inputs, expected step values.
enum StepFixture {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tvp_step.safetensors").path
    static let classes = ["cat", "dog", "frog"]
    static let labels = [2, 0]
    static let frame = 4
    static let tensors: [String: Tensor] = (try? Safetensors.read(path)) ?? [:]

    static func tensor(_ name: String) throws -> Tensor {
        try XCTUnwrap(tensors[name], "fixture \(path) has no '\(name)'")
    }

    /// Tensors under `prefix`, with the prefix removed.
    static func subset(_ prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }

    /// Lower-cased characters: a–z → 1…26, space → 27, anything else → 28 (BOS 29, guide start 30, end 31).
    static func ids(_ text: String) -> [Int] {
        text.lowercased().unicodeScalars.map { c in
            c.value >= 97 && c.value <= 122 ? Int(c.value) - 96 : c == " " ? 27 : 28
        }
    }

    static func model(name: String = "tiny-mllm") throws -> TinyMLLM { try TinyMLLM(subset("mllm."), name: name) }

    static func guide() throws -> CLIPGuide {
        let model = try CLIPModel(weights: Weights(subset("guide."), source: "tvp_step guide"), options: .init(visionHeads: 2, textHeads: 2))
        return CLIPGuide(model: model) { captions in captions.map { [30] + ids($0) + [31] } }
    }

    /// The fixture's two images [2, 3, 8, 8] as a classification source (labels 2 and 0).
    static func source() throws -> ClassificationPrompts {
        ClassificationPrompts(try ImageClassificationSet(images: tensor("images"), labels: labels, classNames: classes))
    }
}

/// A tiny MLLM from public TVPModels parts: CLIP ViT tokens (all tokens after the last block) →
/// linear projector → LLaMA. The sequence of sample b is [BOS, visual tokens, question, answer].
final class TinyMLLM: MultimodalModel {
    let name: String
    let inputSize: Int
    let normalization = ImageNormalization.clip
    let visual: VisionTransformer
    let projectorWeight, projectorBias: Tensor
    let llm: LlamaModel

    init(_ tensors: [String: Tensor], name: String) throws {
        let w = Weights(tensors, source: "tiny mllm")
        visual = try VisionTransformer(weights: w, prefix: "visual.", heads: 2)
        projectorWeight = try w.take("projector.weight")
        projectorBias = try w.take("projector.bias")
        let config = LlamaConfig(hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2,
                                 numKeyValueHeads: 1, rmsNormEps: 1e-5, ropeTheta: 10000, vocabSize: 32)
        llm = try LlamaModel(config: config, weights: w, prefix: "llm.")
        try w.finish()
        inputSize = visual.config.imageSize
        self.name = name
    }

    func visualTokens(images: Tensor) throws -> Tensor {
        try linear(visual.tokens(normalization(images)), projectorWeight, projectorBias)
    }

    /// [1, P, D]: BOS, the visual tokens of image b, the question.
    private func prefix(_ tokens: Tensor, _ b: Int, _ question: String) throws -> Tensor {
        try concat([llm.embed([[29]]), slice(tokens, axis: 0, range: b..<(b + 1)), llm.embed([StepFixture.ids(question)])], axis: 1)
    }

    func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor {
        let tokens = try visualTokens(images: images)
        var total: Tensor?
        for b in 0..<images.dim(0) {
            let head = try prefix(tokens, b, prompts[b]), answer = StepFixture.ids(answers[b])
            let hidden = try llm.forward(inputEmbeddings: concat([head, llm.embed([answer])], axis: 1))
            let p = head.dim(1)
            let logits = try llm.logits(hidden, positions: Array((p - 1)..<(p - 1 + answer.count))).reshaped([answer.count, 32])
            let ce = try crossEntropy(logits, targets: answer)
            total = try total.map { try $0 + ce } ?? ce
        }
        return total! * (1 / Float(images.dim(0)))
    }

    func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor {
        let tokens = try visualTokens(images: images)
        return try concat((0..<images.dim(0)).map { b in
            try llm.meanLogLikelihood(prefixEmbeddings: prefix(tokens, b, prompts[b]), continuations: candidates.map(StepFixture.ids))
        }, axis: 0)
    }

    func candidateTokenCounts(_ candidates: [String]) throws -> [Int] { candidates.map { StepFixture.ids($0).count } }
}

/// Compares two tensors value by value: |a − b| ≤ atol + rtol·|b|; reports the largest difference.
func assertClose(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(what): shapes", file: file, line: line)
    guard a.shape == b.shape else { return }
    var worst: Float = 0, at = 0
    for i in 0..<a.count {
        let excess = abs(a.data[i] - b.data[i]) - (atol + rtol * abs(b.data[i]))
        if excess > worst { worst = excess; at = i }
    }
    XCTAssertEqual(worst, 0, "\(what): value \(at) is \(a.data[at]), expected \(b.data[at])", file: file, line: line)
}
