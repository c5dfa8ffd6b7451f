import Foundation
import TVPModels
import XCTest

/// Path of a file under Fixtures/tokenizers (written by scripts/fixtures/tokenizer_goldens.py).
func tokenizerFixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizers/\(name)").path
}

/// The reference texts and ids from goldens.json.
struct TokenizerGoldens {
    let texts: [String]
    let sections: [String: [String: Any]]

    static let shared: TokenizerGoldens = {
        let data = FileManager.default.contents(atPath: tokenizerFixture("goldens.json"))!
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        var sections: [String: [String: Any]] = [:]
        for (k, v) in root { if let d = v as? [String: Any] { sections[k] = d } }
        return TokenizerGoldens(texts: root["texts"] as! [String], sections: sections)
    }()

    func ids(_ section: String, _ key: String) -> [[Int]] {
        (sections[section]![key] as! [[NSNumber]]).map { $0.map(\.intValue) }
    }

    func strings(_ section: String, _ key: String) -> [String] { sections[section]![key] as! [String] }
}

/// Compares `produce(text)` with the golden ids text by text, naming the first differing text.
func assertIDs(_ expected: [[Int]], _ produce: (String) -> [Int], _ label: String,
               file: StaticString = #filePath, line: UInt = #line) {
    let texts = TokenizerGoldens.shared.texts
    XCTAssertEqual(expected.count, texts.count, "\(label): golden count", file: file, line: line)
    for (text, want) in zip(texts, expected) {
        let got = produce(text)
        if got != want { XCTFail("\(label) of \(text.debugDescription):\n got \(got)\nwant \(want)", file: file, line: line) }
    }
}

/// Compares decoded strings with the golden ones.
func assertDecoded(_ expected: [String], _ ids: [[Int]], _ decode: ([Int]) -> String, _ label: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    for (i, (want, tokens)) in zip(expected, ids).enumerated() {
        let got = decode(tokens)
        if got != want { XCTFail("\(label) #\(i): got \(got.debugDescription), want \(want.debugDescription)", file: file, line: line) }
    }
}
