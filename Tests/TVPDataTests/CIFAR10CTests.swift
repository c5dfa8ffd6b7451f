import Foundation
import TVPData
import TVPTestSupport
import XCTest

final class CIFAR10CTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws { dir = try makeTemporaryFolder("npy") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A .npy file as numpy writes it: magic, version, header length, the dict literal padded with
    /// spaces and a newline so the data starts on a 64-byte boundary, then the values.
    func npy(_ descr: String, _ shape: [Int], _ data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        let prefix = version == 1 ? 10 : 12
        let total = (prefix + header.count + 1 + 63) / 64 * 64
        header += [UInt8](repeating: 0x20, count: total - prefix - header.count - 1) + [0x0A]
        let n = header.count
        let length: [UInt8] = version == 1 ? [UInt8(n & 255), UInt8(n >> 8)] : [UInt8(n & 255), UInt8(n >> 8 & 255), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + header + data
    }

    func testSeveritiesAreConsecutiveBlocksOfRows() throws {
        // 5 severities × 2 images of 2×3 pixels, HWC; pixel byte = 10·row + 3·y + x... per channel + 100·c (mod 256).
        let (rows, h, w) = (10, 2, 3)
        var pixels: [UInt8] = []
        for i in 0..<rows { for y in 0..<h { for x in 0..<w { for c in 0..<3 { pixels.append(UInt8((10 * i + 3 * y + x + 100 * c) % 256)) } } } }
        try writeBytes(npy("|u1", [rows, h, w, 3], pixels), dir + "/fog.npy")
        let labels: [Int64] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        try writeBytes(npy("<i8", [rows], labels.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }, version: 2),
                       dir + "/labels.npy")
        let severity3 = try CIFAR10C.load(images: dir + "/fog.npy", labels: dir + "/labels.npy", severity: 3)
        XCTAssertEqual(severity3.images.shape, [2, 3, 2, 3])
        XCTAssertEqual(severity3.labels, [4, 5])
        for n in 0..<2 { for c in 0..<3 { for y in 0..<2 { for x in 0..<3 {
            XCTAssertEqual(severity3.images[n, c, y, x], Float((10 * (4 + n) + 3 * y + x + 100 * c) % 256) / 255)
        } } } }
        XCTAssertEqual(try CIFAR10C.load(images: dir + "/fog.npy", labels: dir + "/labels.npy", severity: 5, limit: 1).labels, [8])
        assertThrows(try CIFAR10C.load(images: dir + "/fog.npy", labels: dir + "/labels.npy", severity: 6), containing: ["severity 6"])
        // uint8 labels (as in the release) work too.
        try writeBytes(npy("|u1", [rows], labels.map { UInt8($0) }), dir + "/labels8.npy")
        XCTAssertEqual(try CIFAR10C.load(images: dir + "/fog.npy", labels: dir + "/labels8.npy", severity: 1).labels, [0, 1])
    }

    func testNPYTypesAndErrors() throws {
        let floats: [Float] = [1.5, -2, 0.25, 1e-3]
        try writeBytes(npy("<f4", [2, 2], floats.flatMap { f in (0..<4).map { UInt8(truncatingIfNeeded: f.bitPattern >> (8 * $0)) } }),
                       dir + "/f.npy")
        let file = try NPYFile(dir + "/f.npy")
        XCTAssertEqual(file.shape, [2, 2])
        XCTAssertEqual(file.element, .float32)
        XCTAssertEqual(try file.floats(1..<2), [0.25, 1e-3])
        assertThrows(try file.integers(0..<1), containing: ["f.npy", "expected integers"])
        assertThrows(try file.rawRows(1..<3), containing: ["f.npy", "outside"])

        try writeBytes(npy("<f8", [1], [0, 0, 0, 0, 0, 0, 0, 0]), dir + "/f8.npy")
        assertThrows(try NPYFile(dir + "/f8.npy"), containing: ["f8.npy", "dtype '<f8' is not supported"])
        var fortran = npy("|u1", [2], [1, 2])
        let range = fortran.firstRange(of: Array("False".utf8))!
        fortran.replaceSubrange(range, with: Array("True ".utf8))
        try writeBytes(fortran, dir + "/fortran.npy")
        assertThrows(try NPYFile(dir + "/fortran.npy"), containing: ["fortran.npy", "fortran_order True"])
        try writeBytes(npy("|u1", [4, 2], [1, 2, 3]), dir + "/cut.npy")
        assertThrows(try NPYFile(dir + "/cut.npy"), containing: ["cut.npy", "needs 8 data bytes", "truncated"])
        try writeBytes(Array("PK\u{3}\u{4} a zip".utf8), dir + "/zip.npy")
        assertThrows(try NPYFile(dir + "/zip.npy"), containing: ["zip.npy", "not a .npy file"])
        try writeBytes(npy("|u1", [2, 3, 3], [UInt8](repeating: 0, count: 18)), dir + "/bad-images.npy")
        try writeBytes(npy("|u1", [2], [0, 0]), dir + "/l.npy")
        assertThrows(try CIFAR10C.load(images: dir + "/bad-images.npy", labels: dir + "/l.npy", severity: 1),
                     containing: ["bad-images.npy", "[N, H, W, 3]"])
    }

    func testRealCIFAR10C() throws {
        let set = try CIFAR10C.load(images: try realAsset("cifar10-c", "CIFAR-10-C/fog.npy"),
                                    labels: try realAsset("cifar10-c", "CIFAR-10-C/labels.npy"), severity: 2, limit: 16)
        XCTAssertEqual(set.images.shape, [16, 3, 32, 32])
        // The labels of each severity block are the CIFAR-10 test labels: cat, ship, ship, airplane, frog, …
        XCTAssertEqual(Array(set.labels.prefix(5)), [3, 8, 8, 0, 6])
    }
}
