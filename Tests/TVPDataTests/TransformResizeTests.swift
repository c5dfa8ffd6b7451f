import Foundation
import TVPData
import TVPTensor
import XCTest

/// Goldens printed by scripts/fixtures/pil_resize.py (Pillow 13, torchvision 0.29): output width,
/// height and interleaved RGB bytes in hex.
enum PILGoldens {
    static let resized: [String: (Int, Int, String)] = [
        "bicubic 13x9 to 6x4": (6, 4, "5c7b8385a88b6f8e5e80a78b8c8569717f997f9c597d807d718e9b7b796f8a7c7d7e85689958619a999691abd89290887f616632284a7799735c8277a0a29a7c82749f8a8b873f62"),
        "bicubic 5x4 to 12x9": (12, 9, "0011300019380c2b4a2645644362816382a17d9cbf91b0e2a4c3dcbedd81d0ef23d9f8000923450f2e4f274667446382506f8f5877996988ae83a2d59dbcd5bad97cd0ef20daf9002d4a7c3d5c8b6b8ab091b0cf7190b5395887355487607fb98dacc5b4d36ed1f013defd005e7d936f8ea59ebdd9beddfd89a8c434536b21405b4a69977a99b2a8c771cdec28ddfc0ba4c44a9fbe5b92b19e83a2d17b9a977796376f8e2b6382726887a694b39fc1e08bd3f281cfee02b8d70e7a995348678b708f62b9d816bcdb137998565473977f9ecab5d4edcae9f78dac1f88a71f7a993673924d90af4eb7d648a6c54d5c7b5a3655786e8dc0b1d0ffcae9ff29485b41604e81a02dbcdb19bbda499ab9946f8e9f31506c1a39596180a2b0cff1cfeeff001f7324436084a328daf902cdec4690afb25a79c11f3e730e2d4c5b7a97b0cfedd1f0ff"),
        "bicubic 9x6 to 4x11": (4, 11, "1d3c639fbe9d4867477b9acb39588591b0905a79547f9ea56f8ebd7897787d9c6e86a56288a78e7c9b7988a77688a7678ead378aa98883a27784a38d89a831799e956a8a85668c9c7c9b4c6a87985675965975925c8d858255776a7da5a0704c6571909c51697f8db5c07130bc3b39b0aa8e87a1c9797677eb1f08badaa38aacd45079a0"),
        "bilinear 8x6 to 5x7": (5, 7, "1635546685a4afce783c5b4b5d7c9b6f8ead597897a0bf695f7e6ea5c46c8dac697d9c608fae9c7594788aa94f7d9c3b89a85f7998b167868465846f6d8c676e7c70887d9c5e7d9c765f7e8a7392695455bb7e9a7998b79b4261e40322c9a636abcade8cabca6382a1"),
        "box 9x9 to 5x5": (5, 5, "5675946887a6d5f41343628189a887809f3e6c8b6abfdefd5978577392b16f8ead81203fa8c7e65c7b9ae281209f3e5d9dbc9b9ebddc94b3d292b1907d9c7b4f6e4d7c9bbaaa8968708f6e"),
        "box 5x5 to 9x9": (9, 9, "001f3e001f3e3554733554736a89a89fbedd9fbeddd4f312d4f312001f3e001f3e3554733554736a89a89fbedd9fbeddd4f312d4f31261809f61809fbeddfcbeddfc1b3a597897b67897b6d5f413d5f41361809f61809fbeddfcbeddfc1b3a597897b67897b6d5f413d5f413c2e100c2e100476685476685cceb0a51708f51708fbeddfcbeddfc234261234261d0ef0ed0ef0e7d9cbb123150123150bfdefdbfdefd234261234261d0ef0ed0ef0e7d9cbb123150123150bfdefdbfdefd84a3c284a3c2597897597897163554eb0a29eb0a29a8c7e6a8c7e684a3c284a3c2597897597897163554eb0a29eb0a29a8c7e6a8c7e6"),
        "box 10x7 to 7x4": (7, 4, "31506f5f7e9d8cabca7a99386786a589a887b6d57473923199b85732517086a5c46584237392b198375684a3c2385776eb0a2993b2d13a5978e2812089a8c7963554a4836299b8d79bbad990afce92b190933251"),
        "tvp test 11 of 7x5": (11, 11, "13325131506f5574937695b48dacdca3c2e1c9e882d8f71987a61316353b0726573352714c6b8b5473946180a27c9bcd9bbad9c5e47cd8f7168baa151d3c421332647f9ec18faece51709a2c4b7c5271ac89a8c7bddc6cd8f70895b4132f4e522e4d85adcce8b1d0ef5a798e214050405f867594b3afce71d5f4249ab9313f5e6648679389a8ac7998bf7d9c5a7e9d1c6a895c6483a298b7a7c8e79794b38c43627e5d7c706584634e6d7f9dbc35cbea0b8aa94451708f82a1d1bddcfc91b0dc4867936584517c9b3289a844b0ce50b6d65a648b5e2654736990c3bbdbff9bb9ec53729b4e6d579cbb1acfee1bb1cf7a7f9eb5355a7f0d36555d82a2bcdbfba6c5e5607f9f33526c90af4aaccc3d7aa07d506ba14c33665b1f3e8a718fb5d1f0a2c8e67190af405f8473929761827f305f71273d607e1537cf0e2dcd6382aec4e398c8e780a1c05d7c9c6786b743649a11436d152846920724ff0625e95d7cabbfde94c8e787a8c76988a7"),
        "resize 12 crop 9 of 6x8": (9, 9, "69889464838f9ebd259fbe1d6786766e8db0b6d5ccaccbbe5b7a8e66855172905abddc32b3d3355377644f73a6a8c9fcaccaf8607fa2a0bf19bfde33abc9857699951e4c632b5a7ea1c4e9b3d0f56886a6a3c92eb6db3e789c9d4d5fa237244e55415fa6b8d7aed1f07292b16fa08f578a7b21547a39245ca00024ca2946b9a6c49fcceb7ea2c17f63925b5173335547584934cc2c3eed4c6fbdaaca9ac8e789accbd31038c23223aba106aacb29bcae9abeabdab2c3e8a2c4e390b0cfd00e35d03e30cabb20bef04ea8dcc8a0cefda5c8eca1bfde96b5d4775b8a85769790a39594b8a491b6c891b5d897b7d79ab8d79bbad9"),
    ]
}

/// The formula image of scripts/fixtures/pil_resize.py: (53x + 97y + 31c + 40·((x·y) mod 7)) mod 256.
func patternImage(width: Int, height: Int) throws -> RGB8Image {
    var pixels: [UInt8] = []
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 { pixels.append(UInt8((53 * x + 97 * y + 31 * c + 40 * ((x * y) % 7)) % 256)) }
        }
    }
    return try RGB8Image(width: width, height: height, pixels: pixels)
}

func hexBytes(_ hex: String) -> [UInt8] {
    let chars = Array(hex.utf8)
    return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(decoding: chars[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

/// Bytes of a [3, H, W] tensor of byte / 255 values, interleaved like RGB8Image.
func bytesOf(_ t: Tensor) throws -> [UInt8] { try RGB8Image(tensor: t).pixels }

final class TransformResizeTests: XCTestCase {
    func testPILResizeIsBitExactWithPillow() throws {
        let cases: [(String, Int, Int, PILFilter)] = [
            ("bicubic 13x9 to 6x4", 13, 9, .bicubic), ("bicubic 5x4 to 12x9", 5, 4, .bicubic),
            ("bicubic 9x6 to 4x11", 9, 6, .bicubic), ("bilinear 8x6 to 5x7", 8, 6, .bilinear),
            ("box 9x9 to 5x5", 9, 9, .box), ("box 5x5 to 9x9", 5, 5, .box), ("box 10x7 to 7x4", 10, 7, .box),
        ]
        for (name, w, h, filter) in cases {
            let (ow, oh, hex) = PILGoldens.resized[name]!
            let input = try patternImage(width: w, height: h)
            let expected = hexBytes(hex)
            let out = try pilResize(input, width: ow, height: oh, filter: filter)
            XCTAssertEqual(out.pixels, expected, name)
            // The tensor path quantizes byte / 255 values back to the same bytes.
            let t = try pilResize(input.tensor(), height: oh, width: ow, filter: filter, arithmetic: .uint8)
            XCTAssertEqual(t.shape, [3, oh, ow])
            XCTAssertEqual(try bytesOf(t), expected, name)
        }
    }

    func testOfficialTestTransformMatchesTorchvision() throws {
        let (w11, h11, hex11) = PILGoldens.resized["tvp test 11 of 7x5"]!
        let out11 = try ImagePipeline.tvpTest(imageSize: 11).apply(patternImage(width: 7, height: 5).tensor(), seed: 0)
        XCTAssertEqual(out11.shape, [3, h11, w11])
        XCTAssertEqual(try bytesOf(out11), hexBytes(hex11))
        // Resize(12) of 6×8 is 12×16; CenterCrop(9) starts at round(3.5) = 4 (rows) and round(1.5) = 2.
        let (w9, h9, hex9) = PILGoldens.resized["resize 12 crop 9 of 6x8"]!
        let pipeline = ImagePipeline([.resizeShorterSide(12), .centerCrop(height: 9, width: 9)])
        var rng = RandomGenerator(seed: 1)
        let out9 = try pipeline.apply([patternImage(width: 6, height: 8)], rng: &rng)
        XCTAssertEqual(out9.shape, [1, 3, h9, w9])
        XCTAssertEqual(try bytesOf(out9.reshaped([3, h9, w9])), hexBytes(hex9))
    }

    func testFloatArithmeticIsTheTensorAntialiasResizeAndWithinALevelOfPIL() throws {
        let image = try patternImage(width: 13, height: 9).tensor()
        for (filter, mode) in [(PILFilter.bicubic, ResizeMode.bicubic), (.bilinear, .bilinear)] {
            for (oh, ow) in [(4, 6), (20, 27), (9, 5)] {
                let ours = try pilResize(image, height: oh, width: ow, filter: filter, arithmetic: .float)
                let torch = try resize(image.reshaped([1, 3, 9, 13]), size: (oh, ow), mode: mode, antialias: true)
                var maxDiff: Float = 0
                for i in 0..<ours.count { maxDiff = max(maxDiff, abs(ours.data[i] - torch.data[i])) }
                XCTAssertLessThan(maxDiff, 2e-5, "\(filter) \(oh)×\(ow)")
                // On a smooth byte image (no overshoot past 0 or 255 for PIL's 8-bit intermediate to clamp),
                // PIL's two rounded passes stay within about one level of the float result.
                let smooth = Tensor(uninitialized: [3, 9, 13])
                for i in 0..<smooth.count { smooth.data[i] = (100 + 60 * sinf(Float(i) * 0.37)).rounded() / 255 }
                let floatSmooth = try pilResize(smooth, height: oh, width: ow, filter: filter, arithmetic: .float)
                let bytes = try pilResize(smooth, height: oh, width: ow, filter: filter, arithmetic: .uint8)
                var maxLevels: Float = 0
                for i in 0..<ours.count { maxLevels = max(maxLevels, abs(floatSmooth.data[i] - bytes.data[i]) * 255) }
                XCTAssertLessThanOrEqual(maxLevels, 1.2, "\(filter) \(oh)×\(ow)")
            }
        }
    }

    func testResizeShorterSideUsesTorchvisionRounding() throws {
        func shape(_ h: Int, _ w: Int, _ size: Int) throws -> [Int] {
            try ImagePipeline([.resizeShorterSide(size, arithmetic: .float)]).apply(Tensor(zeros: [3, h, w]), seed: 0).shape
        }
        XCTAssertEqual(try shape(32, 32, 164), [3, 164, 164])
        XCTAssertEqual(try shape(5, 7, 11), [3, 11, 15])      // int(11 · 7 / 5) = int(15.4)
        XCTAssertEqual(try shape(64, 43, 16), [3, 23, 16])    // int(16 · 64 / 43) = int(23.81)
        XCTAssertEqual(try shape(6, 6, 6), [3, 6, 6])
        let same = Tensor(zeros: [3, 6, 6])
        XCTAssertTrue(try ImagePipeline([.resizeShorterSide(6)]).apply(same, seed: 0) === same, "no-op resize returns the input")
        assertThrows(try ImagePipeline([.resizeShorterSide(0)]).apply(same, seed: 0), containing: ["must be positive"])
        assertThrows(try pilResize(Tensor(zeros: [6, 6]), height: 2, width: 2, filter: .box), containing: ["pilResize", "[6, 6]"])
    }
}
