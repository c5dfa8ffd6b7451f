import Foundation
import TVPData
import TVPTensor
import XCTest

/// The 12 × 16 image of scripts/fixtures/corruptions.py as [3, H, W] = byte / 255.
func corruptionPattern() -> Tensor {
    let (H, W) = (12, 16)
    let t = Tensor(uninitialized: [3, H, W])
    for y in 0..<H { for x in 0..<W { for c in 0..<3 {
        var v = (12 * x + 9 * y + 60 * c) % 200 + 20
        if (3..<7).contains(y) && (4..<9).contains(x) { v = 250 - 10 * c }
        if x == 12 { v = 5 + c }
        t.data[(c * H + y) * W + x] = Float(v) / 255
    } } }
    return t
}

final class CorruptionTests: XCTestCase {
    /// goldens.bin: per corruption (this order) and severity, [3, 12, 16] as uint16 round(65535·v).
    static let goldenOrder: [Corruption] = [.gaussianBlur, .defocusBlur, .contrast, .brightness, .pixelate, .jpegCompression, .fog]

    func testDeterministicCorruptionsAndFogMatchTheReferenceLibraries() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("corruptions/goldens.bin"))))
        let n = 3 * 12 * 16
        XCTAssertEqual(bytes.count, Self.goldenOrder.count * 5 * n * 2)
        let image = corruptionPattern()
        for (k, corruption) in Self.goldenOrder.enumerated() {
            var worst: Float = 0
            for severity in 1...5 {
                let out = try corruption.apply(to: image, severity: severity, seed: 7)
                XCTAssertEqual(out.shape, [3, 12, 16])
                let base = ((k * 5) + severity - 1) * n * 2
                var maxDiff: Float = 0
                for i in 0..<n {
                    let golden = Float(UInt16(bytes[base + 2 * i]) | UInt16(bytes[base + 2 * i + 1]) << 8) / 65535
                    maxDiff = max(maxDiff, abs(out.data[i] - golden))
                }
                // uint16 storage is good to 7.7e-6; other libjpeg builds may differ by a level in rare pixels.
                let tolerance: Float = corruption == .jpegCompression ? 1.01 / 255 : 1e-5
                XCTAssertLessThanOrEqual(maxDiff, tolerance, "\(corruption.rawValue) severity \(severity)")
                worst = max(worst, maxDiff)
            }
            print("\(corruption.rawValue): max |ours − reference| over severities 1…5 = \(worst)")
        }
    }

    func testNamesAreTheCIFAR10CFileNames() {
        for corruption in Corruption.allCases { XCTAssertTrue(CIFAR10C.corruptions.contains(corruption.rawValue), corruption.rawValue) }
        XCTAssertEqual(Corruption.allCases.filter(\.isRandom), [.gaussianNoise, .shotNoise, .impulseNoise, .fog])
    }

    func testBatchesCorruptImageByImageAndOutputsStayInRange() throws {
        let one = corruptionPattern()
        let batch = Tensor(uninitialized: [2, 3, 12, 16])
        for i in 0..<2 { (batch.data + i * one.count).update(from: one.data, count: one.count) }
        for corruption in Corruption.allCases {
            let out = try corruption.apply(to: batch, severity: 5, seed: 3)
            XCTAssertEqual(out.shape, batch.shape)
            XCTAssertTrue(out.toArray().allSatisfy { $0 >= 0 && $0 <= 1 }, corruption.rawValue)
            XCTAssertEqual(out.toArray(), try corruption.apply(to: batch, severity: 5, seed: 3).toArray(), "seeded")
            let first = Array(out.toArray()[0..<one.count]), second = Array(out.toArray()[one.count...])
            let single = try corruption.apply(to: one, severity: 5, seed: 3).toArray()
            XCTAssertEqual(first, single, "the first image of a batch draws first")
            if corruption.isRandom { XCTAssertNotEqual(first, second, corruption.rawValue) } else { XCTAssertEqual(first, second) }
        }
    }

    func testErrorsAndReleaseTruncation() throws {
        assertThrows(try Corruption.fog.apply(to: Tensor(zeros: [1, 4, 4]), severity: 1, seed: 0), containing: ["Corruption.fog", "[1, 4, 4]"])
        assertThrows(try Corruption.contrast.apply(to: corruptionPattern(), severity: 6, seed: 0), containing: ["severity 6"])
        let values = try Tensor([0, 1, 37.0 / 255, 0.5, 1.2, -0.1, 254.99 / 255], shape: [7])
        XCTAssertEqual(Corruption.truncatedToBytes(values).toArray().map { ($0 * 255).rounded() }, [0, 255, 37, 127, 255, 0, 254])
    }
}
