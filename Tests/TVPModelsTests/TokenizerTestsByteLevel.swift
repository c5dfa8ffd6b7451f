import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

final class TokenizerTestsByteLevel: XCTestCase {
    let goldens = TokenizerGoldens.shared

    /// The obviously-correct BPE of GPT-2/CLIP: merge every occurrence of the best-ranked bigram, repeat.
    func referenceMerge(_ word: [Int], _ table: BPEMergeTable) -> [Int] {
        var w = word
        while w.count > 1 {
            var best: (rank: Int, merged: Int, left: Int, right: Int)?
            for i in 0..<(w.count - 1) {
                if let m = table.merge(w[i], w[i + 1]), best == nil || m.rank < best!.rank { best = (m.rank, m.merged, w[i], w[i + 1]) }
            }
            guard let b = best else { break }
            var next: [Int] = []
            var i = 0
            while i < w.count {
                if i + 1 < w.count && w[i] == b.left && w[i + 1] == b.right { next.append(b.merged); i += 2 } else { next.append(w[i]); i += 1 }
            }
            w = next
        }
        return w
    }

    func testMergeTableMatchesReferenceLoop() {
        // A trained-style merge list over symbols 0…3: each merged symbol is new and merges only
        // after the merges that made its parts.
        var merges: [(left: Int, right: Int, merged: Int)] = []
        var next = 4
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let l = Int.random(in: 0..<next, using: &rng), r = Int.random(in: 0..<next, using: &rng)
            merges.append((l, r, next)); next += 1
        }
        let table = BPEMergeTable(merges: merges)
        for _ in 0..<300 {
            let word = (0..<Int.random(in: 0...24, using: &rng)).map { _ in Int.random(in: 0..<4, using: &rng) }
            XCTAssertEqual(table.apply(to: word), referenceMerge(word, table), "word \(word)")
        }
        // Overlapping pair: "aaa" → "aa a"; tie on rank goes left.
        let aa = BPEMergeTable(merges: [(0, 0, 1)])
        XCTAssertEqual(aa.apply(to: [0, 0, 0]), [1, 0])
        XCTAssertEqual(aa.apply(to: [0, 0, 0, 0]), [1, 1])
    }

    func testSyntheticTokenizerJSONMatchesHF() throws {
        let tok = try loadTokenizer(tokenizerJSON: tokenizerFixture("bytelevel_bpe.tokenizer.json"))
        let bl = try XCTUnwrap(tok as? ByteLevelBPETokenizer)
        XCTAssertEqual(bl.preTokenization, .gpt2IndividualDigits)
        XCTAssertEqual(bl.template, SpecialTokenTemplate(prefix: [1], suffix: [2]))
        XCTAssertEqual(tok.vocabularySize, 521)
        XCTAssertEqual(tok.eosTokenID, 0)  // <|endoftext|>
        assertIDs(goldens.ids("bytelevel_bpe", "encode"), tok.encode, "encode")
        assertIDs(goldens.ids("bytelevel_bpe", "with_specials"), tok.encodeWithSpecials, "encodeWithSpecials")
        // Byte-level BPE is lossless.
        for text in goldens.texts { XCTAssertEqual(tok.decode(tok.encode(text)), text) }
        XCTAssertEqual(tok.decode(tok.encodeWithSpecials("Hi"), skipSpecialTokens: true), "Hi")
        XCTAssertEqual(tok.decode(tok.encodeWithSpecials("Hi")), "<|im_start|>Hi<|im_end|>")
    }

    func testGPT2PreTokenizationThroughPublicInit() throws {
        let json = try TokenizerJSON(path: tokenizerFixture("bytelevel_bpe.tokenizer.json"))
        let tok = try ByteLevelBPETokenizer(vocabulary: json.vocabulary(), merges: json.merges(), addedTokens: json.addedTokens(),
                                            preTokenization: .gpt2)
        assertIDs(goldens.ids("bytelevel_bpe_gpt2", "encode"), tok.encode, "gpt2 encode")
        XCTAssertEqual(tok.encodeWithSpecials("a b"), tok.encode("a b"))
    }

    func testSyntheticGGUFMatchesTokenizerJSON() throws {
        let json = try TokenizerJSON(path: tokenizerFixture("bytelevel_bpe.tokenizer.json"))
        let vocab = try json.vocabulary()
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, id) in vocab { tokens[id] = t }
        let merges = try json.merges().map { "\($0.0) \($0.1)" }
        let types = tokens.indices.map { $0 < 3 ? 3 : 1 }
        let url = try makeTemporaryFolder().appendingPathComponent("tok.gguf")
        try writeTokenizerGGUF(url.path, pre: "smollm", tokens: tokens, merges: merges, types: types, bos: 1, eos: 2, addBOS: true)
        let tok = try ByteLevelBPETokenizer(gguf: GGUFFile(path: url.path))
        XCTAssertEqual(tok.bosTokenID, 1)
        XCTAssertEqual(tok.eosTokenID, 2)
        XCTAssertEqual(tok.template, SpecialTokenTemplate(prefix: [1]))
        assertIDs(goldens.ids("bytelevel_bpe", "encode"), tok.encode, "GGUF encode")
        try writeTokenizerGGUF(url.path, pre: "llama-bpe", tokens: tokens, merges: merges, types: types, bos: 1, eos: 2, addBOS: false)
        assertFormatError(try ByteLevelBPETokenizer(gguf: GGUFFile(path: url.path)), mentions: ["llama-bpe", "not supported"])
        try writeTokenizerGGUF(url.path, pre: "gpt2", tokens: tokens, merges: ["Ġ zzz"] + merges, types: types, bos: 1, eos: 2, addBOS: false)
        assertFormatError(try ByteLevelBPETokenizer(gguf: GGUFFile(path: url.path)), mentions: ["merge #0", "Ġ zzz"])
    }

    func testSmolLM2RealGGUF() throws {
        let path = try realAsset("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
        let tok = try ByteLevelBPETokenizer(gguf: GGUFFile(path: path))
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.preTokenization, .gpt2IndividualDigits)
        XCTAssertEqual([tok.bosTokenID, tok.eosTokenID, tok.unkTokenID, tok.padTokenID], [1, 2, 0, 2])
        XCTAssertEqual(tok.template, SpecialTokenTemplate())  // add_bos_token is false
        let ids = goldens.ids("smollm2", "encode")
        assertIDs(ids, tok.encode, "SmolLM2 encode")
        assertDecoded(goldens.strings("smollm2", "decode"), ids, { tok.decode($0) }, "SmolLM2 decode")
        XCTAssertEqual(tok.encode("<|im_start|>user\n"), [1, 4093, 198])
    }
}

/// A GGUF v3 file holding only tokenizer metadata.
func writeTokenizerGGUF(_ path: String, pre: String, tokens: [String], merges: [String], types: [Int],
                        bos: Int, eos: Int, addBOS: Bool) throws {
    var b = ByteBuilder()
    func string(_ s: String) { b.u64(UInt64(s.utf8.count)); b.raw(Array(s.utf8)) }
    b.raw(Array("GGUF".utf8)); b.u32(3); b.u64(0); b.u64(8)
    string("tokenizer.ggml.model"); b.u32(8); string("gpt2")
    string("tokenizer.ggml.pre"); b.u32(8); string(pre)
    string("tokenizer.ggml.tokens"); b.u32(9); b.u32(8); b.u64(UInt64(tokens.count)); tokens.forEach(string)
    string("tokenizer.ggml.merges"); b.u32(9); b.u32(8); b.u64(UInt64(merges.count)); merges.forEach(string)
    string("tokenizer.ggml.token_type"); b.u32(9); b.u32(5); b.u64(UInt64(types.count)); types.forEach { b.u32(UInt32($0)) }
    string("tokenizer.ggml.bos_token_id"); b.u32(4); b.u32(UInt32(bos))
    string("tokenizer.ggml.eos_token_id"); b.u32(4); b.u32(UInt32(eos))
    string("tokenizer.ggml.add_bos_token"); b.u32(7); b.u8(addBOS ? 1 : 0)
    b.pad(to: 32)
    try Data(b.bytes).write(to: URL(fileURLWithPath: path))
}
