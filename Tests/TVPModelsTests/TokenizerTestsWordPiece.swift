import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

final class TokenizerTestsWordPiece: XCTestCase {
    let goldens = TokenizerGoldens.shared

    func testSyntheticVocabMatchesHF() throws {
        let tok = try WordPieceTokenizer(vocabTxt: tokenizerFixture("wordpiece_vocab.txt"))
        XCTAssertEqual([tok.padTokenID, tok.unkTokenID, tok.clsTokenID, tok.sepTokenID, tok.maskTokenID], [0, 1, 2, 3, 4])
        XCTAssertNil(tok.bosTokenID)
        let ids = goldens.ids("wordpiece", "encode")
        assertIDs(ids, tok.encode, "encode")
        assertIDs(goldens.ids("wordpiece", "with_specials"), tok.encodeWithSpecials, "encodeWithSpecials")
        assertDecoded(goldens.strings("wordpiece", "decode"), ids, { tok.decode($0, skipSpecialTokens: true) }, "decode")
        // Longer than 100 characters: one [UNK]; exactly 100 is still split.
        XCTAssertEqual(tok.encode(String(repeating: "a", count: 101)), [1])
        XCTAssertNotEqual(tok.encode(String(repeating: "a", count: 100)), [1])
    }

    func testNormalizer() {
        let n = BertNormalizer()
        XCTAssertEqual(String(String.UnicodeScalarView(n.normalize("Ça\u{0}\u{200D}Va\tÉTÉ你好".unicodeScalars))), "cava ete 你  好 ")  // NUL and ZWJ dropped, tab → space
        let words = BertNormalizer.split(n.normalize("don't stop!!".unicodeScalars)).map { String(String.UnicodeScalarView($0)) }
        XCTAssertEqual(words, ["don", "'", "t", "stop", "!", "!"])
        let cased = BertNormalizer(lowercase: false)
        XCTAssertEqual(String(String.UnicodeScalarView(cased.normalize("Été".unicodeScalars))), "Été")
    }

    func testMiniLMRealVocabAndTokenizerJSON() throws {
        let vocabPath = try realAsset("all-minilm-l6-v2", "vocab.txt")
        let jsonPath = try realAsset("all-minilm-l6-v2", "tokenizer.json")
        let ids = goldens.ids("minilm", "encode")
        for tok in [try WordPieceTokenizer(vocabTxt: vocabPath), try XCTUnwrap(loadTokenizer(tokenizerJSON: jsonPath) as? WordPieceTokenizer)] {
            XCTAssertEqual(tok.vocabularySize, 30522)
            XCTAssertEqual([tok.clsTokenID, tok.sepTokenID, tok.unkTokenID, tok.padTokenID], [101, 102, 100, 0])
            assertIDs(ids, tok.encode, "MiniLM encode")
            assertIDs(goldens.ids("minilm", "with_specials"), tok.encodeWithSpecials, "MiniLM encodeWithSpecials")
            assertDecoded(goldens.strings("minilm", "decode"), ids, { tok.decode($0, skipSpecialTokens: true) }, "MiniLM decode")
        }
    }
}
