import Foundation
import TVPData
import TVPTensor
import TVPTestSupport
import XCTest

/// Committed fixture files (written by scripts/fixtures/*.py).
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

// makeTemporaryFolder(_:) lives in FetchTestSupport.swift.

func writeBytes(_ bytes: [UInt8], _ path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func writeText(_ text: String, _ path: String) throws { try writeBytes(Array(text.utf8), path) }

func assertThrows<T>(_ expression: @autoclosure () throws -> T, containing parts: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        for part in parts { XCTAssertTrue("\(error)".contains(part), "\"\(error)\" lacks \"\(part)\"", file: file, line: line) }
    }
}

/// PNG files built byte by byte (signature, IHDR, optional PLTE/tRNS, IDAT as a zlib stream of
/// stored deflate blocks, IEND; CRC-32 per chunk), independent of libpng.
enum HandPNG {
    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] { HostileBytes.pngChunk(type, data) }

    /// zlib stream with stored (uncompressed) deflate blocks.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let final: UInt8 = start + n == data.count ? 1 : 0
            out += [final, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            out += data[start..<start + n]
            start += n
        } while start < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + be32(Int(b << 16 | a))
    }

    /// colorType: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA; `rows` are unfiltered scanlines.
    static func png(width: Int, height: Int, bitDepth: Int = 8, colorType: Int, rows: [[UInt8]],
                    palette: [UInt8]? = nil, transparency: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        out += chunk("IHDR", be32(width) + be32(height) + [UInt8(bitDepth), UInt8(colorType), 0, 0, 0])
        if let palette { out += chunk("PLTE", palette) }
        if let transparency { out += chunk("tRNS", transparency) }
        out += chunk("IDAT", zlibStored(rows.flatMap { [0] + $0 }))   // filter type 0 per row
        return out + chunk("IEND", [])
    }
}

/// The values of item `i` along axis 0.
func item(_ t: TVPTensor.Tensor, _ i: Int) -> [Float] {
    let size = t.shape.dropFirst().reduce(1, *)
    return Array(UnsafeBufferPointer(start: t.data + i * size, count: size))
}
