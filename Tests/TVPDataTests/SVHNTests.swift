import Foundation
import TVPData
import TVPTestSupport
import XCTest

final class SVHNTests: XCTestCase {
    /// The formula of scripts/fixtures/svhn_mat.py: X[r, c, ch, n] = (r·7 + c·13 + ch·50 + n·101) mod 256.
    func expected(_ r: Int, _ c: Int, _ ch: Int, _ n: Int) -> Float { Float((r * 7 + c * 13 + ch * 50 + n * 101) % 256) / 255 }

    func testScipyWrittenMatFilesCompressedAndNot() throws {
        for name in ["svhn/tiny_32x32.mat", "svhn/tiny_32x32_uncompressed.mat"] {
            let set = try SVHN.load(fixturePath(name))
            XCTAssertEqual(set.images.shape, [3, 3, 32, 32], name)
            XCTAssertEqual(set.labels, [0, 3, 1], "label 10 is the digit 0 (\(name))")
            var worst: Float = 0
            for n in 0..<3 { for ch in 0..<3 { for r in 0..<32 { for c in 0..<32 {
                worst = max(worst, abs(set.images[n, ch, r, c] - expected(r, c, ch, n)))
            } } } }
            XCTAssertEqual(worst, 0, name)
            XCTAssertEqual(try SVHN.load(fixturePath(name), limit: 2).labels, [0, 3])
        }
    }

    func testMatArraysKeepMatlabShapesAndTypes() throws {
        let arrays = try MATv5.read(fixturePath("svhn/tiny_32x32.mat"))
        XCTAssertEqual(Set(arrays.keys), ["X", "y"])
        XCTAssertEqual(arrays["X"]?.dims, [32, 32, 3, 3])
        XCTAssertEqual(arrays["X"]?.matlabClass, 9)     // uint8
        XCTAssertEqual(arrays["y"]?.dims, [3, 1])
        XCTAssertEqual(arrays["y"]?.matlabClass, 6)     // double
        XCTAssertEqual(try arrays["y"]?.doubles(file: "y"), [10, 3, 1])
        // Column-major: element (r=1, c=0, ch=0, n=0) is the second value.
        XCTAssertEqual(try arrays["X"]?.uint8Values(file: "X")[1], 7)
    }

    func testBadMatFiles() throws {
        let dir = try makeTemporaryFolder("mat")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["tiny_32x32.mat", "tiny_32x32_uncompressed.mat"] {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixturePath("svhn/\(name)"))))
            try writeBytes(Array(bytes.prefix(bytes.count - 200)), dir + "/cut-" + name)
            assertThrows(try SVHN.load(dir + "/cut-" + name), containing: ["cut-" + name, "truncated"])
        }
        try writeBytes([UInt8](repeating: 0x41, count: 200), dir + "/text.mat")
        assertThrows(try MATv5.read(dir + "/text.mat"), containing: ["text.mat", "not a MATLAB 5.0 MAT-file"])
        try writeBytes([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + [UInt8](repeating: 0, count: 200), dir + "/v73.mat")
        assertThrows(try MATv5.read(dir + "/v73.mat"), containing: ["v73.mat", "HDF5"])
        // A file without 'y'.
        var header = Array("MATLAB 5.0 MAT-file, written by a test".utf8)
        header += [UInt8](repeating: 0x20, count: 116 - header.count) + [UInt8](repeating: 0, count: 8) + [0x00, 0x01, 0x49, 0x4D]
        try writeBytes(header, dir + "/empty.mat")
        XCTAssertEqual(try MATv5.read(dir + "/empty.mat").count, 0)
        assertThrows(try SVHN.load(dir + "/empty.mat"), containing: ["empty.mat", "no numeric variable 'X'"])
    }

    func testRealSVHNTest() throws {
        let set = try SVHN.load(try realAsset("svhn", "test_32x32.mat"), limit: 100)
        XCTAssertEqual(set.images.shape, [100, 3, 32, 32])
        XCTAssertTrue(set.labels.allSatisfy { (0...9).contains($0) })
    }
}
