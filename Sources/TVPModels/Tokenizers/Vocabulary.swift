import TVPFormats
/// `text` with every occurrence of `target` replaced, comparing Unicode scalars (String's own
/// replacing works on grapheme clusters and misses "</w>" before a combining mark).
func replacingScalars(_ text: String, _ target: String, with replacement: String) -> String {
    let t = Array(target.unicodeScalars), s = Array(text.unicodeScalars)
    guard !t.isEmpty, s.count >= t.count else { return text }
    var out = String.UnicodeScalarView()
    var i = 0
    while i < s.count {
        if i + t.count <= s.count && s[i] == t[0] && s[i..<(i + t.count)].elementsEqual(t) {
            out.append(contentsOf: replacement.unicodeScalars); i += t.count
        } else {
            out.append(s[i]); i += 1
        }
    }
    return String(out)
}

/// Whether `text` starts with `prefix`, comparing Unicode scalars.
func hasScalarPrefix(_ text: String, _ prefix: String) -> Bool {
    text.unicodeScalars.starts(with: prefix.unicodeScalars)
}

/// A token ↔ id table shared by the tokenizers: model vocabulary plus added tokens.
public struct Vocabulary: Sendable {
    /// Token string per id (nil for ids no token uses).
    public let tokens: [String?]
    /// Id per token string.
    public let ids: [String: Int]

    init(ids vocab: [String: Int], added: [AddedToken] = []) {
        var ids = vocab
        for a in added where ids[a.content] == nil { ids[a.content] = a.id }
        let count = max(ids.values.max().map { $0 + 1 } ?? 0, added.map { $0.id + 1 }.max() ?? 0)
        var tokens = [String?](repeating: nil, count: count)
        for (t, id) in ids { tokens[id] = t }
        for a in added { tokens[a.id] = a.content }
        self.tokens = tokens
        self.ids = ids
    }

    /// The vocabulary whose id `i` is `list[i]`.
    public init(tokens list: [String]) {
        var ids: [String: Int] = [:]
        ids.reserveCapacity(list.count)
        // A repeated string keeps its last id, like Python's dict(zip(tokens, range(n))).
        for (i, t) in list.enumerated() { ids[t] = i }
        tokens = list
        self.ids = ids
    }

    /// The number of ids (largest id + 1).
    public var count: Int { tokens.count }

    /// The token string of `id`, nil outside the table or for an unused id.
    public func token(_ id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

    /// The merge table of `merges` (token pairs in rank order); every part and every merged string
    /// must be in the vocabulary.
    func mergeTable(_ merges: [(String, String)], file: String) throws -> BPEMergeTable {
        var triples: [(left: Int, right: Int, merged: Int)] = []
        triples.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let l = ids[a], let r = ids[b], let m = ids[a + b] else {
                throw FormatError(file, "merge #\(rank) \"\(a) \(b)\" uses a token missing from the vocabulary")
            }
            triples.append((l, r, m))
        }
        return BPEMergeTable(merges: triples)
    }
}
