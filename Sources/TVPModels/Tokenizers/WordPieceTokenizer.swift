import Foundation
import TVPFormats
import TVPTensor

/// BERT WordPiece (all-MiniLM-L6-v2 and other uncased BERTs): added tokens matched first, then
/// `BertNormalizer`, then greedy longest-match-first over each word with "##" marking
/// continuations; a word longer than `maxInputCharsPerWord` or with an unmatched remainder becomes
/// `[UNK]`. `encodeWithSpecials` frames the ids with `[CLS] … [SEP]`.
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    public let normalizer: BertNormalizer
    public let continuingSubwordPrefix: String
    public let maxInputCharsPerWord: Int
    public let template: SpecialTokenTemplate
    public let unkTokenID: Int?, padTokenID: Int?
    public let clsTokenID: Int?, sepTokenID: Int?, maskTokenID: Int?
    public var bosTokenID: Int? { nil }
    public var eosTokenID: Int? { nil }
    public let specialTokenIDs: Set<Int>
    public let vocab: Vocabulary
    private let unk: Int
    private let added: AddedTokenMatcher
    private let cache = WordCache()

    /// - Parameters:
    ///   - vocabulary: token → id.
    ///   - addedTokens: matched whole in raw text; nil means BERT's five special tokens that the vocabulary has.
    ///   - template: nil means `[CLS] $A [SEP]` when both tokens exist.
    public init(vocabulary: [String: Int], normalizer: BertNormalizer = BertNormalizer(), unkToken: String = "[UNK]",
                continuingSubwordPrefix: String = "##", maxInputCharsPerWord: Int = 100,
                addedTokens: [AddedToken]? = nil, template: SpecialTokenTemplate? = nil,
                source: String = "WordPiece") throws {
        let added = addedTokens ?? ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { t in
            vocabulary[t].map { AddedToken(content: t, id: $0, isSpecial: true) }
        }
        vocab = Vocabulary(ids: vocabulary, added: added)
        guard let unk = vocab.ids[unkToken] else { throw FormatError(source, "the unknown token \"\(unkToken)\" is not in the vocabulary") }
        self.unk = unk
        unkTokenID = unk
        padTokenID = vocab.ids["[PAD]"]
        clsTokenID = vocab.ids["[CLS]"]
        sepTokenID = vocab.ids["[SEP]"]
        maskTokenID = vocab.ids["[MASK]"]
        if let template {
            for id in template.prefix + template.suffix where vocab.token(id) == nil {
                throw FormatError(source, "template id \(id) is not in the vocabulary of \(vocab.count)")
            }
            self.template = template
        } else if let cls = clsTokenID, let sep = sepTokenID {
            self.template = SpecialTokenTemplate(prefix: [cls], suffix: [sep])
        } else {
            self.template = SpecialTokenTemplate()
        }
        self.normalizer = normalizer
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.added = AddedTokenMatcher(tokens: added)
        specialTokenIDs = Set(added.filter(\.isSpecial).map(\.id))
    }

    /// From a BERT `vocab.txt` (one token per line, id = line number; trailing whitespace trimmed,
    /// a repeated token keeps its last line, as HF does).
    public convenience init(vocabTxt path: String, lowercase: Bool = true) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path, "cannot read the vocab.txt file") }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        var vocabulary: [String: Int] = [:]
        for (i, line) in lines.enumerated() {
            var t = Substring(line)
            while let last = t.unicodeScalars.last, last.properties.isWhitespace { t.unicodeScalars.removeLast() }
            vocabulary[String(t)] = i
        }
        try self.init(vocabulary: vocabulary, normalizer: BertNormalizer(lowercase: lowercase), source: path)
    }

    /// From a HF `tokenizer.json` with a WordPiece model, BertNormalizer and BertPreTokenizer.
    public convenience init(tokenizerJSON path: String) throws { try self.init(json: TokenizerJSON(path: path)) }

    convenience init(json: TokenizerJSON) throws {
        let file = json.path
        guard json.modelType == "WordPiece" else { throw FormatError(file, "model.type is \(json.modelType ?? "null"), WordPiece expected") }
        var normalizer = BertNormalizer()
        for p in json.parts("normalizer") {
            guard p["type"] as? String == "BertNormalizer" else { throw FormatError(file, "normalizer \(p["type"] ?? "null") is not supported (BertNormalizer)") }
            let lowercase = p["lowercase"] as? Bool ?? true
            normalizer = BertNormalizer(cleanText: p["clean_text"] as? Bool ?? true, handleChineseChars: p["handle_chinese_chars"] as? Bool ?? true,
                                        stripAccents: p["strip_accents"] as? Bool, lowercase: lowercase)
        }
        for p in json.parts("pre_tokenizer") where p["type"] as? String != "BertPreTokenizer" {
            throw FormatError(file, "pre_tokenizer \(p["type"] ?? "null") is not supported (BertPreTokenizer)")
        }
        let vocabulary = try json.vocabulary(), added = try json.addedTokens()
        try self.init(vocabulary: vocabulary, normalizer: normalizer, unkToken: json.model["unk_token"] as? String ?? "[UNK]",
                      continuingSubwordPrefix: json.model["continuing_subword_prefix"] as? String ?? "##",
                      maxInputCharsPerWord: (json.model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100,
                      addedTokens: added, template: json.template(vocab: Vocabulary(ids: vocabulary, added: added).ids), source: file)
    }

    public func encode(_ text: String) -> [Int] {
        let s = Array(text.unicodeScalars)
        return added.encode(s) { range in
            BertNormalizer.split(normalizer.normalize(s[range])).flatMap { word in
                var view = String.UnicodeScalarView()
                view.append(contentsOf: word)
                return cache.ids(String(view)) { wordPiece(Array(word)) }
            }
        }
    }

    /// Greedy longest-match-first pieces of one word.
    private func wordPiece(_ word: [Unicode.Scalar]) -> [Int] {
        if word.count > maxInputCharsPerWord { return [unk] }
        var pieces: [Int] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int?
            while start < end {
                var candidate = start > 0 ? continuingSubwordPrefix : ""
                candidate.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocab.ids[candidate] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unk] }
            pieces.append(id)
            start = end
        }
        return pieces
    }

    public func encodeWithSpecials(_ text: String) -> [Int] { template.apply(encode(text)) }

    /// HF's WordPiece decoder: pieces joined by spaces, "##" continuations glued on, and the
    /// per-token cleanup (" ." → ".", " ?", " !", " ,", " n't", " 'm", " 's", " 've", " 're").
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var text = ""
        var first = true
        for id in ids {
            guard var t = vocab.token(id) else { continue }
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            if !first {
                if hasScalarPrefix(t, continuingSubwordPrefix) {
                    t = String(t.unicodeScalars.dropFirst(continuingSubwordPrefix.unicodeScalars.count))
                } else {
                    t = " " + t
                }
            }
            first = false
            for (dirty, clean) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                                   (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
                t = replacingScalars(t, dirty, with: clean)
            }
            text += t
        }
        return text
    }
}
