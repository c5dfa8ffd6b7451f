import Foundation
import TVPModels
import TVPTestSupport
import XCTest

final class TokenizerTestsCLIP: XCTestCase {
    let goldens = TokenizerGoldens.shared

    func testTinyVocabMatchesOpenCLIP() throws {
        let tok = try CLIPTokenizer(bpeVocabPath: tokenizerFixture("clip_bpe_tiny.txt.gz"))
        XCTAssertEqual(tok.vocabularySize, 512 + 400 + 2)
        XCTAssertEqual([tok.startOfTextID, tok.endOfTextID], [912, 913])
        let ids = goldens.ids("clip_tiny", "encode")
        assertIDs(ids, tok.encode, "encode")
        XCTAssertEqual(tok.tokenize(goldens.texts, contextLength: 16), goldens.ids("clip_tiny", "tokenize16"))
        assertDecoded(goldens.strings("clip_tiny", "decode"), ids, { tok.decode($0) }, "decode")
        XCTAssertEqual(tok.encode("<start_of_text>a"), [912, tok.id(forToken: "a</w>")!])
        XCTAssertEqual(tok.decode(tok.encodeWithSpecials("a b"), skipSpecialTokens: true), "a b ")
    }

    func testTextCleaner() {
        XCTAssertEqual(CLIPTextCleaner.clean("  \u{201C}Fine\u{201D} \u{FB01}sh &amp;amp; ＡＢ\t\n ΟΔΟΣ  "), "\"fine\" fish & ab οδος")
        XCTAssertEqual(CLIPTextCleaner.clean("e\u{301}\u{1B}[31mred\u{1B}[0m"), "\u{E9}red")
        XCTAssertEqual(CLIPTextCleaner.clean("<b>&amp;amp;</b>"), "<b>&</b>")  // '<' present: ftfy leaves entities, CLIP unescapes twice
    }

    func testRealVocabMatchesOpenCLIP() throws {
        let tok = try CLIPTokenizer(bpeVocabPath: try realAsset("clip-bpe-vocab", "bpe_simple_vocab_16e6.txt.gz"))
        XCTAssertEqual(tok.vocabularySize, 49408)
        XCTAssertEqual([tok.startOfTextID, tok.endOfTextID], [49406, 49407])
        assertIDs(goldens.ids("clip", "encode"), tok.encode, "encode")
        XCTAssertEqual(tok.tokenize(goldens.texts), goldens.ids("clip", "tokenize77"))
        let openAI = try CLIPTokenizer(bpeVocabPath: try realAsset("clip-bpe-vocab", "bpe_simple_vocab_16e6.txt.gz"),
                                       specialTokens: CLIPTokenizer.openAISpecialTokens)
        XCTAssertEqual(openAI.encode("<|startoftext|>a photo<|endoftext|>"), [49406] + tok.encode("a photo") + [49407])
    }
}
