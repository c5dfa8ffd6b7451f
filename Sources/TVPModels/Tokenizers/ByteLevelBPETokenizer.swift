import Foundation
import TVPFormats
import TVPTensor

/// Byte-level BPE (GPT-2, SmolLM2, StarCoder): added tokens are matched in the raw text first; the
/// rest is pre-tokenized by GPT-2's regex (optionally with digits isolated), each piece's UTF-8 bytes
/// are mapped to GPT-2's byte alphabet and merged by rank. Decoding maps the characters back to bytes.
public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    public let preTokenization: ByteLevelPreTokenization
    public let template: SpecialTokenTemplate
    public let bosTokenID: Int?, eosTokenID: Int?, padTokenID: Int?, unkTokenID: Int?
    /// Ids of added tokens, and of the special ones among them.
    public let addedTokenIDs: Set<Int>, specialTokenIDs: Set<Int>
    /// HF `ignore_merges`: a piece that is itself a vocabulary token is emitted whole.
    public let ignoreMerges: Bool
    public let vocab: Vocabulary
    private let merges: BPEMergeTable
    /// Vocabulary id of each byte's character, or -1.
    private let byteIDs: [Int]
    private let missingByteID: Int?
    private let added: AddedTokenMatcher
    private let cache = WordCache()

    /// - Parameters:
    ///   - vocabulary: token string → id, in GPT-2's byte alphabet.
    ///   - unknownForMissingBytes: `unk` stands for bytes whose character the vocabulary lacks;
    ///     otherwise (or without `unk`) such bytes are dropped.
    ///   - merges: token pairs in rank order.
    ///   - addedTokens: tokens matched whole in raw text (e.g. `<|im_start|>`).
    ///   - source: the file named in errors.
    public init(vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken] = [],
                preTokenization: ByteLevelPreTokenization, template: SpecialTokenTemplate = SpecialTokenTemplate(),
                bos: Int? = nil, eos: Int? = nil, pad: Int? = nil, unk: Int? = nil,
                ignoreMerges: Bool = false, unknownForMissingBytes: Bool = true, source: String = "byte-level BPE") throws {
        vocab = Vocabulary(ids: vocabulary, added: addedTokens)
        // Some vocabularies lack a few byte characters (SmolLM2 has no token for most control bytes):
        // those bytes become `unk`, or are dropped without one, as HF's BPE model does.
        byteIDs = ByteLevelAlphabet.characters.map { vocabulary[String($0)] ?? -1 }
        missingByteID = unknownForMissingBytes ? unk : nil
        self.merges = try vocab.mergeTable(merges, file: source)
        added = AddedTokenMatcher(tokens: addedTokens)
        addedTokenIDs = Set(addedTokens.map(\.id))
        specialTokenIDs = Set(addedTokens.filter(\.isSpecial).map(\.id))
        for (name, id) in [("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)] {
            if let id, vocab.token(id) == nil { throw FormatError(source, "\(name) id \(id) is not in the vocabulary of \(vocab.count)") }
        }
        for id in template.prefix + template.suffix where vocab.token(id) == nil {
            throw FormatError(source, "template id \(id) is not in the vocabulary of \(vocab.count)")
        }
        self.preTokenization = preTokenization
        self.template = template
        bosTokenID = bos; eosTokenID = eos; padTokenID = pad; unkTokenID = unk
        self.ignoreMerges = ignoreMerges
    }

    public func encode(_ text: String) -> [Int] {
        let s = Array(text.unicodeScalars)
        let c = scalarClasses(s)
        var pieces: [Range<Int>] = []
        return added.encode(s) { range in
            pieces.removeAll(keepingCapacity: true)
            preTokenization.split(s, c, range, into: &pieces)
            return pieces.flatMap { p in
                var word = String.UnicodeScalarView()
                word.append(contentsOf: s[p])
                return cache.ids(String(word)) { bpe(String(word)) }
            }
        }
    }

    private func bpe(_ word: String) -> [Int] {
        let bytes = Array(word.utf8)
        if ignoreMerges {
            let mapped = String(bytes.map { ByteLevelAlphabet.characters[Int($0)] })
            if let id = vocab.ids[mapped] { return [id] }
        }
        var symbols: [Int] = []
        symbols.reserveCapacity(bytes.count)
        for b in bytes {
            let id = byteIDs[Int(b)]
            if id >= 0 { symbols.append(id) } else if let unk = missingByteID { symbols.append(unk) }
        }
        return merges.apply(to: symbols)
    }

    public func encodeWithSpecials(_ text: String) -> [Int] { template.apply(encode(text)) }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let t = vocab.token(id) else { continue }
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            if addedTokenIDs.contains(id) { bytes += t.utf8 } else { ByteLevelAlphabet.decode(t, into: &bytes) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ByteLevelBPETokenizer {
    /// From GGUF metadata (`tokenizer.ggml.model` "gpt2"): tokens, merges, token types (3 control
    /// and 4 user-defined are matched whole; control ones are special), bos/eos/unk/padding ids,
    /// `add_bos_token`/`add_eos_token`, and `tokenizer.ggml.pre` for the pre-tokenizer. Bytes without a
    /// token (SmolLM2 lacks most control bytes) are dropped, as HF's converted tokenizer does.
    public convenience init(gguf: GGUFFile) throws {
        let m = gguf.metadata, file = gguf.path
        guard m["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw FormatError(file, "tokenizer.ggml.model is \(m["tokenizer.ggml.model"]?.string ?? "absent"), \"gpt2\" (byte-level BPE) expected")
        }
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings else { throw FormatError(file, "tokenizer.ggml.tokens is missing or not strings") }
        guard let mergeLines = m["tokenizer.ggml.merges"]?.strings else { throw FormatError(file, "tokenizer.ggml.merges is missing or not strings") }
        let types = m["tokenizer.ggml.token_type"]?.ints ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw FormatError(file, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let merges = try mergeLines.enumerated().map { i, line -> (String, String) in
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw FormatError(file, "tokenizer.ggml.merges[\(i)] \"\(line)\" is not two tokens") }
            return (String(parts[0]), String(parts[1]))
        }
        let pre = m["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenization: ByteLevelPreTokenization
        switch pre {
        case "default", "gpt2", "gpt-2", "mpt", "olmo", "jais": preTokenization = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva": preTokenization = .gpt2IndividualDigits
        default: throw FormatError(file, "tokenizer.ggml.pre \"\(pre)\" is not supported (gpt2-regex families only: gpt2, smollm, starcoder, …)")
        }
        var vocabulary: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { vocabulary[t] = i }  // last id of a repeated string, as llama.cpp
        var added: [AddedToken] = []
        for (i, type) in types.enumerated() where type == 3 || type == 4 {
            added.append(AddedToken(content: tokens[i], id: i, isSpecial: type == 3))
        }
        func id(_ key: String) -> Int? { m["tokenizer.ggml.\(key)"]?.int }
        let bos = id("bos_token_id"), eos = id("eos_token_id")
        var template = SpecialTokenTemplate()
        if m["tokenizer.ggml.add_bos_token"]?.bool == true, let bos { template.prefix = [bos] }
        if m["tokenizer.ggml.add_eos_token"]?.bool == true, let eos { template.suffix = [eos] }
        try self.init(vocabulary: vocabulary, merges: merges, addedTokens: added, preTokenization: preTokenization,
                      template: template, bos: bos, eos: eos, pad: id("padding_token_id"), unk: id("unknown_token_id"),
                      unknownForMissingBytes: false, source: file)
    }

    /// From a HF `tokenizer.json` with a BPE model and a ByteLevel pre-tokenizer (optionally after
    /// `Digits(individual_digits: true)`). bos/eos/pad are found
    /// by name (`<|endoftext|>`, `<s>`, `</s>`, `<|im_start|>`, …) since tokenizer.json does not name them.
    public convenience init(tokenizerJSON path: String) throws { try self.init(json: TokenizerJSON(path: path)) }

    convenience init(json: TokenizerJSON) throws {
        let file = json.path
        guard json.modelType == "BPE" else { throw FormatError(file, "model.type is \(json.modelType ?? "null"), BPE expected") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where !(json.model[key] is NSNull || json.model[key] == nil) {
            throw FormatError(file, "model.\(key) is not supported for byte-level BPE")
        }
        var digits = false, byteLevel = false
        for p in json.parts("pre_tokenizer") {
            switch p["type"] as? String {
            case "Digits":
                guard p["individual_digits"] as? Bool == true else { throw FormatError(file, "Digits pre-tokenizer without individual_digits is not supported") }
                digits = true
            case "ByteLevel":
                guard p["use_regex"] as? Bool ?? true else { throw FormatError(file, "ByteLevel with use_regex false is not supported") }
                guard !(p["add_prefix_space"] as? Bool ?? false) else { throw FormatError(file, "ByteLevel with add_prefix_space is not supported") }
                byteLevel = true
            case let t:
                throw FormatError(file, "pre_tokenizer \(t ?? "null") is not supported with byte-level BPE (Digits, ByteLevel)")
            }
        }
        guard byteLevel else { throw FormatError(file, "no ByteLevel pre-tokenizer") }
        if !json.parts("normalizer").isEmpty { throw FormatError(file, "normalizers are not supported with byte-level BPE") }
        let vocabulary = try json.vocabulary(), added = try json.addedTokens()
        let all = Vocabulary(ids: vocabulary, added: added)
        func named(_ names: [String]) -> Int? { TokenizerJSON.firstID(of: names, vocab: vocabulary, added: added) }
        let unk = (json.model["unk_token"] as? String).flatMap { all.ids[$0] }
        try self.init(vocabulary: vocabulary, merges: json.merges(), addedTokens: added,
                      preTokenization: digits ? .gpt2IndividualDigits : .gpt2, template: json.template(vocab: all.ids),
                      bos: named(["<s>", "<|begin_of_text|>", "<|startoftext|>", "<|im_start|>"]),
                      eos: named(["</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"]),
                      pad: named(["<pad>", "<|padding|>", "[PAD]"]), unk: unk,
                      ignoreMerges: json.model["ignore_merges"] as? Bool ?? false, source: file)
    }
}
