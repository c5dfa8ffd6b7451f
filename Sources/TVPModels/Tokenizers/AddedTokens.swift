/// A token matched as a whole in raw text before normalization and BPE (HF "added token").
public struct AddedToken: Equatable, Sendable {
    public var content: String
    public var id: Int
    /// Special tokens (bos/eos/control) are left out by `decode(_:skipSpecialTokens: true)`.
    public var isSpecial: Bool

    public init(content: String, id: Int, isSpecial: Bool = true) {
        self.content = content
        self.id = id
        self.isSpecial = isSpecial
    }
}

/// Finds added/special tokens (e.g. `<|im_start|>`, `[CLS]`, `<s>`) in raw text before any
/// normalization or BPE, leftmost-longest like HF `tokenizers`' AddedVocabulary (Aho-Corasick,
/// LeftmostLongest). The text between matches is tokenized normally. HF's per-token options
/// (`lstrip`, `rstrip`, `single_word`, `normalized`) are not applied: every added token matches the
/// raw text exactly (they are all false for SmolLM2, MiniLM and LLaMA's specials).
public struct AddedTokenMatcher: Sendable {
    /// A piece of the input: ordinary text (scalar range) or one added token's id.
    public enum Segment: Equatable, Sendable {
        case text(Range<Int>)
        case token(Int)
    }

    /// Added tokens by first scalar, longest first.
    private var byFirst: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int)]] = [:]
    /// Every added token.
    public let tokens: [AddedToken]

    public init(tokens: [AddedToken]) {
        self.tokens = tokens
        for t in tokens where !t.content.isEmpty {
            let scalars = Array(t.content.unicodeScalars)
            byFirst[scalars[0], default: []].append((scalars, t.id))
        }
        for key in byFirst.keys { byFirst[key]!.sort { $0.scalars.count > $1.scalars.count } }
    }

    public var isEmpty: Bool { byFirst.isEmpty }

    /// Splits `s` into text ranges and added-token ids, in order (empty text ranges are dropped).
    public func split(_ s: [Unicode.Scalar]) -> [Segment] {
        if byFirst.isEmpty { return s.isEmpty ? [] : [.text(0..<s.count)] }
        var out: [Segment] = []
        var textStart = 0, i = 0
        while i < s.count {
            if let candidates = byFirst[s[i]],
               let hit = candidates.first(where: { i + $0.scalars.count <= s.count && s[i..<(i + $0.scalars.count)].elementsEqual($0.scalars) }) {
                if textStart < i { out.append(.text(textStart..<i)) }
                out.append(.token(hit.id))
                i += hit.scalars.count
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < s.count { out.append(.text(textStart..<s.count)) }
        return out
    }

    /// The ids of `s`: each added token's own id, and `encodeText(range)` for the ordinary text
    /// between them.
    public func encode(_ s: [Unicode.Scalar], encodeText: (Range<Int>) -> [Int]) -> [Int] {
        split(s).flatMap { segment -> [Int] in
            switch segment {
            case .token(let id): return [id]
            case .text(let range): return encodeText(range)
            }
        }
    }
}
