import Foundation
import TVPFormats
import TVPTestSupport
import XCTest

/// Hostile inputs for the shared readers (pickle, ZIP, YAML): each is refused with an error that
/// names the file, says what is wrong and what limit applies, instead of crashing or hanging.
final class HostileFormatsTests: XCTestCase {
    private var folder: String!
    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "tvp-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    private func unpickle(_ bytes: [UInt8], file: String = "hostile.pkl") throws -> PickleValue {
        try bytes.withUnsafeBytes { raw in
            var unpickler = Unpickler(ByteReader(raw, file: file)) { _ in .none }
            return try unpickler.load()
        }
    }

    private func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            XCTFail("expected an error")
            return ""
        } catch {
            return String(describing: error)
        }
    }

    /// A million nested tuples would be freed (and walked) recursively: refused at the limit.
    func testPickleNestingIsLimited() {
        let nested: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2e]
        let text = message { try unpickle(nested) }
        XCTAssert(text.contains("hostile.pkl") && text.contains("nested more than \(ReaderLimits.maxPickleDepth) levels"), text)

        // Lists nested through LIST opcodes are held to the same limit.
        var deep: [UInt8] = [0x80, 0x02]
        for _ in 0..<100_000 { deep += [0x28] }              // MARK × n
        deep += [0x5d]
        for _ in 0..<100_000 { deep += [0x6c] }              // LIST: each wraps everything above its mark
        deep += [0x2e]
        let listText = message { try unpickle(deep) }
        XCTAssert(listText.contains("nested more than"), listText)

        // Depth that stays within the limit is read.
        let shallow: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: ReaderLimits.maxPickleDepth - 1) + [0x2e]
        XCTAssertNoThrow(try unpickle(shallow))
    }

    /// Growing a list after it was placed inside another object would hide depth: refused.
    func testPlacedListsCannotGrow() {
        // a = []; b = [a]; then APPEND into a (fetched from the memo) after it sits in b.
        let bytes: [UInt8] = [0x80, 0x02, 0x5d, 0x71, 0x00,   // a, memo 0
                              0x5d, 0x68, 0x00, 0x61,         // b = [a]
                              0x68, 0x00, 0x4b, 0x01, 0x61,   // a.append(1)
                              0x2e]
        let text = message { try unpickle(bytes) }
        XCTAssert(text.contains("already inside another object"), text)
    }

    /// Only the data classes checkpoints need may be named; code is refused by name.
    func testPickleGlobalsAreAllowListed() {
        // GLOBAL 'os system', then REDUCE with ('echo hi',)
        let system: [UInt8] = [0x80, 0x02, 0x63] + Array("os\nsystem\n".utf8) + [0x8c, 7] + Array("echo hi".utf8) + [0x85, 0x52, 0x2e]
        let text = message { try unpickle(system) }
        XCTAssert(text.contains("hostile.pkl") && text.contains("os.system") && text.contains("refused"), text)

        // STACK_GLOBAL 'subprocess' 'Popen' (protocol 4).
        let popen: [UInt8] = [0x80, 0x04, 0x8c, 10] + Array("subprocess".utf8) + [0x8c, 5] + Array("Popen".utf8) + [0x93, 0x2e]
        XCTAssert(message { try unpickle(popen) }.contains("subprocess.Popen"))

        XCTAssertTrue(Unpickler.isAllowed(global: "torch.FloatStorage"))
        XCTAssertTrue(Unpickler.isAllowed(global: "torch._utils._rebuild_tensor_v2"))
        XCTAssertFalse(Unpickler.isAllowed(global: "torch.os.system"))
        XCTAssertFalse(Unpickler.isAllowed(global: "builtins.eval"))
        let ordered: [UInt8] = [0x80, 0x02, 0x63] + Array("collections\nOrderedDict\n".utf8) + [0x29, 0x52, 0x2e]
        guard case .dict? = try? unpickle(ordered) else { return XCTFail("OrderedDict() should read as a dict") }
    }

    /// A directory entry may not claim more than deflate can produce, nor more than the expansion limit.
    func testZipSizeClaimsAreCheckedBeforeAllocating() throws {
        let path = folder + "/claims.zip"
        let small = [UInt8](repeating: 7, count: 100)
        try Data(HostileBytes.zip([("big", small)], claims: ["big": (8, 100, 1 << 40)])).write(to: URL(fileURLWithPath: path))
        let text = message { try ZipArchive(MappedFile(path: path)) }
        XCTAssert(text.contains("claims.zip") && text.contains("'big'") && text.contains("deflate can produce"), text)

        // Within deflate's ratio, beyond the expansion limit: refused when the entry is read.
        let stored = [UInt8](repeating: 1, count: 2 << 20)
        try Data(HostileBytes.zip([("bomb", stored)], claims: ["bomb": (8, UInt64(stored.count), 3 << 29)])).write(to: URL(fileURLWithPath: path))
        let archive = try ZipArchive(MappedFile(path: path))
        let bomb = message { try archive.withContents(archive.entries[0]) { $0.count } }
        XCTAssert(bomb.contains("claims.zip") && bomb.contains("'bomb'") && bomb.contains("TVP_MAX_EXPANDED_BYTES"), bomb)

        // Honest archives still read.
        try Data(HostileBytes.zip([("a", small)])).write(to: URL(fileURLWithPath: path))
        let honest = try ZipArchive(MappedFile(path: path))
        XCTAssertEqual(try honest.withContents(honest.entries[0]) { Array($0) }, small)
    }

    /// 100 000 nested `[` used to overflow the stack; now refused at the depth limit, located.
    func testYAMLNestingIsLimited() {
        let text = String(repeating: "[", count: 100_000)
        let error = message { try YAMLParser.parse(text, path: "deep.yaml") }
        XCTAssert(error.hasPrefix("deep.yaml:1:\(ReaderLimits.maxYAMLDepth + 1):") && error.contains("nested more than \(ReaderLimits.maxYAMLDepth)"), error)
        XCTAssertNoThrow(try YAMLParser.parse(String(repeating: "[", count: 50) + String(repeating: "]", count: 50)))
    }

    /// Six levels of nine aliases each would add 9^6 nodes: refused at once, at the alias that crosses the limit.
    func testYAMLAliasBombIsRefusedQuickly() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for level in 1...6 {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        let start = Date()
        let error = message { try YAMLParser.parse(lines.joined(separator: "\n"), path: "bomb.yaml") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssert(error.hasPrefix("bomb.yaml:") && error.contains("limit of \(ReaderLimits.maxYAMLAliasNodes)"), error)

        // Ordinary reuse of an anchor stays well within the limit.
        XCTAssertNoThrow(try YAMLParser.parse("base: &b {lr: 1, epochs: 2}\nx: *b\ny: {<<: *b, lr: 3}\n"))
    }
}
