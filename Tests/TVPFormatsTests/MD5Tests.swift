import TVPFormats
import XCTest

/// MD5 against the RFC 1321 appendix A.5 test suite, plus streaming and padding-boundary checks.
final class MD5Tests: XCTestCase {
    func testRFC1321TestSuite() {
        let vectors: [(String, String)] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
            ("12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (message, digest) in vectors {
            XCTAssertEqual(md5Hex(message), digest, "MD5(\"\(message)\")")
        }
    }

    /// Lengths around the 56-byte padding boundary and the 64-byte block (values from Python's hashlib).
    func testPaddingBoundaries() {
        XCTAssertEqual(md5Hex(String(repeating: "a", count: 55)), "ef1772b6dff9a122358552954ad0df65")
        XCTAssertEqual(md5Hex(String(repeating: "a", count: 56)), "3b0c8ac703f828b04c6c197006d17218")
        XCTAssertEqual(md5Hex(String(repeating: "a", count: 64)), "014842d480b571495a4a0363793f7367")
    }

    /// Feeding the message in uneven pieces gives the same digest as feeding it at once.
    func testStreamingMatchesOneShot() {
        let message = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = MD5()
        var start = 0
        for piece in [1, 63, 64, 65, 7, 300, 500] {
            hasher.update(Array(message[start..<start + piece]))
            start += piece
        }
        XCTAssertEqual(start, message.count)
        XCTAssertEqual(hexString(hasher.finalize()), md5Hex(message))
        XCTAssertEqual(hexString(hasher.finalize()), hexString(hasher.finalize()), "finalize leaves the hasher unchanged")
    }
}
