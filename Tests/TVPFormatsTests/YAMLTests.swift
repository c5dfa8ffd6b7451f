import Foundation
import TVPFormats
import XCTest

/// YAML loading on libyaml: trees with marks, anchors, merges, `extends:`, typed access, errors.
final class YAMLTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tvp-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes `text` to `name` (subfolders allowed) in the test's temporary folder; returns its path.
    @discardableResult
    private func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The description of the YAMLError that `body` throws (fails the test if it throws none or another type).
    /// Asserts that parsing `text` as the file `path` fails with `message`.
    private func assertParseError(_ text: String, _ path: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(errorText({ try YAMLParser.parse(text, path: path) }, file: file, line: line), message, file: file, line: line)
    }

    /// Asserts that loading the YAML file at `path` fails with `message`.
    private func assertLoadError(_ path: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(errorText({ try YAMLDocument.load(path: path) }, file: file, line: line), message, file: file, line: line)
    }

    private func errorText(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try body()
            XCTFail("expected a YAMLError", file: file, line: line)
        } catch let error as YAMLError {
            return error.description
        } catch {
            XCTFail("expected a YAMLError, got \(error)", file: file, line: line)
        }
        return ""
    }

    // MARK: - Trees and marks

    func testTreeKeepsLineAndColumnOfEveryNode() throws {
        let text = """
        name: clevr
        train:
          lr: 10
          sizes: [1, 2]
        """
        let root = try YAMLParser.parse(text, path: "p.yaml")
        XCTAssertEqual(root.mark, Mark(path: "p.yaml", line: 1, column: 1))
        XCTAssertEqual(root.keys, ["name", "train"])
        let train = try root.required("train")
        XCTAssertEqual(train.mark.description, "p.yaml:3:3")
        XCTAssertEqual(try train.required("lr").mark.description, "p.yaml:3:7")
        let sizes = try train.required("sizes").items()
        XCTAssertEqual(sizes.map(\.mark.description), ["p.yaml:4:11", "p.yaml:4:14"])
        XCTAssertEqual(try sizes.map { try $0.int() }, [1, 2])
        let entries = try train.entries()
        XCTAssertEqual(entries[1].key.mark.description, "p.yaml:4:3")
        if case .scalar(_, let info, _) = try root.required("name") {
            XCTAssertEqual(info, YAMLScalarInfo(style: .plain, tag: nil))
        } else {
            XCTFail("name should be a scalar")
        }
    }

    func testEmptyStreamIsNull() throws {
        XCTAssertTrue(try YAMLParser.parse("", path: "e.yaml").isNull)
        XCTAssertTrue(try YAMLParser.parse("# only a comment\n", path: "e.yaml").isNull)
    }

    func testScalarStylesAndTags() throws {
        let root = try YAMLParser.parse("""
        a: 'single'
        b: "double"
        c: |
          literal
        d: >
          folded
        e: !!str 12
        f: !env HOME
        """, path: "s.yaml")
        func info(_ key: String) throws -> YAMLScalarInfo {
            guard case .scalar(_, let info, _) = try root.required(key) else { throw YAMLError("not a scalar", at: nil) }
            return info
        }
        XCTAssertEqual(try info("a").style, .singleQuoted)
        XCTAssertEqual(try info("b").style, .doubleQuoted)
        XCTAssertEqual(try info("c").style, .literal)
        XCTAssertEqual(try info("d").style, .folded)
        XCTAssertEqual(try info("e").tag, "tag:yaml.org,2002:str")
        XCTAssertEqual(try info("f").tag, "!env")
        XCTAssertEqual(try root.required("c").string(), "literal\n")
        XCTAssertEqual(try root.required("e").string(), "12")
        assertParseError("n: !!int twelve\n", "t.yaml",
                         "t.yaml:1:4: 'twelve' is not a valid !!int")
    }

    // MARK: - Typed access

    func testTypedAccessorsFollowTheYAML12CoreSchema() throws {
        let root = try YAMLParser.parse("""
        count: 42
        negative: -7
        hex: 0x1F
        octal: 0o17
        ratio: 0.5
        tiny: 1e-3
        infinite: -.inf
        flag: true
        shout: FALSE
        nothing: ~
        empty:
        quoted: "3"
        answer: yes
        huge: 123456789012345678901234567890
        """, path: "t.yaml")
        XCTAssertEqual(try root.required("count").int(), 42)
        XCTAssertEqual(try root.required("negative").int(), -7)
        XCTAssertEqual(try root.required("hex").int(), 31)
        XCTAssertEqual(try root.required("octal").int(), 15)
        XCTAssertEqual(try root.required("count").double(), 42)
        XCTAssertEqual(try root.required("ratio").double(), 0.5)
        XCTAssertEqual(try root.required("tiny").double(), 0.001)
        XCTAssertEqual(try root.required("infinite").double(), -.infinity)
        XCTAssertEqual(try root.required("flag").bool(), true)
        XCTAssertEqual(try root.required("shout").bool(), false)
        XCTAssertTrue(root["nothing"]!.isNull)
        XCTAssertTrue(root["empty"]!.isNull)
        XCTAssertFalse(root["quoted"]!.isNull)
        XCTAssertEqual(try root.required("quoted").string(), "3")
        XCTAssertEqual(try root.required("answer").string(), "yes")
        XCTAssertNil(root["missing"])

        XCTAssertEqual(errorText { try root.required("quoted").int() }, "t.yaml:12:9: expected an integer, found a string ('3')")
        XCTAssertEqual(errorText { try root.required("ratio").int() }, "t.yaml:5:8: expected an integer, found a number (0.5)")
        XCTAssertEqual(errorText { try root.required("answer").bool() },
                       "t.yaml:13:9: expected a boolean, found 'yes'; YAML 1.2 booleans are only true and false")
        XCTAssertEqual(errorText { try root.required("count").string() },
                       "t.yaml:1:8: expected a string, found an integer (42); write \"42\" (quoted) if you mean the text")
        XCTAssertEqual(errorText { try root.required("huge").int() },
                       "t.yaml:14:7: integer 123456789012345678901234567890 does not fit in 64 bits")
        XCTAssertEqual(errorText { try root.required("lr") }, "t.yaml:1:1: missing required key 'lr'")
        XCTAssertEqual(errorText { try root.required("count").items() }, "t.yaml:1:8: expected a sequence, found an integer (42)")
        XCTAssertEqual(errorText { try root.required("nothing").entries() }, "t.yaml:10:10: expected a mapping, found null")
    }

    func testCheckKeysSuggestsTheClosestKey() throws {
        let root = try YAMLParser.parse("lr: 10\nbatchsize: 16\n", path: "k.yaml")
        XCTAssertEqual(errorText { try root.checkKeys(allowed: ["lr", "batch_size", "epochs"]) },
                       "k.yaml:2:1: unknown key 'batchsize'; did you mean 'batch_size'?")
        XCTAssertEqual(errorText { try root.checkKeys(allowed: ["lr", "seed"]) },
                       "k.yaml:2:1: unknown key 'batchsize'; expected one of: lr, seed")
        XCTAssertNoThrow(try root.checkKeys(allowed: ["lr", "batchsize"]))
    }

    func testSuggest() {
        let keys = ["learning_rate", "batch_size", "epochs", "seed", "lr"]
        XCTAssertEqual(suggest("epochz", from: keys), "epochs")         // one substitution
        XCTAssertEqual(suggest("sede", from: keys), "seed")             // distance 2
        XCTAssertEqual(suggest("Seed", from: keys), "seed")             // case-insensitive
        XCTAssertEqual(suggest("batch", from: keys), "batch_size")      // shared prefix
        XCTAssertEqual(suggest("learning", from: keys), "learning_rate")
        XCTAssertEqual(suggest("lt", from: keys), "lr")
        XCTAssertNil(suggest("x", from: keys))                          // distance 2 but as long as the word
        XCTAssertNil(suggest("optimizer", from: keys))
        XCTAssertNil(suggest("seed", from: ["seed"]))                   // never suggests the word itself
        XCTAssertEqual(suggest("seeds", from: ["seed", "seeds2"]), "seed")  // ties: earliest candidate
        XCTAssertNil(suggest("abc", from: []))
    }

    // MARK: - Anchors, aliases, merge keys

    func testAliasesResolveToTheAnchoredNode() throws {
        let root = try YAMLParser.parse("""
        size: &px 224
        crop: *px
        model: &m {name: clip, width: 768}
        guide: *m
        """, path: "a.yaml")
        XCTAssertEqual(try root.required("crop").int(), 224)
        XCTAssertEqual(root["crop"]!.mark.description, "a.yaml:1:7")  // the anchored scalar's own mark
        XCTAssertEqual(root["guide"]!.canonicalJSON(), #"{"name":"clip","width":768}"#)
        XCTAssertEqual(try root.required("guide").required("width").mark.description, "a.yaml:3:31")
    }

    func testUnknownAndRecursiveAliases() {
        assertParseError("base: &base {a: 1}\nchild: *bsae\n", "u.yaml",
                         "u.yaml:2:8: unknown alias '*bsae': no anchor '&bsae' is defined before it; did you mean '*base'?")
        assertParseError("x: *later\ny: &later 1\n", "u.yaml",
                         "u.yaml:1:4: unknown alias '*later': no anchor '&later' is defined before it")
        // Columns count characters, not bytes.
        assertParseError("é: *x\n", "u.yaml",
                         "u.yaml:1:4: unknown alias '*x': no anchor '&x' is defined before it")
        assertParseError("loop: &l [1, *l]\n", "u.yaml",
                         "u.yaml:1:14: alias '*l' refers to a node that contains it (recursive aliases are not supported)")
    }

    func testMergeKeysFollowYAML11Semantics() throws {
        let root = try YAMLParser.parse("""
        a: &a {lr: 1, seed: 1, only_a: x}
        b: &b {lr: 2, seed: 2, only_b: y, epochs: 3}
        one:
          <<: *a
          seed: 7
        two:
          epochs: 9
          <<: [*a, *b]
        quoted:
          "<<": *a
        """, path: "m.yaml")
        XCTAssertEqual(root["one"]!.canonicalJSON(), #"{"lr":1,"only_a":"x","seed":7}"#)
        // Explicit `epochs` wins over *b; *a wins over *b for lr and seed.
        XCTAssertEqual(root["two"]!.canonicalJSON(), #"{"epochs":9,"lr":1,"only_a":"x","only_b":"y","seed":1}"#)
        XCTAssertEqual(root["two"]!.keys, ["epochs", "lr", "seed", "only_a", "only_b"])
        // Merged values keep the marks of their definition.
        XCTAssertEqual(root["two"]!["only_b"]!.mark.description, "m.yaml:2:32")
        XCTAssertEqual(root["one"]!["seed"]!.mark.description, "m.yaml:5:9")
        // A quoted "<<" is an ordinary key.
        XCTAssertEqual(root["quoted"]!.keys, ["<<"])

        assertParseError("x:\n  <<: 3\n", "m.yaml",
                         "m.yaml:2:7: merge key '<<' expects a mapping or a list of mappings (like <<: *base or <<: [*a, *b]), found an integer (3)")
        assertParseError("a: &a {k: 1}\nx:\n  <<: [*a, 5]\n", "m.yaml",
                         "m.yaml:3:12: a merge source must be a mapping (like *base), found an integer (5)")
    }

    func testDuplicateKeysNameBothLocations() {
        assertParseError("train:\n  lr: 1\n  seed: 2\n  lr: 3\n", "d.yaml",
                         "d.yaml:4:3: duplicate key 'lr' (first defined at d.yaml:2:3)")
        assertParseError("{a: 1, 'a': 2}", "d.yaml",
                         "d.yaml:1:8: duplicate key 'a' (first defined at d.yaml:1:2)")
        assertParseError("? [1, 2]\n: x\n", "d.yaml",
                         "d.yaml:1:3: mapping keys must be scalars, found a sequence")
    }

    // MARK: - Syntax errors and documents

    func testSyntaxErrorsCarryLibyamlPosition() throws {
        let path = try write("bad.yaml", "name: clevr\nkey: value: other\n")
        assertLoadError(path,
                        "\(path):2:11: mapping values are not allowed in this context")
        assertParseError("a:\n\tb: 1\n", "tab.yaml",
                         "tab.yaml:2:1: found character that cannot start any token (while scanning for the next token at line 2, column 1)")
        assertParseError("list: [1, 2\nnext: 3\n", "f.yaml",
                         "f.yaml:2:5: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 7)")
        XCTAssertEqual(errorText { try YAMLParser.parse(bytes: Array("ok: 1\nbad: ".utf8) + [0xFF], path: "u.yaml") },
                       "u.yaml:2:6: invalid leading UTF-8 octet (byte 0xff)")
    }

    func testMultipleDocumentsOnlyWhenAsked() throws {
        let text = "a: 1\n---\nb: 2\n"
        XCTAssertEqual(errorText { try YAMLParser.parse(text, path: "two.yaml") },
                       "two.yaml:2:1: a second YAML document starts here; this file must hold exactly one document")
        let documents = try YAMLParser.parseDocuments(text, path: "two.yaml")
        XCTAssertEqual(documents.map { $0.canonicalJSON() }, [#"{"a":1}"#, #"{"b":2}"#])
        XCTAssertEqual(try YAMLParser.parse("---\na: 1\n...\n", path: "one.yaml").canonicalJSON(), #"{"a":1}"#)
        // Anchors do not cross documents.
        XCTAssertEqual(errorText { try YAMLParser.parseDocuments("a: &x 1\n---\nb: *x\n", path: "two.yaml") },
                       "two.yaml:3:4: unknown alias '*x': no anchor '&x' is defined before it")
    }

    // MARK: - extends

    func testExtendsChainDeepMergesAndKeepsMarks() throws {
        try write("base.yaml", """
        model:
          name: clip
          width: 768
        train:
          lr: 10
          epochs: 1
        splits: [train, test]
        """)
        try write("configs/mid.yaml", """
        extends: ../base.yaml
        train:
          epochs: 2
        """)
        let child = try write("configs/exp/child.yaml", """
        extends: ../mid.yaml
        train:
          lr: 5
        splits: [val]
        note: hi
        """)
        let document = try YAMLDocument.load(path: child)
        XCTAssertEqual(document.root.canonicalJSON(),
                       #"{"model":{"name":"clip","width":768},"note":"hi","splits":["val"],"train":{"epochs":2,"lr":5}}"#)
        XCTAssertEqual(document.root.keys, ["model", "train", "splits", "note"])
        let mid = directory.appendingPathComponent("configs/exp").path + "/../mid.yaml"
        let base = directory.appendingPathComponent("configs").path + "/../base.yaml"
        XCTAssertEqual(document.root["train"]!["lr"]!.mark, Mark(path: child, line: 3, column: 7))
        XCTAssertEqual(document.root["train"]!["epochs"]!.mark, Mark(path: (directory.appendingPathComponent("configs/exp").path as NSString).appendingPathComponent("../mid.yaml"), line: 3, column: 11))
        XCTAssertEqual(document.root["model"]!["width"]!.mark.line, 3)
        XCTAssertTrue(document.root["model"]!["width"]!.mark.path.hasSuffix("base.yaml"))
        XCTAssertEqual(document.sources.count, 3)
        XCTAssertEqual(document.sources[0], child)
        XCTAssertEqual(document.sources.map { URL(fileURLWithPath: $0).standardized.path },
                       [child, mid, base].map { URL(fileURLWithPath: $0).standardized.path })
    }

    func testExtendsListLaterBasesOverride() throws {
        try write("a.yaml", "x: 1\ny: 1\n")
        try write("b.yaml", "y: 2\nz: 2\n")
        let top = try write("top.yaml", "extends: [a.yaml, b.yaml]\nz: 3\n")
        XCTAssertEqual(try YAMLDocument.load(path: top).root.canonicalJSON(), #"{"x":1,"y":2,"z":3}"#)
    }

    func testExtendsCycleListsTheChain() throws {
        let a = try write("a.yaml", "extends: b.yaml\nx: 1\n")
        let b = try write("b.yaml", "extends: c.yaml\n")
        let c = try write("c.yaml", "extends: ./a.yaml\n")
        let cAlias = (directory.path as NSString).appendingPathComponent("./a.yaml")
        assertLoadError(a,
                        "\(c):1:10: extends cycle: \(a) -> \(b) -> \(c) -> \(cAlias)")
        let selfLoop = try write("self.yaml", "extends: self.yaml\n")
        assertLoadError(selfLoop,
                        "\(selfLoop):1:10: extends cycle: \(selfLoop) -> \(selfLoop)")
    }

    func testExtendsErrors() throws {
        let target = (directory.path as NSString).appendingPathComponent("nowhere.yaml")
        try write("list.yaml", "- 1\n")
        for (name, text, error) in [
            ("missing.yaml", "x: 1\nextends: nowhere.yaml\n", "2:10: cannot read '\(target)': no such file"),
            ("wrong.yaml", "extends: 3\n", "1:10: 'extends' expects a file path or a list of file paths, found an integer (3)"),
            ("uses-list.yaml", "extends: list.yaml\n", "1:10: 'extends' bases must be mappings, but 'list.yaml' holds a sequence"),
        ] {
            let path = try write(name, text)
            assertLoadError(path, "\(path):\(error)")
        }
        XCTAssertEqual(errorText { try YAMLDocument.load(path: directory.path) }, "cannot read '\(directory.path)': it is a directory")
        let nowhere = directory.appendingPathComponent("absent.yaml").path
        XCTAssertEqual(errorText { try YAMLDocument.load(path: nowhere) }, "cannot read '\(nowhere)': no such file")
    }

    // MARK: - Canonical JSON

    func testCanonicalJSONExactText() throws {
        let root = try YAMLParser.parse("""
        zeta: 1
        alpha:
          - 007
          - +12
          - -0
          - 0x10
          - 1.0
          - 1.50
          - 2.5e-10
          - 1e21
          - 0.000001
          - 1e-7
          - .inf
          - .nan
          - 123456789012345678901234567890
        "quoted": "42"
        single: 'true'
        block: |
          line "one"
          tab\there
        nulls: [~, null, NULL]
        bools: [true, False, yes]
        tagged: !!str 3.0
        forced: !!float 2
        text: héllo \\ 😀
        ctl: "\\u0001\\b\\f"
        Éa: 1
        B: 2
        """, path: "c.yaml")
        let expected = #"{"B":2,"alpha":[7,12,0,16,1,1.5,2.5e-10,1e+21,0.000001,1e-7,"Infinity","NaN","#
            + #"123456789012345678901234567890],"block":"line \"one\"\ntab\there\n","bools":[true,false,"yes"],"#
            + #""ctl":"\u0001\b\f","forced":2,"nulls":[null,null,null],"quoted":"42","single":"true","#
            + #""tagged":"3.0","text":"héllo \\ 😀","zeta":1,"Éa":1}"#
        XCTAssertEqual(root.canonicalJSON(), expected)
        // Key order and layout do not matter; values do.
        let reordered = try YAMLParser.parse("{b: [1, {y: 2, x: 1}], a: x}", path: "r.yaml")
        let blockStyle = try YAMLParser.parse("a: x\nb:\n  - 1\n  - x: 1\n    y: 2\n", path: "r.yaml")
        XCTAssertEqual(reordered.canonicalJSON(), #"{"a":"x","b":[1,{"x":1,"y":2}]}"#)
        XCTAssertEqual(reordered.canonicalJSON(), blockStyle.canonicalJSON())
    }

    func testCanonicalNumberMatchesJavaScript() {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "0"), (1, "1"), (-1, "-1"), (100, "100"), (0.1, "0.1"), (1.5, "1.5"),
            (1e21, "1e+21"), (1e20, "100000000000000000000"), (1.23e20, "123000000000000000000"),
            (1e-6, "0.000001"), (1e-7, "1e-7"), (0.000123, "0.000123"), (-2.5e-10, "-2.5e-10"),
            (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (123.456, "123.456"),
            (.infinity, "\"Infinity\""), (-.infinity, "\"-Infinity\""), (.nan, "\"NaN\""),
        ]
        for (value, text) in cases { XCTAssertEqual(canonicalNumber(value), text, "\(value)") }
        XCTAssertEqual(canonicalJSONString("a\"b\\c\u{7F}\u{1F}é"), "\"a\\\"b\\\\c\u{7F}\\u001fé\"")
    }

    // MARK: - SHA-256

    func testSHA256NISTVectors() {
        XCTAssertEqual(sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(sha256Hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(sha256Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        XCTAssertEqual(sha256Hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testSHA256StreamingMatchesOneShot() {
        let message = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = SHA256()
        var offset = 0
        for chunk in [1, 63, 64, 65, 0, 127, 300, 380] {
            hasher.update(Array(message[offset..<offset + chunk]))
            offset += chunk
        }
        XCTAssertEqual(offset, message.count)
        XCTAssertEqual(hexString(hasher.finalize()), sha256Hex(message))
        XCTAssertEqual(hexString(hasher.finalize()), sha256Hex(message))  // finalize leaves the hasher as it was
        // Lengths around the padding boundary (55, 56, 64 bytes) against Python's hashlib.
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 55)), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 56)), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 64)), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }
}
