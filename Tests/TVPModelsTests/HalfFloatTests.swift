import TVPFormats
import TVPModels
import XCTest

final class HalfFloatTests: XCTestCase {
    /// Every half bit pattern against the platform's Float16 (the oracle).
    func testHalfToFloatMatchesFloat16ForAllPatterns() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let got = halfToFloat(bits)
            if expected.isNaN {
                XCTAssertTrue(got.isNaN, "pattern \(bits)")
            } else if got.bitPattern != expected.bitPattern {
                XCTFail("pattern 0x\(String(bits, radix: 16)): \(got) instead of \(expected)")
                return
            }
        }
    }

    func testFloatToHalfRoundsLikeFloat16() {
        var values: [Float] = [0, -0, 1, -2, 0.1, 65504, 65519, 65520, 1e6, -1e-8, 0x1p-24, 0x1p-25, 0x1.8p-25,
                               0x1p-14, 0x1.ffcp-15, .infinity, -.infinity, 1.00048828125, 1.00146484375]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(Float(bitPattern: UInt32.random(in: 0x3000_0000...0x4800_0000, using: &generator)) * (Bool.random() ? 1 : -1)) }
        for x in values {
            XCTAssertEqual(floatToHalf(x), Float16(x).bitPattern, "x = \(x)")
        }
        XCTAssertTrue(halfToFloat(floatToHalf(.nan)).isNaN)
    }

    func testBFloat16IsTheUpperHalf() {
        XCTAssertEqual(bfloat16ToFloat(0x3f80), 1)
        XCTAssertEqual(bfloat16ToFloat(0xc040), -3)
        XCTAssertEqual(bfloat16ToFloat(0xbc00), -0.0078125)
    }
}
