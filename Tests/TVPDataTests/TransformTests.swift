import TVPData
import TVPTensor
import XCTest

/// An image [C, H, W] whose value at (c, y, x) is c·10000 + y·100 + x (so a crop shows where it came from).
func indexImage(channels: Int = 3, height: Int, width: Int) -> Tensor {
    let t = Tensor(uninitialized: [channels, height, width])
    for c in 0..<channels { for y in 0..<height { for x in 0..<width {
        t.data[(c * height + y) * width + x] = Float(c * 10000 + y * 100 + x)
    } } }
    return t
}

final class TransformTests: XCTestCase {
    func testCenterCropRoundsHalfToEvenLikePython() throws {
        // (H - h) / 2: 1.5 → 2, 2.5 → 2, 0.5 → 0, 3.5 → 4.
        for (size, crop, expected) in [(10, 7, 2), (11, 6, 2), (6, 5, 0), (12, 5, 4), (9, 5, 2)] {
            let out = try ImagePipeline([.centerCrop(height: crop, width: crop)])
                .apply(indexImage(height: size, width: size), seed: 0)
            XCTAssertEqual(out.shape, [3, crop, crop])
            XCTAssertEqual(out[0, 0, 0], Float(expected * 100 + expected), "\(size) → \(crop)")
            XCTAssertEqual(out[2, crop - 1, crop - 1], Float(20000 + (expected + crop - 1) * 101))
        }
    }

    func testCenterCropOfASmallerImagePadsWithZerosFirst() throws {
        // Width 3 → 6: pad 1 left, 2 right; height 4 → 5: pad 0 top, 1 bottom (torchvision's split).
        let image = indexImage(channels: 1, height: 4, width: 3)
        for i in 0..<image.count { image.data[i] += 1 }
        let out = try ImagePipeline([.centerCrop(height: 5, width: 6)]).apply(image, seed: 0)
        XCTAssertEqual(out.shape, [1, 5, 6])
        XCTAssertEqual(Array(out.toArray()[0..<6]), [0, 1, 2, 3, 0, 0])
        XCTAssertEqual(Array(out.toArray()[24..<30]), [0, 0, 0, 0, 0, 0])
    }

    func testPadModesMatchNumpy() throws {
        let row = try Tensor([1, 2, 3], shape: [1, 1, 3])
        func padded(_ mode: PadMode, _ n: Int) throws -> [Float] {
            try ImagePipeline([.pad(left: n, top: 0, right: n, bottom: 0, mode: mode, fill: 9)]).apply(row, seed: 0).toArray()
        }
        // np.pad([1, 2, 3], 4, mode) and the constant fill.
        XCTAssertEqual(try padded(.reflect, 4), [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3])
        XCTAssertEqual(try padded(.symmetric, 4), [3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1])
        XCTAssertEqual(try padded(.edge, 4), [1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3])
        XCTAssertEqual(try padded(.constant, 2), [9, 9, 1, 2, 3, 9, 9])
        let tall = try ImagePipeline([.pad(left: 0, top: 1, right: 2, bottom: 0)]).apply(indexImage(height: 2, width: 2), seed: 0)
        XCTAssertEqual(tall.shape, [3, 3, 4])
        XCTAssertEqual(Array(tall.toArray()[0..<8]), [0, 0, 0, 0, 0, 1, 0, 0])
        assertThrows(try ImagePipeline([.pad(left: -1, top: 0, right: 0, bottom: 0)]).apply(row, seed: 0),
                     containing: ["non-negative"])
    }

    func testRandomCropIsSeededCoversEveryOffsetAndSkipsDrawsAtFullSize() throws {
        let image = indexImage(height: 6, width: 5)
        let crop = ImagePipeline([.randomCrop(height: 4, width: 4)])
        XCTAssertEqual(try crop.apply(image, seed: 3).toArray(), try crop.apply(image, seed: 3).toArray())
        var seen = Set<[Int]>()
        for seed in 0..<200 {
            let out = try crop.apply(image, seed: UInt64(seed))
            let (top, left) = (Int(out[0, 0, 0]) / 100, Int(out[0, 0, 0]) % 100)
            XCTAssertTrue((0...2).contains(top) && (0...1).contains(left))
            XCTAssertEqual(out[1, 3, 3], Float(10000 + (top + 3) * 100 + left + 3))
            seen.insert([top, left])
        }
        XCTAssertEqual(seen.count, 6, "all 3 × 2 windows drawn")
        // A crop of the full size draws nothing, as torchvision's get_params returns early.
        var rng = RandomGenerator(seed: 5), reference = RandomGenerator(seed: 5)
        _ = try ImagePipeline([.randomCrop(height: 6, width: 5)]).apply(image, rng: &rng)
        XCTAssertEqual(rng.next(), reference.next())
        // Padding, then pad-if-needed.
        let padded = try ImagePipeline([.randomCrop(height: 8, width: 7, padding: 1)]).apply(image, seed: 1)
        XCTAssertEqual(padded.shape, [3, 8, 7])
        XCTAssertEqual(padded[0, 0, 0], 0)
        XCTAssertEqual(try ImagePipeline([.randomCrop(height: 9, width: 9, padIfNeeded: true)]).apply(image, seed: 1).shape, [3, 9, 9])
        assertThrows(try ImagePipeline([.randomCrop(height: 9, width: 9)]).apply(image, seed: 1), containing: ["larger than the image"])
    }

    func testRandomHorizontalFlip() throws {
        let image = indexImage(height: 2, width: 4)
        let always = try ImagePipeline([.randomHorizontalFlip(probability: 1)]).apply(image, seed: 0)
        XCTAssertEqual(Array(always.toArray()[0..<4]), [3, 2, 1, 0])
        XCTAssertEqual(try ImagePipeline([.randomHorizontalFlip(probability: 0)]).apply(image, seed: 0).toArray(), image.toArray())
        // p = 0.5 over a batch of 400: flipped images are exact mirrors, about half of them.
        let batch = Tensor(uninitialized: [400, 3, 2, 4])
        for i in 0..<400 { (batch.data + i * 24).update(from: image.data, count: 24) }
        let out = try ImagePipeline([.randomHorizontalFlip()]).apply(batch, seed: 11)
        var flipped = 0
        for i in 0..<400 {
            let first = out.data[i * 24]
            XCTAssertTrue(first == 0 || first == 3)
            if first == 3 { flipped += 1 }
        }
        XCTAssertTrue((160...240).contains(flipped), "\(flipped) of 400 flipped")
        assertThrows(try ImagePipeline([.randomHorizontalFlip(probability: 1.5)]).apply(image, seed: 0), containing: ["outside [0, 1]"])
    }

    func testTrainPipelineFlipsThenResizesThenCrops() throws {
        let pipeline = ImagePipeline.tvpTrain(imageSize: 12)
        XCTAssertEqual(pipeline.steps, [.randomHorizontalFlip(probability: 0.5), .resizeShorterSide(12, filter: .bicubic, arithmetic: .uint8),
                                        .randomCrop(height: 12, width: 12, padding: 0, padIfNeeded: false)])
        XCTAssertTrue(pipeline.isRandom)
        XCTAssertFalse(ImagePipeline.tvpTest().isRandom)
        let images = try [patternImage(width: 8, height: 8), patternImage(width: 8, height: 8)].map { $0.tensor() }
        let batch = Tensor(uninitialized: [6, 3, 8, 8])
        for i in 0..<6 { (batch.data + i * 192).update(from: images[i % 2].data, count: 192) }
        let out = try pipeline.apply(batch, seed: 42)
        XCTAssertEqual(out.shape, [6, 3, 12, 12])
        XCTAssertEqual(out.toArray(), try pipeline.apply(batch, seed: 42).toArray())
        // Oracle: each output is the resize of the image or of its mirror image.
        let plain = try pilResize(images[0], height: 12, width: 12, filter: .bicubic)
        let mirrored = try pilResize(ImagePipeline([.randomHorizontalFlip(probability: 1)]).apply(images[0], seed: 0),
                                     height: 12, width: 12, filter: .bicubic)
        var kinds = Set<Int>()
        for i in 0..<6 {
            let one = Array(out.toArray()[(i * 432)..<((i + 1) * 432)])
            if one == plain.toArray() { kinds.insert(0) } else if one == mirrored.toArray() { kinds.insert(1) } else { XCTFail("image \(i)") }
        }
        XCTAssertEqual(kinds.count, 2, "seed 42 flips some of the six and not others")
    }

    func testBatchErrors() throws {
        assertThrows(try ImagePipeline.tvpTest().apply(Tensor(zeros: [3, 4]), seed: 0), containing: ["ImagePipeline.apply", "[3, 4]"])
        var rng = RandomGenerator(seed: 0)
        let mixed = try [patternImage(width: 4, height: 4), patternImage(width: 5, height: 4)]
        assertThrows(try ImagePipeline([.resizeShorterSide(4)]).apply(mixed, rng: &rng), containing: ["came out", "fixed-size crop"])
        XCTAssertEqual(try ImagePipeline([.resizeShorterSide(4), .centerCrop(height: 4, width: 4)]).apply(mixed, rng: &rng).shape, [2, 3, 4, 4])
        assertThrows(try toTensor(mixed), containing: ["toTensor", "5×4"])
        XCTAssertEqual(try toTensor(mixed.prefix(1).map { $0 }).toArray(), mixed[0].tensor().toArray())
    }
}
