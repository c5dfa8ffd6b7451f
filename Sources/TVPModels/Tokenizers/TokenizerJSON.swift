import Foundation
import TVPFormats

/// The parts of a Hugging Face `tokenizer.json` the tvp tokenizers read, as plain JSON values
/// (`JSONSerialization`), with typed accessors that throw `FormatError`s naming the file and key.
public struct TokenizerJSON {
    public let path: String
    /// The whole document.
    public let root: [String: Any]
    /// `model` (type BPE or WordPiece, vocab, merges, …).
    public let model: [String: Any]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path, "cannot read the tokenizer.json file")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw FormatError(path, "not valid JSON: \(error.localizedDescription)")
        }
        guard let root = object as? [String: Any] else { throw FormatError(path, "top level is not a JSON object") }
        guard let model = root["model"] as? [String: Any] else { throw FormatError(path, "no \"model\" object") }
        self.path = path
        self.root = root
        self.model = model
    }

    /// `model.type` ("BPE", "WordPiece", …).
    public var modelType: String? { model["type"] as? String }

    /// `model.vocab` as token → id.
    public func vocabulary() throws -> [String: Int] {
        guard let raw = model["vocab"] as? [String: Any] else { throw FormatError(path, "model.vocab is not an object of token → id") }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(raw.count)
        for (token, value) in raw {
            guard let id = (value as? NSNumber)?.intValue, id >= 0 else { throw FormatError(path, "model.vocab[\"\(token)\"] is not a non-negative id") }
            vocab[token] = id
        }
        return vocab
    }

    /// `model.merges`, either "a b" strings or ["a", "b"] pairs.
    public func merges() throws -> [(String, String)] {
        guard let raw = model["merges"] as? [Any] else { throw FormatError(path, "model.merges is missing") }
        var out: [(String, String)] = []
        out.reserveCapacity(raw.count)
        for (i, m) in raw.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw FormatError(path, "model.merges[\(i)] \"\(s)\" is not two tokens separated by one space") }
                out.append((String(parts[0]), String(parts[1])))
            } else if let pair = m as? [String], pair.count == 2 {
                out.append((pair[0], pair[1]))
            } else {
                throw FormatError(path, "model.merges[\(i)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return out
    }

    /// `added_tokens` (content, id, special).
    public func addedTokens() throws -> [AddedToken] {
        guard let raw = root["added_tokens"] as? [[String: Any]] else { return [] }
        return try raw.enumerated().map { i, t in
            guard let content = t["content"] as? String, let id = (t["id"] as? NSNumber)?.intValue else {
                throw FormatError(path, "added_tokens[\(i)] lacks content or id")
            }
            return AddedToken(content: content, id: id, isSpecial: (t["special"] as? Bool) ?? false)
        }
    }

    /// A component (`normalizer`, `pre_tokenizer`, `decoder`, `post_processor`) flattened into its
    /// list of typed parts: `Sequence`s are expanded, null gives [].
    public func parts(_ key: String) -> [[String: Any]] {
        func flatten(_ v: Any?) -> [[String: Any]] {
            guard let o = v as? [String: Any] else { return [] }
            if o["type"] as? String == "Sequence" {
                let children = (o["normalizers"] ?? o["pretokenizers"] ?? o["decoders"] ?? o["processors"]) as? [Any] ?? []
                return children.flatMap(flatten)
            }
            return [o]
        }
        return flatten(root[key])
    }

    /// The single-sequence template of `post_processor` (TemplateProcessing, BertProcessing,
    /// RobertaProcessing; ByteLevel and null add nothing), resolved to ids.
    public func template(vocab: [String: Int]) throws -> SpecialTokenTemplate {
        var template = SpecialTokenTemplate()
        for p in parts("post_processor") {
            switch p["type"] as? String {
            case "TemplateProcessing":
                guard let single = p["single"] as? [[String: Any]] else { throw FormatError(path, "TemplateProcessing without \"single\"") }
                let specials = p["special_tokens"] as? [String: [String: Any]] ?? [:]
                var seenSequence = false
                for item in single {
                    if item["Sequence"] != nil { seenSequence = true; continue }
                    guard let name = (item["SpecialToken"] as? [String: Any])?["id"] as? String else {
                        throw FormatError(path, "TemplateProcessing item \(item) is neither SpecialToken nor Sequence")
                    }
                    let ids = (specials[name]?["ids"] as? [NSNumber])?.map(\.intValue) ?? vocab[name].map { [$0] }
                    guard let ids else { throw FormatError(path, "template special token \"\(name)\" has no id") }
                    if seenSequence { template.suffix += ids } else { template.prefix += ids }
                }
            case "BertProcessing", "RobertaProcessing":
                guard let cls = p["cls"] as? [Any], cls.count == 2, let clsID = (cls[1] as? NSNumber)?.intValue,
                      let sep = p["sep"] as? [Any], sep.count == 2, let sepID = (sep[1] as? NSNumber)?.intValue else {
                    throw FormatError(path, "\(p["type"]!) needs cls and sep as [token, id]")
                }
                template.prefix.append(clsID)
                template.suffix.append(sepID)
            case "ByteLevel", nil:
                break
            case let other?:
                throw FormatError(path, "post_processor type \(other) is not supported (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel)")
            }
        }
        return template
    }

    /// The id of the first of `names` present in the added tokens or the vocabulary.
    static func firstID(of names: [String], vocab: [String: Int], added: [AddedToken]) -> Int? {
        for n in names {
            if let a = added.first(where: { $0.content == n }) { return a.id }
            if let id = vocab[n] { return id }
        }
        return nil
    }
}

/// Loads the tokenizer a `tokenizer.json` describes: byte-level BPE (ByteLevel pre-tokenizer),
/// SentencePiece-style BPE (Prepend/Replace normalizer or Metaspace, byte fallback) or WordPiece.
public func loadTokenizer(tokenizerJSON path: String) throws -> any Tokenizer {
    let json = try TokenizerJSON(path: path)
    switch json.modelType {
    case "WordPiece": return try WordPieceTokenizer(json: json)
    case "BPE":
        if json.parts("pre_tokenizer").contains(where: { $0["type"] as? String == "ByteLevel" }) {
            return try ByteLevelBPETokenizer(json: json)
        }
        return try SentencePieceBPETokenizer(json: json)
    case let other:
        throw FormatError(path, "model type \(other ?? "null") is not supported (BPE or WordPiece expected)")
    }
}
