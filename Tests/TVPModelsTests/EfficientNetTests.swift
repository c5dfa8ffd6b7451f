import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

// Goldens come from scripts/fixtures/efficientnet_lite.py (the reference port
// efficientnet_lite_pytorch 0.1.0, eval mode, torch 2.15 CPU).

/// The deterministic test image of the fixture script: Float64 math, then Float32.
func efficientNetPattern(batch: Int, channels: Int, size: Int) -> Tensor {
    let x = Tensor(uninitialized: [batch, channels, size, size])
    for b in 0..<batch { for c in 0..<channels { for hi in 0..<size { for wi in 0..<size {
        let h = Double(hi), w = Double(wi), cd = Double(c), bd = Double(b)
        let v = Foundation.sin(0.31 * (h + 1) * (cd + 1) + 0.17 * (w + 1) + 1.3 * bd) + 0.5 * Foundation.cos(0.07 * h * w + 0.9 * cd - 0.4 * bd)
        x.data[((b * channels + c) * size + hi) * size + wi] = Float(v)
    } } } }
    return x
}

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Largest |a − b| and largest |b|; fails on a shape mismatch.
private func difference(_ a: Tensor, _ b: Tensor, _ name: String, file: StaticString = #filePath, line: UInt = #line) -> (abs: Float, scale: Float) {
    XCTAssertEqual(a.shape, b.shape, name, file: file, line: line)
    guard a.shape == b.shape else { return (.infinity, 1) }
    var worst: Float = 0, scale: Float = 0
    for i in 0..<a.count {
        worst = max(worst, abs(a.data[i] - b.data[i]))
        scale = max(scale, abs(b.data[i]))
    }
    return (worst, scale)
}

/// Asserts max |a − b| ≤ relative · max |b| and prints it.
private func assertClose(_ a: Tensor, _ b: Tensor, _ name: String, relative: Float, file: StaticString = #filePath, line: UInt = #line) {
    let (d, scale) = difference(a, b, name, file: file, line: line)
    print(String(format: "  %@: max |diff| %.3g (max |ref| %.3g)", name, d, scale))
    XCTAssertLessThanOrEqual(d, relative * max(scale, 1e-6), "\(name): max |diff| \(d) vs max |ref| \(scale)", file: file, line: line)
}

/// x [B, C, H, W] → [B, C] spatial means.
private func channelMeans(_ x: Tensor) throws -> Tensor {
    try x.reshaped([x.dim(0), x.dim(1), x.dim(2) * x.dim(3)]).mean(axis: 2)
}

final class EfficientNetTests: XCTestCase {
    /// Per-stage (repeats, kernel, stride, expand, in, out) of the reference's lite0…lite4, printed by the script.
    func testFamilyMatchesReferenceTable() {
        typealias Row = (Int, Int, Int, Int, Int, Int)
        let reference: [(String, Int, Int, Int, [Row])] = [
            ("lite0", 224, 32, 1280, [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]),
            ("lite1", 240, 32, 1280, [(1, 3, 1, 1, 32, 16), (3, 3, 2, 6, 16, 24), (3, 5, 2, 6, 24, 40), (4, 3, 2, 6, 40, 80), (4, 5, 1, 6, 80, 112), (5, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]),
            ("lite2", 260, 32, 1280, [(1, 3, 1, 1, 32, 16), (3, 3, 2, 6, 16, 24), (3, 5, 2, 6, 24, 48), (4, 3, 2, 6, 48, 88), (4, 5, 1, 6, 88, 120), (5, 5, 2, 6, 120, 208), (1, 3, 1, 6, 208, 352)]),
            ("lite3", 280, 32, 1280, [(1, 3, 1, 1, 32, 24), (3, 3, 2, 6, 24, 32), (3, 5, 2, 6, 32, 48), (5, 3, 2, 6, 48, 96), (5, 5, 1, 6, 96, 136), (6, 5, 2, 6, 136, 232), (1, 3, 1, 6, 232, 384)]),
            ("lite4", 300, 32, 1280, [(1, 3, 1, 1, 32, 24), (4, 3, 2, 6, 24, 32), (4, 5, 2, 6, 32, 56), (6, 3, 2, 6, 56, 112), (6, 5, 1, 6, 112, 160), (8, 5, 2, 6, 160, 272), (1, 3, 1, 6, 272, 448)]),
        ]
        for (config, (name, size, stem, head, rows)) in zip(EfficientNetLite.Config.family, reference) {
            let stages = rows.map { EfficientNetLite.Stage(repeats: $0.0, kernel: $0.1, stride: $0.2, expandRatio: $0.3, inChannels: $0.4, outChannels: $0.5) }
            XCTAssertEqual(config.stages, stages, name)
            XCTAssertEqual([config.imageSize, config.stemChannels, config.headChannels, config.classes], [size, stem, head, 1000], name)
        }
        XCTAssertEqual(EfficientNetLite.Config.lite0.blocks.count, 16)
        XCTAssertEqual(EfficientNetLite.Config.lite0.stageEnds, [0, 2, 4, 7, 10, 14, 15])
        XCTAssertEqual(EfficientNetLite.Config.lite0.blocks.filter(\.hasSkip).count, 9)
    }

    /// The tiny fixture's config: lite stages 0–2 at width 0.5 (stage 2 cut to one k5 block), head 64, 5 classes.
    static let tinyConfig: EfficientNetLite.Config = {
        var c = EfficientNetLite.Config(stemChannels: 32, stages: [
            EfficientNetLite.Stage(repeats: 1, kernel: 3, stride: 1, expandRatio: 1, inChannels: 32, outChannels: 8),
            EfficientNetLite.Stage(repeats: 2, kernel: 3, stride: 2, expandRatio: 6, inChannels: 8, outChannels: 16),
            EfficientNetLite.Stage(repeats: 1, kernel: 5, stride: 2, expandRatio: 6, inChannels: 16, outChannels: 24),
        ], headChannels: 64, classes: 5, imageSize: 30)
        c.batchNormEps = 1e-3
        return c
    }()

    func tinyWeights() throws -> Weights {
        let path = fixtures.appendingPathComponent("efficientnet_tiny.pth").path
        return Weights(try TorchCheckpoint.load(path), source: path)
    }

    func testTinyConfigIsInferredFromShapes() throws {
        let weights = try tinyWeights()
        XCTAssertEqual(weights.keys.count, 80)
        let inferred = try EfficientNetLite.Config.inferred(from: weights, imageSize: 30)
        XCTAssertEqual(inferred, Self.tinyConfig)
        XCTAssertEqual(try EfficientNetLite.Config.inferred(from: weights).imageSize, 224, "no lite variant matches: default 224")
    }

    /// Taps, logits and the input gradient of Σ logits · linspace(−1, 1) against PyTorch at 30x30
    /// (odd sizes inside: SAME padding (0,1), (1,1), (1,2) on the stride-2 convolutions).
    func testTinyModelMatchesReference() throws {
        let weights = try tinyWeights()
        let model = try EfficientNetLite(weights: weights, config: Self.tinyConfig)
        try weights.finish()
        let golden = try Safetensors.read(fixtures.appendingPathComponent("efficientnet_tiny_goldens.safetensors").path)
        let image = efficientNetPattern(batch: 2, channels: 3, size: 30)
        image.requiresGrad = true
        let taps: [EfficientNetLite.Tap] = [.stem, .stage(0), .stage(1), .stage(2), .head, .pooled, .logits, .block(2)]
        let out = try model.features(image, taps: taps)
        print("EfficientNet tiny vs PyTorch:")
        assertClose(try channelMeans(out[0]), golden["stem_channel_mean"]!, "stem channel means", relative: 1e-5)
        for s in 0..<3 { assertClose(out[1 + s], golden["stage\(s)"]!, "stage \(s)", relative: 1e-5) }
        assertClose(out[4], golden["head"]!, "head", relative: 1e-5)
        assertClose(out[5], golden["pooled"]!, "pooled", relative: 1e-5)
        assertClose(out[6], golden["logits"]!, "logits", relative: 1e-5)
        XCTAssertEqual(out[7].toArray(), out[2].toArray(), "block 2 ends stage 1")
        let coefficients = Tensor(uninitialized: [2, 5])
        for i in 0..<10 { coefficients.data[i] = -1 + 2 * Float(i) / 9 }
        try (out[6] * coefficients).sum().backward()
        assertClose(try XCTUnwrap(image.grad), golden["input_grad"]!, "input gradient", relative: 1e-4)
        XCTAssertNil(model.stem.weight.grad, "weights stay frozen")
        XCTAssertNil(model.classifierWeight.grad, "weights stay frozen")
    }

    func testWeightChecksNameTheProblem() throws {
        var tensors = try TorchCheckpoint.load(fixtures.appendingPathComponent("efficientnet_tiny.pth").path)
        tensors["_blocks.9._extra"] = Tensor(zeros: [1])
        let extra = Weights(tensors, source: "tiny+extra")
        _ = try EfficientNetLite(weights: extra, config: Self.tinyConfig)
        XCTAssertThrowsError(try extra.finish()) { XCTAssertTrue("\($0)".contains("_blocks.9._extra"), "\($0)") }

        var wrongKernel = Self.tinyConfig
        wrongKernel.stages[2].kernel = 3
        XCTAssertThrowsError(try EfficientNetLite(weights: try tinyWeights(), config: wrongKernel)) {
            XCTAssertTrue("\($0)".contains("_blocks.3._depthwise_conv.weight"), "\($0)")
        }
        var shorter = Self.tinyConfig
        shorter.stages[1].repeats = 1
        XCTAssertThrowsError(try EfficientNetLite(weights: try tinyWeights(), config: shorter))

        tensors = try TorchCheckpoint.load(fixtures.appendingPathComponent("efficientnet_tiny.pth").path)
        tensors["_bn1.running_var"] = nil
        XCTAssertThrowsError(try EfficientNetLite(weights: Weights(tensors, source: "tiny-missing"))) {
            XCTAssertTrue("\($0)".contains("_bn1.running_var"), "\($0)")
        }
    }

    func testFeatureTapsValidateAndKeepOrder() throws {
        let weights = try tinyWeights()
        let model = try EfficientNetLite(weights: weights, config: Self.tinyConfig)
        let image = efficientNetPattern(batch: 1, channels: 3, size: 17)
        XCTAssertThrowsError(try model.features(image, taps: [.block(4)])) { XCTAssertTrue("\($0)".contains("block tap 4"), "\($0)") }
        XCTAssertThrowsError(try model.features(image, taps: [.stage(3)]))
        XCTAssertThrowsError(try model(efficientNetPattern(batch: 1, channels: 2, size: 17))) { XCTAssertTrue("\($0)".contains("[1, 2, 17, 17]"), "\($0)") }
        XCTAssertEqual(try model.features(image, taps: []).count, 0)
        let out = try model.features(image, taps: [.head, .stem, .block(0), .stem])
        XCTAssertEqual(out.map(\.shape), [[1, 64, 3, 3], [1, 32, 9, 9], [1, 8, 9, 9], [1, 32, 9, 9]])
        XCTAssertEqual(try model(image).shape, [1, 5])
        let pixels = try Tensor([0, 127.0 / 255, 1], shape: [3])
        XCTAssertEqual(EfficientNetLite.normalize(pixels).toArray(), [-127.0 / 128, 0, 1].map { Float($0) }, accuracy: 1e-6)
    }

    // MARK: real weights (skipped when the asset is absent)

    func testLite0MatchesReference() throws {
        let model = try EfficientNetLite.load(try realAsset("efficientnet-lite0", "efficientnet-lite0-57934424.pth"))
        XCTAssertEqual(model.config, .lite0)
        let golden = try Safetensors.read(fixtures.appendingPathComponent("efficientnet_lite0_goldens.safetensors").path)
        let taps: [EfficientNetLite.Tap] = [.stem] + (0..<7).map { .stage($0) } + [.head, .logits]
        let names = ["stem"] + (0..<7).map { "stage\($0)" } + ["head"]
        let out = try withoutGrad { try model.features(efficientNetPattern(batch: 2, channels: 3, size: 224), taps: taps) }
        print("EfficientNet-Lite0 vs PyTorch (two 224 pattern images):")
        for (i, name) in names.enumerated() {
            assertClose(try channelMeans(out[i]), golden[name + "_channel_mean"]!, name + " channel means", relative: 1e-3)
        }
        assertClose(try slice(out[2], axis: 1, range: 0..<2).copy(), golden["stage1_crop"]!, "stage 1 channels 0..<2", relative: 1e-3)
        assertClose(try slice(out[6], axis: 1, range: 0..<16).copy(), golden["stage5_crop"]!, "stage 5 channels 0..<16", relative: 1e-3)
        assertClose(out[9], golden["logits"]!, "logits", relative: 1e-3)
    }

    /// skimage's chelsea.png shrunk to 64x64 (committed PPM), resized back to 224 bicubic: the reference
    /// says 285 (Egyptian cat, p 0.82).
    func testLite0ClassifiesChelsea() throws {
        let model = try EfficientNetLite.load(try realAsset("efficientnet-lite0", "efficientnet-lite0-57934424.pth"))
        let bytes = try [UInt8](Data(contentsOf: fixtures.appendingPathComponent("chelsea_64.ppm")))
        let header = Array("P6\n64 64\n255\n".utf8)
        XCTAssertEqual(Array(bytes.prefix(header.count)), header)
        let pixels = Tensor(uninitialized: [1, 3, 64, 64])
        for i in 0..<(64 * 64) { for c in 0..<3 { pixels.data[c * 64 * 64 + i] = Float(bytes[header.count + 3 * i + c]) / 255 } }
        let image = EfficientNetLite.normalize(try resize(pixels, size: (224, 224), mode: .bicubic))
        let logits = try withoutGrad { try model(image) }
        let golden = try Safetensors.read(fixtures.appendingPathComponent("efficientnet_lite0_goldens.safetensors").path)
        assertClose(logits, golden["chelsea_logits"]!, "chelsea logits", relative: 1e-3)
        let values = logits.toArray()
        XCTAssertEqual(values.indices.max { values[$0] < values[$1] }, 285)
    }

}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
