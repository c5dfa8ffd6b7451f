import Foundation
import XCTest
import TVPModels

final class TokenizerTestsSentencePiece: XCTestCase {
    let goldens = TokenizerGoldens.shared

    func testSyntheticLlamaStyleTokenizerMatchesHF() throws {
        let tok = try loadTokenizer(tokenizerJSON: tokenizerFixture("sentencepiece_bpe.tokenizer.json"))
        let sp = try XCTUnwrap(tok as? SentencePieceBPETokenizer)
        XCTAssertEqual([tok.unkTokenID, tok.bosTokenID, tok.eosTokenID], [0, 1, 2])
        XCTAssertNil(tok.padTokenID)
        XCTAssertTrue(sp.byteFallback)
        XCTAssertEqual(sp.decodeStripLeft, 1)
        XCTAssertEqual(tok.token(forID: 3 + 0x41), "<0x41>")
        let ids = goldens.ids("sentencepiece_bpe", "encode")
        assertIDs(ids, tok.encode, "encode")
        assertIDs(goldens.ids("sentencepiece_bpe", "with_specials"), tok.encodeWithSpecials, "encodeWithSpecials")
        assertDecoded(goldens.strings("sentencepiece_bpe", "decode"), ids, { tok.decode($0) }, "decode")
        // Byte fallback: an emoji the vocabulary lacks is its four UTF-8 bytes.
        XCTAssertNil(tok.id(forToken: "🦊"))
        XCTAssertEqual(tok.encode("🦊").suffix(4), [0xF0, 0x9F, 0xA6, 0x8A].map { 3 + $0 })
        XCTAssertEqual(tok.decode([1] + tok.encode("hé 🦊"), skipSpecialTokens: true), "hé 🦊")
    }

    func testUnknownWithoutByteFallbackIsFused() throws {
        let tok = try SentencePieceBPETokenizer(vocabulary: ["<unk>": 0, "▁": 1, "a": 2, "▁a": 3], merges: [("▁", "a")],
                                                byteFallback: false, fuseUnknown: true, unk: 0)
        XCTAssertEqual(tok.encode("a ÿÿ a"), [3, 1, 0, 3])
        let unfused = try SentencePieceBPETokenizer(vocabulary: ["<unk>": 0, "▁": 1, "a": 2, "▁a": 3], merges: [("▁", "a")],
                                                    byteFallback: false, fuseUnknown: false, unk: 0)
        XCTAssertEqual(unfused.encode("a ÿÿ a"), [3, 1, 0, 0, 3])
    }

    func testBadFilesAreFormatErrors() throws {
        assertFormatError(try SentencePieceBPETokenizer(vocabulary: ["a": 0, "b": 1], merges: [("a", "b")]),
                          mentions: ["merge #0", "a b"])
        let url = try makeTemporaryFolder().appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8).write(to: url)
        assertFormatError(try loadTokenizer(tokenizerJSON: url.path), mentions: ["Unigram", "not supported"])
        try Data("{".utf8).write(to: url)
        assertFormatError(try loadTokenizer(tokenizerJSON: url.path), mentions: ["not valid JSON"])
    }
}
