import Foundation
import TVPFormats
import TVPModels
import TVPTensor
import XCTest

/// A fresh temporary folder per test, removed afterwards.
func makeTemporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tvp-formats-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes `bytes` as `name` in `folder`; returns the file's path.
func writeFile(_ bytes: [UInt8], _ name: String, in folder: URL) throws -> String {
    let path = folder.appendingPathComponent(name).path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

/// Little-endian byte building for hand-made files.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
}

/// Asserts that `body` throws a `FormatError` whose description contains every fragment.
func assertFormatError<T>(_ body: @autoclosure () throws -> T, mentions fragments: [String],
                          file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a FormatError mentioning \(fragments)", file: file, line: line)
    } catch let error as FormatError {
        for f in fragments where !error.description.contains(f) {
            XCTFail("error \"\(error.description)\" does not mention \"\(f)\"", file: file, line: line)
        }
    } catch {
        XCTFail("expected a FormatError, got \(error)", file: file, line: line)
    }
}
