import Foundation
import TVPFormats
import TVPTestSupport
import XCTest

/// Mutation fuzzing of the shared readers (see `Fuzzer`): no crash, no hang, every error names the file.
final class FormatsFuzzTests: XCTestCase {
    private func check(_ report: Fuzzer.Report) {
        print(report)
        XCTAssert(report.failures.isEmpty, report.failures.joined(separator: "\n"))
    }

    func testPickle() throws {
        // {'a': [1, 2.5, 'x', b'yz', (None, True)], 'b': OrderedDict(), 'c': 10**20}, protocol 2, with memo ops.
        let pickle: [UInt8] = [0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x01, 0, 0, 0, 0x61, 0x5d, 0x71, 0x01, 0x28,
                               0x4b, 0x01, 0x47, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0x8c, 0x01, 0x78, 0x43, 0x02, 0x79, 0x7a,
                               0x4e, 0x88, 0x86, 0x65, 0x58, 0x01, 0, 0, 0, 0x62, 0x63] + Array("collections\nOrderedDict\n".utf8)
            + [0x29, 0x52, 0x58, 0x01, 0, 0, 0, 0x63, 0x8a, 0x09, 0, 0, 0x10, 0x63, 0x2d, 0x5e, 0xc7, 0x6b, 0x05, 0x75, 0x68, 0x01, 0x30, 0x2e]
        let fuzzer = Fuzzer(reader: "pickle", seeds: [pickle])
        check(try fuzzer.run(fileName: "data.pkl") { path in
            let file = try MappedFile(path: path)
            var unpickler = Unpickler(ByteReader(file.bytes, file: path)) { _ in .none }
            _ = try unpickler.load()
        })
    }

    func testZip() throws {
        let archive = HostileBytes.zip([("archive/data.pkl", Array("pickle bytes".utf8)), ("archive/data/0", [UInt8](repeating: 3, count: 64)),
                                        ("archive/version", Array("3\n".utf8))])
        let fuzzer = Fuzzer(reader: "zip", seeds: [archive])
        check(try fuzzer.run(fileName: "archive.zip") { path in
            let zip = try ZipArchive(MappedFile(path: path))
            for entry in zip.entries { _ = try zip.withContents(entry) { $0.count } }
        })
    }

    func testYAML() throws {
        let text = """
            name: demo
            defaults: &defaults {lr: 10, epochs: 1, seeds: [1, 2, 3]}
            stages:
              - {<<: *defaults, model: smollm, prompt: "padding"}
              - model: minilm
                options: *defaults
                note: |
                  two lines
                  of text
            flags: [true, null, 1.5e3, 0x1f, ~]

            """
        let fuzzer = Fuzzer(reader: "yaml", seeds: [Array(text.utf8)])
        check(try fuzzer.run(fileName: "pipeline.yaml") { path in
            _ = try YAMLParser.parse(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), path: path)
        })
    }
}
