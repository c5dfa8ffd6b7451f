import Foundation
import TVPData
import TVPFormats
import TVPTestSupport
import XCTest

/// Hand-made hostile data files.
enum HostileData {
    /// A v1 .npy file with `header` (a Python dict literal) and `data`.
    static func npy(_ header: String, _ data: [UInt8]) -> [UInt8] {
        var text = Array(header.utf8)
        text += [UInt8](repeating: 0x20, count: (64 - (10 + text.count + 1) % 64) % 64) + [0x0a]
        return [0x93] + Array("NUMPY".utf8) + [1, 0] + HostileBytes.le(UInt16(text.count)) + text + data
    }

    /// `jpeg` with its frame header (SOF0/SOF2) claiming `height × width`.
    static func jpeg(_ jpeg: [UInt8], claiming height: UInt16, _ width: UInt16) -> [UInt8] {
        var bytes = jpeg
        guard let sof = (2..<bytes.count - 9).first(where: { bytes[$0] == 0xff && (bytes[$0 + 1] == 0xc0 || bytes[$0 + 1] == 0xc2) }) else { return bytes }
        bytes.replaceSubrange(sof + 5..<sof + 9, with: HostileBytes.be(height) + HostileBytes.be(width))
        return bytes
    }

    /// The uncompressed SVHN fixture with the first two dimensions of its image array negated:
    /// the product, and so the byte count, stays the same.
    static func matWithNegativeDims() throws -> [UInt8] {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("svhn/tiny_32x32_uncompressed.mat"))))
        let dims: [UInt8] = [32, 0, 0, 0, 32, 0, 0, 0, 3, 0, 0, 0]
        guard let at = (0..<bytes.count - dims.count).first(where: { Array(bytes[$0..<$0 + dims.count]) == dims }) else { return bytes }
        bytes.replaceSubrange(at..<at + 8, with: HostileBytes.le(Int32(-32)) + HostileBytes.le(Int32(-32)))
        return bytes
    }
}

/// Hostile data files: dimensions that overflow, images too large to allocate, inflation bombs.
final class HostileDataTests: XCTestCase {
    var folder: String!
    override func setUpWithError() throws { folder = try makeTemporaryFolder("hostile") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// Four dimensions of 2^16 multiply to 2^64, which wrapped to 0 and matched an empty file.
    func testIDXDimensionsThatOverflowAreRefused() {
        let header: [UInt8] = [0, 0, 8, 4] + (0..<4).flatMap { _ in HostileBytes.be(UInt32(1 << 16)) }
        assertThrows(try IDXArray.decode(header, file: "wrap-idx3-ubyte"), containing: ["wrap-idx3-ubyte", "[65536, 65536, 65536, 65536]"])
    }

    func testNPYShapeThatOverflowsIsRefused() throws {
        let path = folder + "/wrap.npy"
        try writeBytes(HostileData.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", []), path)
        assertThrows(try NPYFile(path), containing: ["wrap.npy", "[4294967296, 4294967296]"])
    }

    func testMATNegativeDimensionsAreRefused() throws {
        let path = folder + "/negative.mat"
        try writeBytes(try HostileData.matWithNegativeDims(), path)
        assertThrows(try MATv5.read(path), containing: ["negative.mat", "[-32, -32, 3"])
    }

    /// Width × height is checked against the pixel limit before the pixels are allocated.
    func testImagesBeyondThePixelLimitAreRefusedFromTheirHeader() throws {
        let png = folder + "/huge.png"
        try writeBytes(HostileBytes.pngClaiming(width: 100_000, height: 100_000), png)
        assertThrows(try ImageFile.decode(png), containing: ["huge.png", "100000×100000", "TVP_MAX_PIXELS"])

        let gray = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("jpeg/gray.jpg"))))
        let jpeg = folder + "/huge.jpg"
        try writeBytes(HostileData.jpeg(gray, claiming: 65000, 65000), jpeg)
        assertThrows(try ImageFile.decode(jpeg), containing: ["huge.jpg", "65000×65000", "TVP_MAX_PIXELS"])

        // Within the limit, a header that claims far more than the data holds fails where the
        // data ends, instead of decoding a quarter of a gigapixel of grey.
        let claims = folder + "/claims.jpg"
        try writeBytes(HostileData.jpeg(gray, claiming: 4104, 65296), claims)
        let start = Date()
        assertThrows(try ImageFile.decode(claims), containing: ["claims.jpg", "ends before the image is complete"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)

        // The limit is the user's to raise (or lower).
        setenv("TVP_MAX_PIXELS", "100", 1)
        defer { unsetenv("TVP_MAX_PIXELS") }
        let small = folder + "/small.png"
        try writeBytes(HandPNG.png(width: 20, height: 10, colorType: 0, rows: Array(repeating: [UInt8](repeating: 9, count: 20), count: 10)), small)
        assertThrows(try ImageFile.decode(small), containing: ["small.png", "20×10", "limit of 100"])
        unsetenv("TVP_MAX_PIXELS")
        XCTAssertEqual(try ImageFile.decode(small).width, 20)
    }

    /// A gzip file inflates to at most the expansion limit.
    func testGzipBombStopsAtTheLimit() throws {
        let path = folder + "/bomb.gz"
        try Gzip.write([UInt8](repeating: 0, count: 4 << 20), to: path)
        setenv("TVP_MAX_EXPANDED_BYTES", String(1 << 20), 1)
        defer { unsetenv("TVP_MAX_EXPANDED_BYTES") }
        assertThrows(try Gzip.read(path), containing: ["bomb.gz", "limit of 1048576", "TVP_MAX_EXPANDED_BYTES"])
        unsetenv("TVP_MAX_EXPANDED_BYTES")
        XCTAssertEqual(try Gzip.read(path).count, 4 << 20)
    }

    /// The hostile files above, read in a child process capped at 4 GiB of address space.
    func testHostileDataStaysWithinBoundedMemory() throws {
        if let corpus = BoundedChild.corpusFolder {
            return try BoundedChild.readCorpus(corpus) { path, name in
                switch (name as NSString).pathExtension {
                case "npy": _ = try NPYFile(path).floats(0..<1)
                case "mat": _ = try MATv5.read(path).values.map { try $0.doubles(file: path) }
                case "png", "jpg": _ = try ImageFile.decode(path)
                default: _ = try IDXArray.read(path)
                }
            }
        }
        let gray = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("jpeg/gray.jpg"))))
        let progressive = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("jpeg/progressive.jpg"))))
        let corpus: [(name: String, bytes: [UInt8])] = [
            ("wrap.idx", [0, 0, 8, 4] + (0..<4).flatMap { _ in HostileBytes.be(UInt32(1 << 16)) }),
            ("big.idx", [0, 0, 8, 2] + HostileBytes.be(UInt32.max) + HostileBytes.be(UInt32.max)),
            ("wrap.npy", HostileData.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", [])),
            ("negative.mat", try HostileData.matWithNegativeDims()),
            ("huge.png", HostileBytes.pngClaiming(width: 100_000, height: 100_000)),
            ("huge.jpg", HostileData.jpeg(gray, claiming: 65000, 65000)),
            ("huge-progressive.jpg", HostileData.jpeg(progressive, claiming: 60000, 60000)),
        ]
        let problems = try BoundedChild.run(test: "TVPDataTests.HostileDataTests/testHostileDataStaysWithinBoundedMemory", corpus: corpus)
        XCTAssert(problems.isEmpty, problems.joined(separator: "\n"))
    }
}
