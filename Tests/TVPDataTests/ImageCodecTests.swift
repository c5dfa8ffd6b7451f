import Foundation
import TVPData
import TVPTensor
import TVPTestSupport
import XCTest

final class ImageCodecTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws { dir = try makeTemporaryFolder("codec") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Channel c of pixel (y, x) of a [3, H, W] tensor as a byte.
    func byte(_ t: Tensor, _ c: Int, _ y: Int, _ x: Int) -> Int { Int((t[c, y, x] * 255).rounded()) }

    func testHandWrittenPNGsOfEveryColorTypeReadAsRGB() throws {
        // 3×2 images; expected RGB per pixel row-major.
        let gray = HandPNG.png(width: 3, height: 2, colorType: 0, rows: [[0, 128, 255], [1, 2, 3]])
        let rgb = HandPNG.png(width: 3, height: 2, colorType: 2, rows: [[255, 0, 0, 0, 255, 0, 0, 0, 255], [10, 20, 30, 40, 50, 60, 70, 80, 90]])
        let rgba = HandPNG.png(width: 3, height: 2, colorType: 6,
                               rows: [[255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0]])
        let palette = HandPNG.png(width: 3, height: 2, colorType: 3, rows: [[0, 1, 2], [2, 1, 0]],
                                  palette: [200, 100, 50, 0, 0, 0, 1, 2, 3])
        let cases: [(String, [UInt8], [[Int]])] = [
            ("gray", gray, [[0, 0, 0], [128, 128, 128], [255, 255, 255], [1, 1, 1], [2, 2, 2], [3, 3, 3]]),
            ("rgb", rgb, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [40, 50, 60], [70, 80, 90]]),
            // Alpha is dropped, not composited (PIL convert("RGB")).
            ("rgba", rgba, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7], [5, 4, 3], [1, 0, 0]]),
            ("palette", palette, [[200, 100, 50], [0, 0, 0], [1, 2, 3], [1, 2, 3], [0, 0, 0], [200, 100, 50]]),
        ]
        for (name, bytes, expected) in cases {
            let path = "\(dir!)/\(name).png"
            try writeBytes(bytes, path)
            let image = try PNGCodec.read(path)
            XCTAssertEqual(image.shape, [3, 2, 3], name)
            for p in 0..<6 {
                XCTAssertEqual((0..<3).map { byte(image, $0, p / 3, p % 3) }, expected[p], "\(name) pixel \(p)")
            }
            XCTAssertEqual(try ImageFile.read(path).toArray(), image.toArray(), name)
        }
    }

    func testSixteenBitPNGWithoutGammaIsTakenAsSRGB() throws {
        // 16-bit gray 0x0000, 0x8080, 0xFFFF → 8-bit 0, 128, 255 (value / 257), not a linear-to-sRGB curve.
        let png = HandPNG.png(width: 3, height: 1, bitDepth: 16, colorType: 0, rows: [[0, 0, 0x80, 0x80, 0xFF, 0xFF]])
        let image = try PNGCodec.decode(png, file: "g16.png")
        XCTAssertEqual(image.pixels, [0, 0, 0, 128, 128, 128, 255, 255, 255])
    }

    func testPNGWriteRoundTripsAndIsAtomic() throws {
        let values: [Float] = (0..<(3 * 4 * 5)).map { Float(($0 * 37) % 256) / 255 }
        var clipped = values
        clipped[0] = -0.5   // clamped to 0
        clipped[1] = 1.7    // clamped to 1
        let image = try Tensor(clipped, shape: [3, 4, 5])
        let path = "\(dir!)/out.png"
        try PNGCodec.write(image, to: path)
        let back = try PNGCodec.read(path)
        var expected = values
        expected[0] = 0
        expected[1] = 1
        XCTAssertEqual(back.shape, [3, 4, 5])
        for (a, b) in zip(back.toArray(), expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.png"], "no temporary file left behind")
        // A gray [1, H, W] image is written as RGB.
        try PNGCodec.write(try Tensor([0, 1], shape: [1, 1, 2]), to: path)
        XCTAssertEqual(try PNGCodec.decode(Array(Data(contentsOf: URL(fileURLWithPath: path))), file: path).pixels, [0, 0, 0, 255, 255, 255])
        assertThrows(try PNGCodec.write(Tensor(zeros: [2, 2, 2]), to: path), containing: ["[3, H, W]"])
        assertThrows(try PNGCodec.write(image, to: "\(dir!)/no/such/folder/x.png"), containing: ["x.png"])
    }

    func testBadPNGsNameTheFileAndTheProblem() throws {
        let good = HandPNG.png(width: 3, height: 2, colorType: 0, rows: [[0, 128, 255], [1, 2, 3]])
        try writeBytes(Array(good.prefix(good.count - 30)), "\(dir!)/cut.png")
        assertThrows(try PNGCodec.read("\(dir!)/cut.png"), containing: ["cut.png", "cannot decode", "libpng", "looks truncated"])
        try writeBytes(Array("hello, not a png".utf8), "\(dir!)/text.png")
        assertThrows(try PNGCodec.read("\(dir!)/text.png"), containing: ["text.png", "not a PNG", "68 65 6c 6c"])
        assertThrows(try PNGCodec.read("\(dir!)/missing.png"), containing: ["missing.png", "no such file"])
        assertThrows(try ImageFile.read("\(dir!)/text.png"), containing: ["neither a PNG nor a JPEG"])
    }

    func testJPEGWriteAndReadBack() throws {
        // A smooth 3×16×24 image survives quality 95 within a level or two on average (4:2:0 chroma
        // subsampling costs more at the colour ramps); quality 20 is smaller and worse.
        let (h, w) = (16, 24)
        var values = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h { for x in 0..<w {
            values[y * w + x] = Float(x) / Float(w)
            values[h * w + y * w + x] = Float(y) / Float(h)
            values[2 * h * w + y * w + x] = 0.5
        } }
        let image = try Tensor(values, shape: [3, h, w])
        try JPEGCodec.write(image, to: "\(dir!)/q95.jpg", quality: 95)
        try JPEGCodec.write(image, to: "\(dir!)/q20.jpg", quality: 20)
        let high = try JPEGCodec.read("\(dir!)/q95.jpg")
        let low = try ImageFile.read("\(dir!)/q20.jpg")
        XCTAssertEqual(high.shape, [3, h, w])
        let highError = zip(high.toArray(), values).map { abs($0 - $1) }.max()!
        let highMean = zip(high.toArray(), values).map { abs($0 - $1) }.reduce(0, +) / Float(values.count)
        let lowError = zip(low.toArray(), values).map { abs($0 - $1) }.reduce(0, +)
        let highTotal = zip(high.toArray(), values).map { abs($0 - $1) }.reduce(0, +)
        XCTAssertLessThan(highMean, 2 / 255)
        XCTAssertLessThan(highError, 16 / 255)
        XCTAssertGreaterThan(lowError, highTotal)
        let size = { (p: String) in try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int }
        XCTAssertLessThan(try size("\(dir!)/q20.jpg"), try size("\(dir!)/q95.jpg"))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["q95.jpg", "q20.jpg"])
        assertThrows(try JPEGCodec.write(image, to: "\(dir!)/bad.jpg", quality: 0), containing: ["bad.jpg", "quality 0"])
    }

    func testJPEGVariantsFromPillow() throws {
        // Golden values printed by scripts/fixtures/jpeg_variants.py (Pillow, libjpeg-turbo).
        let gray = try JPEGCodec.read(fixturePath("jpeg/gray.jpg"))
        XCTAssertEqual(gray.shape, [3, 8, 16])
        XCTAssertEqual(Int(gray.toArray().map { ($0 * 255).rounded() }.reduce(0, +)), 48000)
        XCTAssertEqual((0..<3).map { byte(gray, $0, 3, 5) }, [90, 90, 90])
        let progressive = try JPEGCodec.read(fixturePath("jpeg/progressive.jpg"))
        XCTAssertEqual((0..<3).map { byte(progressive, $0, 0, 0) }, [0, 4, 238])
        XCTAssertEqual((0..<3).map { byte(progressive, $0, 7, 15) }, [229, 205, 47])
        XCTAssertEqual((0..<3).map { byte(progressive, $0, 3, 5) }, [74, 90, 177])
        XCTAssertEqual(Int(progressive.toArray().map { ($0 * 255).rounded() }.reduce(0, +)), 46060)
        assertThrows(try JPEGCodec.read(fixturePath("jpeg/cmyk.jpg")), containing: ["cmyk.jpg", "CMYK JPEG is not supported"])
    }

    func testBadJPEGsNameTheFileAndTheProblem() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixturePath("jpeg/progressive.jpg"))))
        try writeBytes(Array(bytes.prefix(bytes.count / 2)), "\(dir!)/cut.jpg")
        assertThrows(try JPEGCodec.read("\(dir!)/cut.jpg"), containing: ["cut.jpg", "truncated"])
        try writeBytes([0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 1, 2, 3], "\(dir!)/junk.jpg")
        assertThrows(try JPEGCodec.read("\(dir!)/junk.jpg"), containing: ["junk.jpg", "cannot decode JPEG"])
        try writeBytes(HandPNG.png(width: 1, height: 1, colorType: 0, rows: [[7]]), "\(dir!)/png.jpg")
        assertThrows(try JPEGCodec.read("\(dir!)/png.jpg"), containing: ["not a JPEG", "89 50 4e 47"])
        // The content decides, not the extension.
        XCTAssertEqual(try ImageFile.read("\(dir!)/png.jpg").toArray(), [7, 7, 7].map { Float($0) / 255 })
    }

    func testGrayToRGBExpansion() throws {
        let gray = try Tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], shape: [2, 1, 2, 2])
        let rgb = try expandGrayToRGB(gray)
        XCTAssertEqual(rgb.shape, [2, 3, 2, 2])
        for n in 0..<2 { for c in 0..<3 { for y in 0..<2 { for x in 0..<2 { XCTAssertEqual(rgb[n, c, y, x], gray[n, 0, y, x]) } } } }
        XCTAssertTrue(try expandGrayToRGB(rgb) === rgb)
        assertThrows(try expandGrayToRGB(Tensor(zeros: [1, 2, 2, 2])), containing: ["expandGrayToRGB", "[1, 2, 2, 2]"])
    }

    func testRealSamplePhotos() throws {
        // Pixel values and byte sums from Pillow on the same files (scikit-image / scikit-learn wheels).
        let cases: [(String, [Int], Int, [[Int]])] = [
            ("astronaut.png", [512, 512], 90_124_324, [[0, 0, 154, 147, 151], [256, 170, 42, 23, 13]]),
            ("chelsea.png", [300, 451], 46_802_357, [[0, 0, 143, 120, 104], [150, 150, 146, 105, 61]]),
            ("china.jpg", [427, 640], 117_812_912, [[0, 0, 174, 201, 231], [213, 213, 78, 60, 58]]),
            ("flower.jpg", [427, 640], 50_751_787, [[0, 0, 2, 19, 13], [213, 213, 239, 194, 139]]),
        ]
        var found = 0
        for (name, size, sum, pixels) in cases {
            guard let path = try? realAsset("sample-photos", name) else { continue }
            found += 1
            let image = try ImageFile.read(path)
            XCTAssertEqual(image.shape, [3] + size, name)
            let total = image.toArray().reduce(0) { $0 + Int(($1 * 255).rounded()) }
            // JPEG decoders may differ by a level here and there between libjpeg-turbo versions.
            XCTAssertEqual(Double(total), Double(sum), accuracy: name.hasSuffix(".jpg") ? Double(sum) * 1e-4 : 0, name)
            for p in pixels {
                for c in 0..<3 { XCTAssertEqual(byte(image, c, p[0], p[1]), p[2 + c], accuracy: name.hasSuffix(".jpg") ? 1 : 0, "\(name) \(p)") }
            }
        }
        if found == 0 { throw XCTSkip("no sample-photos assets (astronaut.png, chelsea.png, china.jpg, flower.jpg)") }
    }
}
