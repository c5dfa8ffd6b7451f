import TVPEngine
import TVPFormats
import TVPPipeline
import XCTest

final class EngineJSONTests: XCTestCase {
    func testCanonicalTextSortsKeysAndWritesJavaScriptNumbers() {
        let value: JSONValue = ["b": [1, 2.5, 1e21, 1e-7, .double(3.0)], "a": ["z": nil, "é": true, "B": "x\"\n\u{01}"]]
        XCTAssertEqual(value.canonicalText, #"{"a":{"B":"x\"\n\u0001","z":null,"é":true},"b":[1,2.5,1e+21,1e-7,3]}"#)
        XCTAssertEqual(JSONValue.integer(3), JSONValue.double(3.0))
        XCTAssertNotEqual(JSONValue.integer(3), JSONValue.string("3"))
        XCTAssertEqual(JSONValue.double(.nan).canonicalText, #""NaN""#)
    }

    func testParseRoundTripsEscapesNumbersAndNesting() throws {
        let text = #" { "s" : "a\u00e9\ud83d\ude00\t\/" , "n": [-0.5, 12, 1E3, true, false, null], "o": {} } "#
        let value = try JSONValue.parse(text)
        XCTAssertEqual(value["s"], .string("aé😀\t/"))
        XCTAssertEqual(value["n"]?.arrayValue?.count, 6)
        XCTAssertEqual(value["n"]?.arrayValue?[1], .integer(12))
        XCTAssertEqual(value["n"]?.arrayValue?[2].doubleValue, 1000)
        XCTAssertEqual(try JSONValue.parse(value.canonicalText), value)
        XCTAssertEqual(value.canonicalText, #"{"n":[-0.5,12,1000,true,false,null],"o":{},"s":"aé😀\t/"}"#)
    }

    func testNumbersReadBackExactlyWhatWasWritten() throws {
        let values: [Double] = [0.1418711863909631, 0.4019396142076802, 0.1, 5e-324, 1.7976931348623157e308, -2.5e-7]
        let parsed = try JSONValue.parse(JSONValue.array(values.map { .double($0) }).canonicalText)
        XCTAssertEqual(parsed.arrayValue?.compactMap(\.doubleValue), values)
    }

    func testParseErrorsNameTheFileAndWhere() {
        XCTAssertThrowsError(try JSONValue.parse(#"{"a": [1, 2}"#, source: "m.json")) { error in
            XCTAssertTrue("\(error)".hasPrefix("m.json: not JSON: "), "\(error)")
            XCTAssertTrue("\(error)".contains("character 11"), "names where: \(error)")
        }
        XCTAssertThrowsError(try JSONValue.parse("[1] x"))
        XCTAssertThrowsError(try JSONValue.parse(#""abc"#))
        XCTAssertThrowsError(try JSONValue.parse("-"))
    }

    func testYAMLParametersGiveTheSameCanonicalText() throws {
        let node = try YAMLParser.parse("lr: 1.0e1\nname: 'x'\nbetas: [0.9, 0x10]\nflag: true\n")
        let value = try JSONValue(yaml: node)
        XCTAssertEqual(value.canonicalText, node.canonicalJSON())
        XCTAssertEqual(value.canonicalText, #"{"betas":[0.9,16],"flag":true,"lr":10,"name":"x"}"#)
    }

    func testManifestKeyIsSHA256OfItsCanonicalText() throws {
        let manifest = StageManifest(kind: "source", parameters: ["values": [1, 2.5], "scale": 2], inputKeys: [],
                                     assets: ["digits": "ab"], code: "1")
        XCTAssertEqual(manifest.canonicalText,
                       #"{"assets":{"digits":"ab"},"code":"1","inputs":[],"kind":"source","parameters":{"scale":2,"values":[1,2.5]}}"#)
        // hashlib.sha256(text.encode()).hexdigest() in Python.
        XCTAssertEqual(manifest.key.hex, "4e00bbde6db000639b4813163edb0199a4efd7c75381a57f05f62ba0c248e26b")
        XCTAssertEqual(try StageManifest(json: try JSONValue.parse(manifest.canonicalText), source: "m"), manifest)
        XCTAssertNil(StageKey(hex: "4E00"))
    }

    func testDiffNamesParameterPathsAssetsCodeAndInputs() {
        let upstreamOld = StageKey(hex: String(repeating: "a", count: 64))!
        let upstreamNew = StageKey(hex: String(repeating: "b", count: 64))!
        let old = StageManifest(kind: "train", parameters: ["optimizer": ["lr": 10, "betas": [0.9, 0.99]], "epochs": 1],
                                inputKeys: [upstreamOld], assets: ["w": "11"], code: "1")
        let new = StageManifest(kind: "train", parameters: ["optimizer": ["lr": 5, "betas": [0.9, 0.98]], "seed": 42, "epochs": 1],
                                inputKeys: [upstreamNew], assets: ["w": "22"], code: "2")
        let changes = diffManifests(old: old, oldInputIDs: ["load"], new: new, newInputIDs: ["load"])
        XCTAssertEqual(changes, [
            .code(old: "1", new: "2"),
            .parameter(path: "optimizer.betas[1]", old: 0.99, new: 0.98),
            .parameter(path: "optimizer.lr", old: 10, new: 5),
            .parameter(path: "seed", old: nil, new: 42),
            .asset(name: "w", old: "11", new: "22"),
            .input(index: 0, oldID: "load", newID: "load", oldKey: upstreamOld, newKey: upstreamNew),
        ])
        XCTAssertEqual(changes.map(\.description), [
            "code: 1 → 2 (its source files changed)",
            "parameter optimizer.betas[1]: 0.99 → 0.98",
            "parameter optimizer.lr: 10 → 5",
            "parameter seed: (absent) → 42",
            "asset w: 11 → 22",
            "input 0 'load' changed upstream (key aaaaaaaaaaaa → bbbbbbbbbbbb)",
        ])
        XCTAssertEqual(diffManifests(old: old, oldInputIDs: ["load"], new: old, newInputIDs: ["load"]), [])
    }
}
