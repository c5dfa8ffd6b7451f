import Foundation
import TVPData
import XCTest

final class IDXTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tvp-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testGzippedFashionMNISTFilesLoad() throws {
        // Two 2×3 images and their labels, written gzipped in the real IDX layout.
        let pixels: [UInt8] = [0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255]
        try Gzip.write([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3] + pixels, to: dir + "/t10k-images-idx3-ubyte.gz")
        try Gzip.write([0, 0, 8, 1, 0, 0, 0, 2, 9, 0], to: dir + "/t10k-labels-idx1-ubyte.gz")
        let set = try MNISTStyle.load(images: dir + "/t10k-images-idx3-ubyte.gz", labels: dir + "/t10k-labels-idx1-ubyte.gz",
                                      classNames: MNISTStyle.fashionClasses)
        XCTAssertEqual(set.images.shape, [2, 1, 2, 3])
        XCTAssertEqual(set.labels, [9, 0])
        XCTAssertEqual(set.classNames[set.labels[0]], "Ankle boot")
        XCTAssertEqual(set.images[0, 0, 0, 1], 0.2, accuracy: 1e-6)
        XCTAssertEqual(set.images[1, 0, 1, 2], 1)
    }

    func testEncodeDecodeRoundTripAndPlainFiles() throws {
        let array = IDXArray(dims: [3, 2], values: [1, 2, 3, 4, 5, 6])
        let path = dir + "/plain-idx2-ubyte"
        try Data(array.encoded()).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try IDXArray.read(path), array)
    }

    func testBadFilesGiveClearErrors() throws {
        XCTAssertThrowsError(try IDXArray.decode([0, 0, 8, 1, 0, 0, 0, 5, 1, 2], file: "x")) {
            XCTAssertTrue("\($0)".contains("need 5 values"), "\($0)")
        }
        XCTAssertThrowsError(try IDXArray.decode([0x1f, 0x8b, 8, 0], file: "x")) { XCTAssertTrue("\($0)".contains("magic"), "\($0)") }
        XCTAssertThrowsError(try IDXArray.decode([0, 0, 0x0d, 1, 0, 0, 0, 0], file: "x")) { XCTAssertTrue("\($0)".contains("unsigned bytes")) }
        XCTAssertThrowsError(try IDXArray.read(dir + "/missing.gz")) { XCTAssertTrue("\($0)".contains("cannot open")) }
        // A truncated gzip stream is reported, not silently shortened.
        try Gzip.write([UInt8](repeating: 7, count: 5000), to: dir + "/full.gz")
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.gz"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.gz"))
        XCTAssertThrowsError(try Gzip.read(dir + "/cut.gz"))
    }

    func testLabelCountMismatchNamesBothFiles() throws {
        try Gzip.write([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9], to: dir + "/i.gz")
        try Gzip.write([0, 0, 8, 1, 0, 0, 0, 2, 1, 2], to: dir + "/l.gz")
        XCTAssertThrowsError(try MNISTStyle.load(images: dir + "/i.gz", labels: dir + "/l.gz", classNames: MNISTStyle.digitClasses)) {
            XCTAssertTrue("\($0)".contains("2 labels for 1 images"), "\($0)")
        }
    }
}
