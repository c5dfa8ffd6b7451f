import Foundation
import TVPFormats
import TVPTensor

/// SentencePiece-style BPE as LLaMA/Vicuna `tokenizer.json`s write it: normalizer
/// `Prepend("▁")` + `Replace(" ", "▁")`, no pre-tokenizer (each stretch of text between added
/// tokens is one word), BPE over Unicode scalars with `<0xXX>` byte-fallback tokens for scalars the
/// vocabulary lacks (else the unknown token, runs fused), and the decoder chain
/// Replace("▁", " ") → ByteFallback → Fuse → Strip(" ", 1, 0).
public final class SentencePieceBPETokenizer: Tokenizer, @unchecked Sendable {
    public let template: SpecialTokenTemplate
    public let bosTokenID: Int?, eosTokenID: Int?, padTokenID: Int?, unkTokenID: Int?
    public let specialTokenIDs: Set<Int>
    /// The word-boundary marker ("▁").
    public let spaceMarker: String
    /// Leading spaces removed from decoded text (the Strip decoder's `start`).
    public let decodeStripLeft: Int
    public let byteFallback: Bool, fuseUnknown: Bool
    public let vocab: Vocabulary
    private let merges: BPEMergeTable
    private let scalarIDs: [UInt32: Int]
    /// id of `<0xXX>` per byte, or -1.
    private let byteIDs: [Int]
    /// byte value per `<0xXX>` token id.
    private let byteOfID: [Int: UInt8]
    private let added: AddedTokenMatcher
    private let cache = WordCache()

    public init(vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken] = [],
                template: SpecialTokenTemplate = SpecialTokenTemplate(), spaceMarker: String = "▁",
                byteFallback: Bool = true, fuseUnknown: Bool = true, decodeStripLeft: Int = 1,
                bos: Int? = nil, eos: Int? = nil, pad: Int? = nil, unk: Int? = nil,
                source: String = "SentencePiece BPE") throws {
        vocab = Vocabulary(ids: vocabulary, added: addedTokens)
        self.merges = try vocab.mergeTable(merges, file: source)
        var scalarIDs: [UInt32: Int] = [:]
        for (t, id) in vocabulary {
            let scalars = t.unicodeScalars
            if scalars.count == 1 { scalarIDs[scalars.first!.value] = id }
        }
        self.scalarIDs = scalarIDs
        var byteIDs = [Int](repeating: -1, count: 256), byteOfID: [Int: UInt8] = [:]
        for b in 0..<256 {
            if let id = vocabulary[String(format: "<0x%02X>", b)] { byteIDs[b] = id; byteOfID[id] = UInt8(b) }
        }
        self.byteIDs = byteIDs
        self.byteOfID = byteOfID
        for (name, id) in [("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)] {
            if let id, vocab.token(id) == nil { throw FormatError(source, "\(name) id \(id) is not in the vocabulary of \(vocab.count)") }
        }
        for id in template.prefix + template.suffix where vocab.token(id) == nil {
            throw FormatError(source, "template id \(id) is not in the vocabulary of \(vocab.count)")
        }
        added = AddedTokenMatcher(tokens: addedTokens)
        specialTokenIDs = Set(addedTokens.filter(\.isSpecial).map(\.id))
        self.template = template
        self.spaceMarker = spaceMarker
        self.byteFallback = byteFallback
        self.fuseUnknown = fuseUnknown
        self.decodeStripLeft = decodeStripLeft
        bosTokenID = bos; eosTokenID = eos; padTokenID = pad; unkTokenID = unk
    }

    public func encode(_ text: String) -> [Int] {
        let s = Array(text.unicodeScalars)
        return added.encode(s) { range in
            // Normalize: prepend the marker, then every plain space becomes the marker.
            var word = spaceMarker
            for scalar in s[range] {
                if scalar == " " { word += spaceMarker } else { word.unicodeScalars.append(scalar) }
            }
            return cache.ids(word) { bpe(word) }
        }
    }

    private func bpe(_ word: String) -> [Int] {
        var symbols: [Int] = []
        var pendingUnknown = false
        for scalar in word.unicodeScalars {
            if let id = scalarIDs[scalar.value] { symbols.append(id); pendingUnknown = false; continue }
            if byteFallback {
                let ids = String(scalar).utf8.map { byteIDs[Int($0)] }
                if !ids.contains(-1) { symbols += ids; pendingUnknown = false; continue }
            }
            guard let unk = unkTokenID else { continue }
            if !(fuseUnknown && pendingUnknown) { symbols.append(unk) }
            pendingUnknown = true
        }
        return merges.apply(to: symbols)
    }

    public func encodeWithSpecials(_ text: String) -> [Int] { template.apply(encode(text)) }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var text = "", bytes: [UInt8] = []
        func flush() {
            guard !bytes.isEmpty else { return }
            if let s = String(validating: bytes, as: UTF8.self) { text += s } else { text += String(repeating: "\u{FFFD}", count: bytes.count) }
            bytes.removeAll()
        }
        for id in ids {
            guard let t = vocab.token(id) else { continue }
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            if let b = byteOfID[id] { bytes.append(b); continue }
            flush()
            text += replacingScalars(t, spaceMarker, with: " ")
        }
        flush()
        var scalars = Substring(text).unicodeScalars
        var dropped = 0
        while dropped < decodeStripLeft && scalars.first == " " { scalars.removeFirst(); dropped += 1 }
        return String(scalars)
    }
}

extension SentencePieceBPETokenizer {
    /// From a HF `tokenizer.json` in LLaMA's layout (see the type's description).
    public convenience init(tokenizerJSON path: String) throws { try self.init(json: TokenizerJSON(path: path)) }

    convenience init(json: TokenizerJSON) throws {
        let file = json.path
        guard json.modelType == "BPE" else { throw FormatError(file, "model.type is \(json.modelType ?? "null"), BPE expected") }
        guard json.parts("pre_tokenizer").isEmpty else {
            throw FormatError(file, "SentencePiece-style BPE expects no pre_tokenizer (Metaspace is not supported); found \(json.parts("pre_tokenizer").compactMap { $0["type"] })")
        }
        var marker: String?
        var replaced = false
        for p in json.parts("normalizer") {
            switch p["type"] as? String {
            case "Prepend": marker = p["prepend"] as? String
            case "Replace":
                guard (p["pattern"] as? [String: Any])?["String"] as? String == " ", let content = p["content"] as? String else {
                    throw FormatError(file, "only Replace(\" \", marker) is supported as a normalizer step")
                }
                if marker != nil && marker != content { throw FormatError(file, "Prepend and Replace use different markers") }
                marker = marker ?? content
                replaced = true
            case let t: throw FormatError(file, "normalizer \(t ?? "null") is not supported (Prepend, Replace)")
            }
        }
        guard let marker, replaced else { throw FormatError(file, "normalizer Prepend(\"▁\") + Replace(\" \", \"▁\") expected") }
        var strip = 0
        for d in json.parts("decoder") where d["type"] as? String == "Strip" { strip = (d["start"] as? NSNumber)?.intValue ?? 0 }
        let vocabulary = try json.vocabulary(), added = try json.addedTokens()
        let all = Vocabulary(ids: vocabulary, added: added)
        func named(_ names: [String]) -> Int? { TokenizerJSON.firstID(of: names, vocab: vocabulary, added: added) }
        try self.init(vocabulary: vocabulary, merges: json.merges(), addedTokens: added, template: json.template(vocab: all.ids),
                      spaceMarker: marker, byteFallback: json.model["byte_fallback"] as? Bool ?? false,
                      fuseUnknown: json.model["fuse_unk"] as? Bool ?? false, decodeStripLeft: strip,
                      bos: named(["<s>"]), eos: named(["</s>"]), pad: named(["<pad>"]),
                      unk: (json.model["unk_token"] as? String).flatMap { all.ids[$0] }, source: file)
    }
}
