import Foundation
import TVPData
import TVPFormats
import TVPModels
import TVPPrompting
import TVPTensor
import XCTest

final class PromptKindTests: XCTestCase {
    func testPadPromptAddsARandomBorderToTheFullImage() throws {
        let prompt = try PadPrompt(imageSize: 10, padSize: 2, seed: 5)
        XCTAssertEqual(prompt.inputSize, 10)
        XCTAssertEqual(prompt.learnableValueCount, 3 * (100 - 36))
        XCTAssertEqual(prompt.values[0, 5, 5], 0)
        XCTAssertNotEqual(prompt.values[0, 0, 0], 0)
        XCTAssertEqual(try PadPrompt(imageSize: 10, padSize: 2, seed: 5).values.toArray(), prompt.values.toArray(), "seeded")
        XCTAssertNotEqual(try PadPrompt(imageSize: 10, padSize: 2, seed: 6).values.toArray(), prompt.values.toArray())
        let images = Tensor(repeating: 0.5, shape: [2, 3, 10, 10])
        let out = try prompt.apply(to: images)
        XCTAssertEqual(out[1, 2, 0, 9], 0.5 + prompt.values[2, 0, 9])
        XCTAssertEqual(out[1, 2, 5, 5], 0.5)
        try out.sum().backward()
        let grad = try XCTUnwrap(prompt.values.grad)
        XCTAssertEqual(grad[0, 0, 0], 2, "one per image")
        XCTAssertEqual(grad[0, 5, 5], 0, "no gradient in the centre")
        XCTAssertEqual(try prompt.clean(images).toArray(), images.toArray())
        XCTAssertThrowsError(try prompt.apply(to: Tensor(zeros: [1, 3, 8, 8])))
    }

    func testFixedPatchSitsTopLeftAndRandomPatchMovesPerDraw() throws {
        let fixed = try PatchPrompt(imageSize: 12, patchSize: 3, randomPosition: false, seed: 1)
        XCTAssertEqual(fixed.kind, "fixed-patch")
        XCTAssertEqual(fixed.values.shape, [3, 3, 3])
        XCTAssertTrue(fixed.position(draw: 0) == (0, 0) && fixed.position(draw: 9) == (0, 0))
        let out = try fixed.apply(to: Tensor(zeros: [1, 3, 12, 12]))
        XCTAssertEqual(out[0, 1, 2, 2], fixed.values[1, 2, 2])
        XCTAssertEqual(out[0, 1, 3, 3], 0)

        let random = try PatchPrompt(imageSize: 12, patchSize: 3, randomPosition: true, seed: 1)
        let positions = (0..<2000).map { random.position(draw: $0) }
        XCTAssertTrue(positions.allSatisfy { (0..<9).contains($0.row) && (0..<9).contains($0.column) }, "0 ..< S − P as numpy's choice")
        XCTAssertEqual(Set(positions.map { $0.row * 9 + $0.column }).count, 81, "every position is drawn")
        XCTAssertTrue(random.position(draw: 7) == random.position(draw: 7), "a draw is reproducible")
        let (row, column) = random.position(draw: 3)
        let moved = try random.apply(to: Tensor(zeros: [1, 3, 12, 12]), draw: 3)
        XCTAssertEqual(moved[0, 2, row + 1, column + 2], random.values[2, 1, 2])
        XCTAssertEqual(moved.toArray().filter { $0 != 0 }.count, random.values.toArray().filter { $0 != 0 }.count)
        let (canvas, covered) = try random.canvas(draw: 3)
        XCTAssertEqual(canvas.toArray(), try moved.reshaped([3, 12, 12]).toArray())
        XCTAssertEqual(covered.toArray().reduce(0, +), 27)
    }

    func testClampKeepsPromptedImagesInTheUnitRange() throws {
        var prompt = try PaddingPrompt(imageSize: 6, frame: 1)
        prompt.perturbation.data[0] = 3
        prompt.perturbation.data[1] = -3
        let images = Tensor(repeating: 0.5, shape: [1, 3, 4, 4])
        XCTAssertEqual(try prompt.apply(to: images)[0, 0, 0, 0], 3)
        prompt.clampToUnitRange = true
        let clamped = try prompt.apply(to: images)
        XCTAssertEqual(clamped[0, 0, 0, 0], 1)
        XCTAssertEqual(clamped[0, 0, 0, 1], 0)
    }

    func testEveryKindRoundTripsThroughPromptFiles() throws {
        var pad = try PadPrompt(imageSize: 10, padSize: 2, seed: 3)
        pad.clampToUnitRange = true
        let prompts: [any VisualPrompt] = [
            try PaddingPrompt(perturbation: Tensor.randn([3, 10, 10], seed: 1) * frameOnes(10, 3), frame: 3), pad,
            try PatchPrompt(imageSize: 10, patchSize: 4, randomPosition: false, seed: 2),
            try PatchPrompt(imageSize: 10, patchSize: 4, randomPosition: true, seed: 2),
        ]
        for prompt in prompts {
            let path = NSTemporaryDirectory() + "tvp-kind-\(UUID().uuidString).safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try PromptFile.save(prompt, to: path)
            let back = try PromptFile.loadPrompt(path)
            XCTAssertEqual(back.kind, prompt.kind)
            XCTAssertEqual(back.values.toArray(), prompt.values.toArray(), prompt.kind)
            XCTAssertEqual(back.geometry, prompt.geometry, prompt.kind)
            XCTAssertEqual(back.clampToUnitRange, prompt.clampToUnitRange, prompt.kind)
            XCTAssertEqual(try back.canvas(draw: 5).values.toArray(), try prompt.canvas(draw: 5).values.toArray(), prompt.kind)
        }
    }

    func testTorchCheckpointWriterRoundTripsThroughTheReader() throws {
        let path = NSTemporaryDirectory() + "tvp-writer-\(UUID().uuidString).pth"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let big = Tensor.randn([3, 40, 50], seed: 4)
        let small = try Tensor([1, -2, 3.5], shape: [3])
        try TorchCheckpointWriter.write([("perturbation", big), ("extra.scale", small)], to: path)
        let back = try TorchCheckpoint.load(path)
        XCTAssertEqual(Set(back.keys), ["perturbation", "extra.scale"])
        XCTAssertEqual(back["perturbation"]?.shape, [3, 40, 50])
        XCTAssertEqual(back["perturbation"]?.toArray(), big.toArray())
        XCTAssertEqual(back["extra.scale"]?.toArray(), [1, -2, 3.5])
        // Storage data start on 64-byte boundaries, as torch writes them.
        let zip = try ZipArchive(MappedFile(path: path))
        for entry in zip.entries where entry.name.hasPrefix("archive/data/") {
            try zip.withContents(entry) { XCTAssertEqual(Int(bitPattern: $0.baseAddress!) % 64, Int(bitPattern: zip.file.bytes.baseAddress!) % 64) }
        }
    }

    func testOfficialExportImportsToTheSamePrompt() throws {
        let path = NSTemporaryDirectory() + "tvp-export-\(UUID().uuidString).pth"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let prompt = try PaddingPrompt(perturbation: Tensor.randn([3, 24, 24], seed: 8) * frameOnes(24, 5), frame: 5)
        try PromptFile.exportOfficial(prompt, to: path)
        let back = try PromptFile.importOfficial(path)
        XCTAssertEqual(back.frame, 5)
        XCTAssertEqual(back.values.toArray(), prompt.values.toArray())
        if let keep = ProcessInfo.processInfo.environment["TVP_KEEP_EXPORT"] {
            // Developer hook for scripts/fixtures/check_torch_export.py (python torch.load of this file).
            try PromptFile.exportOfficial(prompt, to: keep)
        }
        XCTAssertThrowsError(try PromptFile.exportOfficial(PatchPrompt(imageSize: 24, patchSize: 4, randomPosition: true), to: path))
    }

    func testFramePictureMapsMinToZeroAndMaxToOneAndWritesAPNG() throws {
        let values = Tensor(zeros: [3, 6, 6])
        values.data[0] = -2                     // channel 0, (0, 0)
        values.data[36 + 5] = 2                 // channel 1, (0, 5)
        values.data[72 + 6] = 1                 // channel 2, (1, 0)
        let prompt = try PaddingPrompt(perturbation: values, frame: 1)
        let picture = try PromptImage.frame(prompt)
        XCTAssertEqual(picture[0, 0, 0], 0)
        XCTAssertEqual(picture[1, 0, 5], 1)
        XCTAssertEqual(picture[2, 1, 0], 0.75)
        XCTAssertEqual(picture[0, 0, 1], 0.5, "zero maps between")
        XCTAssertEqual(picture[0, 2, 2], 1, "the centre is white")
        let sample = Tensor(repeating: 0.25, shape: [3, 8, 8])
        let applied = try PromptImage.applied(prompt, to: sample)
        XCTAssertEqual(applied.shape, [3, 6, 6])
        XCTAssertEqual(applied[0, 0, 0], 0, "clamped")
        XCTAssertEqual(applied[1, 3, 3], 0.25, accuracy: 0.5 / 255, "8-bit, as PIL")
        let path = NSTemporaryDirectory() + "tvp-show-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PromptImage.writePNG(prompt, sample: sample, to: path)
        let back = try PNGCodec.read(path)
        XCTAssertEqual(back.shape, [3, 6, 20])
        XCTAssertEqual(back[1, 0, 5], 1)
        XCTAssertEqual(back[0, 3, 17], 0.25, accuracy: 0.5 / 255)
    }
}

/// [3, S, S]: 1 in a border of `frame`, 0 inside.
func frameOnes(_ size: Int, _ frame: Int) -> Tensor {
    let m = Tensor(repeating: 1, shape: [3, size, size])
    for c in 0..<3 { for y in frame..<(size - frame) { for x in frame..<(size - frame) { m.data[(c * size + y) * size + x] = 0 } } }
    return m
}
