import TVPPrompting
import XCTest

final class PreprocessingTests: XCTestCase {
    /// The 6×4 image of scripts/fixtures/pil_preprocessing.py as [1, 3, 4, 6] in [0, 1].
    func pilSample() -> Tensor {
        let t = Tensor(uninitialized: [1, 3, 4, 6])
        for c in 0..<3 { for i in 0..<24 { t.data[c * 24 + i] = Float((7 * i + 3 * c * i + 11) % 256) / 255 } }
        return t
    }

    func testTestPipelineMatchesTorchvisionOnPIL() throws {
        // Resize(9, BICUBIC) → CenterCrop(9) → ToTensor on the PIL image (bytes × 255).
        let expected: [Int] = [11, 15, 18, 21, 25, 28, 31, 34, 38, 19, 23, 26, 29, 33, 36, 39, 42, 46, 38, 42, 45, 48, 52, 55, 58, 61, 65, 59, 63, 66, 69, 73, 76, 79, 82, 86, 78, 82, 85, 88, 92, 95, 98, 101, 105, 97, 101, 104, 107, 111, 114, 117, 120, 124, 118, 122, 125, 128, 132, 135, 138, 141, 145, 137, 141, 144, 147, 151, 154, 157, 160, 164, 145, 149, 152, 155, 159, 162, 165, 168, 172, 11, 16, 21, 25, 30, 35, 39, 44, 49, 23, 28, 33, 37, 42, 47, 51, 56, 61, 49, 54, 59, 63, 68, 73, 77, 82, 87, 80, 85, 90, 94, 99, 104, 108, 113, 118, 107, 112, 117, 121, 126, 131, 135, 140, 145, 134, 139, 144, 148, 153, 158, 162, 167, 172, 165, 170, 175, 179, 184, 189, 193, 198, 203, 191, 196, 201, 205, 210, 215, 219, 224, 229, 203, 208, 213, 217, 222, 227, 231, 236, 241, 12, 19, 24, 30, 37, 43, 49, 55, 61, 27, 34, 39, 45, 52, 58, 64, 70, 76, 61, 68, 73, 79, 86, 92, 98, 104, 110, 102, 109, 114, 120, 127, 133, 139, 145, 151, 147, 159, 165, 170, 177, 183, 189, 195, 201, 175, 184, 189, 195, 202, 208, 214, 220, 226, 144, 116, 119, 129, 136, 142, 148, 154, 160, 94, 22, 22, 36, 43, 49, 55, 61, 67, 74, 0, 0, 0, 5, 11, 17, 23, 29]
        let out = try ImagePreprocessing(size: 9).test(pilSample())
        XCTAssertEqual(out.shape, [1, 3, 9, 9])
        let bytes = out.toArray().map { Int(($0 * 255).rounded()) }
        let worst = zip(bytes, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1, "PIL's fixed-point filter may round one level apart")
        XCTAssertGreaterThan(zip(bytes, expected).filter { $0 == $1 }.count, 220, "most bytes agree exactly (227 of 243 when written)")
    }

    func testResizeShorterSideAndCentreCropGeometry() throws {
        let pipeline = ImagePreprocessing(size: 4, quantize: false)
        XCTAssertEqual(try pipeline.resizeShorterSide(Tensor(zeros: [1, 3, 6, 9])).shape, [1, 3, 4, 6])
        XCTAssertEqual(try pipeline.resizeShorterSide(Tensor(zeros: [1, 3, 9, 6])).shape, [1, 3, 6, 4])
        XCTAssertEqual(try pipeline.resizeShorterSide(Tensor(zeros: [1, 3, 7, 10])).shape, [1, 3, 4, 5], "⌊4 · 10 / 7⌋")
        // Centre crop of 4 from width 7 (already 4 high): offset round(1.5) = 2 (half to even, as Python).
        let image = Tensor(uninitialized: [1, 3, 4, 7])
        for i in 0..<image.count { image.data[i] = Float(i % 7) }
        XCTAssertEqual(Array(try pipeline.test(image).toArray().prefix(4)), [2, 3, 4, 5])
    }

    func testTrainingPipelineFlipsAndCropsPerImageFromTheSeed() throws {
        let pipeline = ImagePreprocessing(size: 3, quantize: false)
        let image = Tensor(uninitialized: [8, 3, 3, 5])
        for i in 0..<image.count { image.data[i] = Float(i % 5) }
        var rng = RandomGenerator(seed: 11)
        let out = try pipeline.train(image, rng: &rng)
        XCTAssertEqual(out.shape, [8, 3, 3, 3])
        var rows = Set<[Float]>()
        for b in 0..<8 {
            let row = Array(out.toArray()[(b * 27)..<(b * 27 + 3)])
            rows.insert(row)
            let ascending = row == row.sorted(), descending = row == row.sorted(by: >)
            XCTAssertTrue(ascending || descending, "a window of the row, maybe mirrored: \(row)")
            XCTAssertEqual(abs(row[2] - row[0]), 2)
        }
        XCTAssertGreaterThan(rows.count, 2, "flips and offsets vary across the batch")
        var again = RandomGenerator(seed: 11)
        XCTAssertEqual(try pipeline.train(image, rng: &again).toArray(), out.toArray())
    }
}
