import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

/// Composed MLLMs from parts: connectors (oracles, finite-difference weight gradients), vision
/// encoder adapters, the String API over a real tokenizer, right padding and prefix grouping
/// against one-sample runs, validation, and a release-only smoke test on real SmolLM2 +
/// EfficientNet-Lite0. The LLaVA goldens against PyTorch are in LLaVAGoldenTests.
final class ComposedMLLMTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    // MARK: connectors

    func testConnectorShapesInitializationAndNames() throws {
        let mlp = MLPProjector(inputWidth: 6, outputWidth: 8, seed: 1)
        XCTAssertEqual(mlp.namedParameters.keys.sorted(), ["linear_1.bias", "linear_1.weight", "linear_2.bias", "linear_2.weight"])
        XCTAssertEqual(mlp.parameters.map(\.shape), [[8], [8, 6], [8], [8, 8]])
        XCTAssertEqual(mlp.parameterCount, 8 + 48 + 8 + 64)
        XCTAssertEqual(mlp.linear1.weight.toArray().map { abs($0) }.max()!, 1 / Float(6).squareRoot(), accuracy: 0.05)
        XCTAssertTrue(mlp.linear1.weight.toArray().allSatisfy { abs($0) <= 1 / Float(6).squareRoot() })
        XCTAssertEqual(MLPProjector(inputWidth: 6, outputWidth: 8, seed: 1).parameters.map { $0.toArray() }, mlp.parameters.map { $0.toArray() })
        XCTAssertNotEqual(MLPProjector(inputWidth: 6, outputWidth: 8, seed: 2).linear1.weight.toArray(), mlp.linear1.weight.toArray())
        XCTAssertTrue(mlp.parameters.allSatisfy { !$0.requiresGrad }, "frozen until a trainer asks")
        let x = Tensor.randn([2, 5, 6], seed: 3)
        XCTAssertEqual(try mlp(x).shape, [2, 5, 8])
        XCTAssertThrowsError(try mlp(Tensor.randn([2, 5, 7], seed: 3)))

        // Reloading from the saved names gives the same map.
        let reloaded = try MLPProjector(weights: Weights(mlp.namedParameters, source: "saved"), prefix: "")
        XCTAssertEqual(try reloaded(x).toArray(), try mlp(x).toArray())

        let linear = LinearProjector(inputWidth: 6, outputWidth: 4, bias: false, seed: 5)
        XCTAssertEqual(linear.namedParameters.keys.sorted(), ["weight"])
        XCTAssertEqual(try linear(x).shape, [2, 5, 4])
        XCTAssertEqual(try linear.outputTokenCount(inputTokens: 5), 5)
    }

    /// Average-pooling of k consecutive tokens then a linear map, against plain loops.
    func testPooledLinearProjectorMatchesLoops() throws {
        let (b, t, c, d, k) = (2, 6, 3, 4, 3)
        let pooled = try PooledLinearProjector(inputWidth: c, outputWidth: d, groupSize: k, seed: 9)
        let x = Tensor.randn([b, t, c], seed: 4)
        let y = try pooled(x)
        XCTAssertEqual(y.shape, [b, t / k, d])
        let w = pooled.projection.weight, bias = try XCTUnwrap(pooled.projection.bias)
        var expected: [Float] = []
        for i in 0..<b {
            for g in 0..<(t / k) {
                for o in 0..<d {
                    var s = bias[o]
                    for ch in 0..<c {
                        var mean: Float = 0
                        for j in 0..<k { mean += x[i, g * k + j, ch] }
                        s += w[o, ch] * mean / Float(k)
                    }
                    expected.append(s)
                }
            }
        }
        XCTAssertLessThan(maxAbsDiff(y.toArray(), expected), 1e-5)
        XCTAssertEqual(try pooled.outputTokenCount(inputTokens: 6), 2)
        XCTAssertThrowsError(try pooled.outputTokenCount(inputTokens: 7))
        XCTAssertThrowsError(try pooled(Tensor.randn([1, 7, c], seed: 1)))
        XCTAssertThrowsError(try PooledLinearProjector(inputWidth: c, outputWidth: d, groupSize: 0, seed: 1))
    }

    /// Weight and feature gradients of trainable connectors against Float64 central differences.
    func testTrainableConnectorGradients() throws {
        let x = Tensor.randn([2, 4, 3], seed: 11, requiresGrad: true)
        let connectors: [any Connector] = [MLPProjector(inputWidth: 3, outputWidth: 5, seed: 2),
                                           LinearProjector(inputWidth: 3, outputWidth: 5, seed: 3),
                                           try PooledLinearProjector(inputWidth: 3, outputWidth: 5, groupSize: 2, seed: 4)]
        for connector in connectors {
            connector.setTrainable(true)
            let probe = try withoutGrad { try connector(x) }
            let w = Tensor.randn(probe.shape, seed: 5)
            func objective() throws -> Double {
                let y = try withoutGrad { try connector(x) }
                return (0..<y.count).reduce(0.0) { $0 + Double(y.data[$1]) * Double(w.data[$1]) }
            }
            x.grad = nil
            try (connector(x) * w).sum().backward()
            for (index, t) in ([x] + connector.parameters).enumerated() {
                let grad = try XCTUnwrap(t.grad, "\(type(of: connector)) input \(index) got no gradient")
                for i in stride(from: 0, to: t.count, by: max(1, t.count / 7)) {
                    let saved = t.data[i], eps: Float = 1e-2
                    t.data[i] = saved + eps
                    let plus = try objective()
                    t.data[i] = saved - eps
                    let minus = try objective()
                    t.data[i] = saved
                    let numeric = (plus - minus) / Double(2 * eps)
                    XCTAssertEqual(Double(grad.data[i]), numeric, accuracy: 2e-2 * max(1, abs(numeric)), "\(type(of: connector)) input \(index) at \(i)")
                }
            }
            connector.setTrainable(false)
            XCTAssertTrue(connector.parameters.allSatisfy { !$0.requiresGrad })
        }
    }

    // MARK: vision encoders

    func testCLIPEncoderTapsAndClassToken() throws {
        let tensors = try Safetensors.read(Self.fixtures.appendingPathComponent("clip_openclip_tiny.safetensors").path)
        let tower = try VisionTransformer(weights: Weights(tensors, source: "clip tiny"), prefix: "visual.", heads: 2)
        let image = Tensor.randn([2, 3, 32, 32], seed: 1)
        let dropped = try CLIPVisionEncoder(tower: tower)
        let kept = try CLIPVisionEncoder(tower: tower, layer: 1, keepsClassToken: true)
        XCTAssertEqual([dropped.inputSize, dropped.featureWidth, dropped.tokenCount, kept.tokenCount], [32, 16, 16, 17])
        XCTAssertEqual(dropped.normalization, .clip)
        let hidden = try withoutGrad { try tower.hiddenState(image, layer: -2) }
        XCTAssertEqual(try withoutGrad { try kept.features(image) }.toArray(), hidden.toArray())
        let features = try withoutGrad { try dropped.features(image) }
        XCTAssertEqual(features.shape, [2, 16, 16])
        XCTAssertEqual(features.toArray(), try slice(hidden, axis: 1, range: 1..<17).toArray())
        XCTAssertThrowsError(try CLIPVisionEncoder(tower: tower, layer: 3))
        XCTAssertThrowsError(try CLIPVisionEncoder(tower: tower, layer: -4))
    }

    func tinyEfficientNet() throws -> EfficientNetLite {
        let path = Self.fixtures.appendingPathComponent("efficientnet_tiny.pth").path
        return try EfficientNetLite(weights: Weights(TorchCheckpoint.load(path), source: path), config: EfficientNetTests.tinyConfig)
    }

    /// Token counts and widths computed from the config equal the tap's real shape; a map
    /// [B, C, H, W] becomes tokens [B, H·W, C] in row-major grid order.
    func testEfficientNetEncoderTapsAndFlattening() throws {
        let network = try tinyEfficientNet()
        let image = Tensor.uniform([2, 3, 30, 30], seed: 2)
        for tap: EfficientNetLite.Tap in [.stem, .block(1), .stage(2), .head, .pooled, .logits] {
            let encoder = try EfficientNetVisionEncoder(network: network, tap: tap)
            let features = try withoutGrad { try encoder.features(image) }
            XCTAssertEqual(features.shape, [2, encoder.tokenCount, encoder.featureWidth], "\(tap)")
        }
        let encoder = try EfficientNetVisionEncoder(network: network, tap: .stage(1))
        XCTAssertEqual([encoder.inputSize, encoder.tokenCount, encoder.featureWidth], [30, 64, 16])
        let map = try withoutGrad { try network.features(image, taps: [.stage(1)])[0] }
        let tokens = try withoutGrad { try encoder.features(image) }
        for (b, h, w, c) in [(0, 0, 0, 0), (1, 3, 5, 7), (1, 7, 7, 15), (0, 2, 6, 9)] {
            XCTAssertEqual(tokens[b, h * 8 + w, c], map[b, c, h, w])
        }
        XCTAssertThrowsError(try EfficientNetVisionEncoder(network: network, tap: .block(4)))
        XCTAssertThrowsError(try EfficientNetVisionEncoder(network: network, tap: .stage(3)))
        XCTAssertThrowsError(try encoder.features(Tensor.uniform([1, 3, 32, 32], seed: 1)))
    }

    // MARK: composition

    /// Tiny EfficientNet (head tap: 16 tokens of 64) → pooled projector (4 tokens) → random LLaMA
    /// over the byte-level tokenizer fixture's 521 ids, SmolLM2 chat template.
    func zooModel(connector: (any Connector)? = nil) throws -> ComposedMLLM {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: tokenizerFixture("bytelevel_bpe.tokenizer.json"))
        let config = LlamaConfig(hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                 rmsNormEps: 1e-5, ropeTheta: 100, vocabSize: tokenizer.vocabularySize, tieWordEmbeddings: true)
        let weights = Weights(LlamaModel.randomWeights(config, seed: 8, std: 0.3), source: "random")
        let language = try LlamaModel(config: config, weights: weights)
        let encoder = try EfficientNetVisionEncoder(network: tinyEfficientNet(), tap: .head)
        let projector = try connector ?? PooledLinearProjector(inputWidth: 64, outputWidth: 16, groupSize: 4, seed: 6)
        return try ComposedMLLM(name: "zoo-tiny", encoder: encoder, connector: projector, language: language, tokenizer: tokenizer)
    }

    func testStringAPIFollowsTheTemplate() throws {
        let model = try zooModel()
        XCTAssertEqual([model.inputSize, model.visualTokenCount], [30, 4])
        XCTAssertEqual(model.normalization, EfficientNetVisionEncoder.liteNormalization)
        let tokenizer = try XCTUnwrap(model.tokenizer)
        let prompt = try model.promptTokens(question: "What is it?")
        XCTAssertEqual(tokenizer.decode(prompt.beforeImage), "<|im_start|>user\n")
        XCTAssertEqual(tokenizer.decode(prompt.afterImage), "\nWhat is it?<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(prompt.beforeImage.first, tokenizer.id(forToken: "<|im_start|>"))
        model.template.answerSuffix = "<|im_end|>"
        XCTAssertEqual(tokenizer.decode(try model.answerTokens("a cat")), "a cat<|im_end|>")
        XCTAssertEqual(tokenizer.decode(try model.candidateTokens("a cat")), "a cat")

        let images = Tensor.uniform([2, 3, 30, 30], seed: 4)
        let questions = ["What is it?", "Is there a dog in this picture?"], answers = ["a cat", "no"]
        let viaStrings = try withoutGrad { try model.loss(images: images, prompts: questions, answers: answers) }
        let viaIDs = try withoutGrad {
            try model.loss(images: images, promptTokens: questions.map { try model.promptTokens(question: $0) },
                           answerTokens: answers.map { try model.answerTokens($0) })
        }
        XCTAssertEqual(viaStrings.item, viaIDs.item)
        let scores = try withoutGrad { try model.logLikelihood(images: images, prompts: questions, candidates: ["yes", "no", "a cat"]) }
        XCTAssertEqual(scores.shape, [2, 3])
        XCTAssertTrue(scores.toArray().allSatisfy { $0.isFinite && $0 < 0 })
        XCTAssertEqual(try model.predict(images: images, prompts: questions, candidates: ["yes", "no", "a cat"]).count, 2)
    }

    /// A right-padded batch gives each sample what it gets alone; `.allAnswerTokens` weighs samples
    /// by answer length, `.perSample` equally. Candidate scoring with two prefix lengths equals
    /// per-image scoring. Images get gradients; frozen weights do not.
    func testBatchingMatchesSingleSamples() throws {
        let model = try zooModel()
        let images = Tensor.uniform([3, 3, 30, 30], seed: 7, requiresGrad: true)
        let prompts = [PromptTokens(beforeImage: [1, 20], afterImage: [30, 31, 32]), PromptTokens(beforeImage: [1], afterImage: [40]),
                       PromptTokens(beforeImage: [1, 20], afterImage: [30, 31, 33])]
        let answers = [[50, 51], [60, 61, 62, 63, 64], [70]]
        let single = try (0..<3).map { i in
            try withoutGrad { try model.loss(images: slice(images, axis: 0, range: i..<(i + 1)), promptTokens: [prompts[i]], answerTokens: [answers[i]]).item }
        }
        let tokens = answers.map { Float($0.count) }
        let weighted = zip(single, tokens).reduce(0) { $0 + $1.0 * $1.1 } / tokens.reduce(0, +)
        XCTAssertEqual(try withoutGrad { try model.loss(images: images, promptTokens: prompts, answerTokens: answers) }.item, weighted, accuracy: 1e-5)
        model.lossAveraging = .perSample
        XCTAssertEqual(try withoutGrad { try model.loss(images: images, promptTokens: prompts, answerTokens: answers) }.item,
                       single.reduce(0, +) / 3, accuracy: 1e-5)

        let candidates = [[5], [6, 7], [8, 9, 10]]
        let batched = try model.logLikelihood(images: images, promptTokens: prompts, candidateTokens: candidates)
        XCTAssertEqual(batched.shape, [3, 3])
        for i in 0..<3 {
            let alone = try withoutGrad {
                try model.logLikelihood(images: slice(images, axis: 0, range: i..<(i + 1)), promptTokens: [prompts[i]], candidateTokens: candidates)
            }
            XCTAssertLessThan(maxAbsDiff(Array(batched.toArray()[(3 * i)..<(3 * i + 3)]), alone.toArray()), 1e-5, "image \(i)")
        }
        try batched.sum().backward()
        let grad = try XCTUnwrap(images.grad)
        XCTAssertTrue(grad.toArray().allSatisfy(\.isFinite))
        XCTAssertGreaterThan(grad.toArray().map { abs($0) }.max()!, 0)
        XCTAssertNil(model.language.embedTokens.grad)
        XCTAssertNil(model.language.layers[0].qProj.grad)
        XCTAssertTrue(model.connector.parameters.allSatisfy { $0.grad == nil })
    }

    func testValidation() throws {
        let model = try zooModel()
        let images = Tensor.uniform([1, 3, 30, 30], seed: 1)
        let prompt = PromptTokens(beforeImage: [1], afterImage: [2])
        XCTAssertThrowsError(try model.visualTokens(images: Tensor.uniform([1, 3, 32, 32], seed: 1)))
        XCTAssertThrowsError(try model.loss(images: images, promptTokens: [prompt, prompt], answerTokens: [[3]]))
        XCTAssertThrowsError(try model.loss(images: images, promptTokens: [prompt], answerTokens: [[]]))
        XCTAssertThrowsError(try model.loss(images: images, promptTokens: [prompt], answerTokens: [[100_000]]))
        XCTAssertThrowsError(try model.logLikelihood(images: images, promptTokens: [prompt], candidateTokens: [[]]))
        XCTAssertThrowsError(try zooModel(connector: MLPProjector(inputWidth: 32, outputWidth: 16, seed: 1)), "encoder gives 64")
        XCTAssertThrowsError(try zooModel(connector: MLPProjector(inputWidth: 64, outputWidth: 8, seed: 1)), "LM takes 16")
        XCTAssertThrowsError(try zooModel(connector: PooledLinearProjector(inputWidth: 64, outputWidth: 16, groupSize: 3, seed: 1)), "16 tokens")
        XCTAssertThrowsError(try model.promptTokens(ids: [1, 2]), "no image token id")
        XCTAssertEqual(try PromptTokens(ids: [1, 9, 9, 9, 2, 3], imageTokenID: 9), PromptTokens(beforeImage: [1], afterImage: [2, 3]))
        XCTAssertThrowsError(try PromptTokens(ids: [1, 9, 2, 9], imageTokenID: 9))
        XCTAssertThrowsError(try PromptTokens(ids: [1, 2], imageTokenID: 9))
    }

    // MARK: real parts

    /// SmolLM2-135M-Instruct (GGUF) + EfficientNet-Lite0 (head tap, 49 tokens of 1280) + a random
    /// MLP projector: the zoo's composition on real weights. Release only:
    ///   swift test -c release --filter ComposedMLLMTests/testSmolLM2EfficientNetSmoke
    func testSmolLM2EfficientNetSmoke() throws {
        #if DEBUG
        throw XCTSkip("real SmolLM2 + EfficientNet-Lite0 runs only in release builds")
        #else
        let gguf = try GGUFFile(path: realAsset("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"))
        let network = try EfficientNetLite.load(realAsset("efficientnet-lite0", "efficientnet-lite0-57934424.pth"))
        let start = Date()
        let encoder = try EfficientNetVisionEncoder(network: network, tap: .head)
        let model = try ComposedMLLM(name: "zoo-effnet-mlp", encoder: encoder,
                                     connector: MLPProjector(inputWidth: encoder.featureWidth, outputWidth: 576, seed: 42),
                                     language: LlamaModel(gguf: gguf), tokenizer: ByteLevelBPETokenizer(gguf: gguf))
        XCTAssertEqual([model.inputSize, model.visualTokenCount, encoder.featureWidth], [224, 49, 1280])
        let images = Tensor.uniform([1, 3, 224, 224], seed: 3, requiresGrad: true)
        let loss = try model.loss(images: images, prompts: ["What animal is in the picture?"], answers: ["A cat."])
        XCTAssertTrue(loss.item.isFinite && loss.item > 0, "\(loss.item)")
        try loss.backward()
        let grad = try XCTUnwrap(images.grad).toArray()
        XCTAssertTrue(grad.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(grad.map { abs($0) }.max()!, 0)
        let scores = try withoutGrad { try model.logLikelihood(images: images, prompts: ["What animal is in the picture?"], candidates: ["cat", "dog", "bird"]) }
        XCTAssertEqual(scores.shape, [1, 3])
        XCTAssertTrue(scores.toArray().allSatisfy { $0.isFinite && $0 < 0 })
        print("SmolLM2 + EfficientNet-Lite0: loss \(loss.item), scores \(scores.toArray()), max |grad| \(grad.map { abs($0) }.max()!), "
              + String(format: "%.2f s", Date().timeIntervalSince(start)))
        #endif
    }
}
