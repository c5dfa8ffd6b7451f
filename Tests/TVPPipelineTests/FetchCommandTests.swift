import Foundation
import TVPCommands
import TVPFormats
import XCTest

/// `tvp-run fetch`: exit codes for success, usage errors, unknown names and failed fetches.
final class FetchCommandTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tvp-fetchcmd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func testFetchListAndErrors() throws {
        let bytes = Array("abc".utf8)
        let local = folder + "/abc.txt"
        try Data(bytes).write(to: URL(fileURLWithPath: local))
        let manifest = folder + "/m.manifest"
        try """
        version: 1
        assets:
          tiny:
            kind: vocabulary
            licence: MIT
            citation: test
            loader: clip-bpe
            files:
              abc.txt:
                size: 3
                sha256: "\(sha256Hex(bytes))"
                sources:
                - local: \(local)
          needs-tiny:
            kind: vocabulary
            licence: MIT
            citation: test
            loader: clip-bpe
            requires: [tiny]
            files:
              none.txt:
                size: unknown
                checksum: none published
                sources:
                - manual: ask
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let cache = folder + "/cache"
        let common = ["--cache", cache, "--manifest", manifest]

        XCTAssertEqual(TVPRunCommand.runFetch(["--list"] + common), 0)
        XCTAssertEqual(TVPRunCommand.runFetch(["tiny", "--offline"] + common), 0)
        XCTAssertEqual(FileManager.default.contents(atPath: cache + "/assets/tiny/abc.txt").map { [UInt8]($0) }, bytes)
        XCTAssertEqual(TVPRunCommand.runFetch(["needs-tiny"] + common), 1, "the manual file cannot be fetched")
        XCTAssertEqual(TVPRunCommand.runFetch(["tinny"] + common), 2, "unknown asset")
        XCTAssertEqual(TVPRunCommand.runFetch(common), 2, "no names")
        XCTAssertEqual(TVPRunCommand.runFetch(["tiny", "--ofline"] + common), 2, "unknown option")
        XCTAssertEqual(TVPRunCommand.runFetch(["tiny", "--cache"]), 2, "option without value")
        XCTAssertEqual(TVPRunCommand.runFetch(["tiny", "--manifest", folder + "/absent.manifest"]), 2)
    }
}
