import CZlib
import Foundation
import TVPFormats

/// CLIP's BPE tokenizer (openai/CLIP and open_clip `SimpleTokenizer`) from `bpe_simple_vocab_16e6.txt.gz`.
///
/// Vocabulary: the 256 byte characters (GPT-2 byte alphabet, in `bytes_to_unicode` order), the same
/// with "</w>", one token per merge (file lines 1 ..< 48895, i.e. 48,894 merges of the real file), then
/// the two special tokens — so start-of-text is 49406 and end-of-text 49407 with the real file.
/// Text is cleaned by `CLIPTextCleaner` (lowercased), split by
/// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (case-insensitive; whitespace dropped), and each piece's last symbol carries "</w>".
public final class CLIPTokenizer: Tokenizer, @unchecked Sendable {
    /// open_clip's special token strings (the default).
    public static let openCLIPSpecialTokens = ["<start_of_text>", "<end_of_text>"]
    /// openai/CLIP's special token strings (same ids).
    public static let openAISpecialTokens = ["<|startoftext|>", "<|endoftext|>"]
    /// Merges read from the file at most (open_clip's `49152 - 256 - 2`).
    public static let maxMerges = 49152 - 256 - 2

    public let startOfTextID: Int, endOfTextID: Int
    public var bosTokenID: Int? { startOfTextID }
    public var eosTokenID: Int? { endOfTextID }
    /// open_clip pads token rows with id 0 (the token "!"); this is that id.
    public var padTokenID: Int? { 0 }
    public var unkTokenID: Int? { nil }
    public let vocab: Vocabulary
    private let merges: BPEMergeTable
    /// Vocabulary ids of each byte's character, and of that character + "</w>".
    private let byteIDs: [Int], byteEndIDs: [Int]
    /// Special token scalars (lowercased, for the case-insensitive match) and ids.
    private let specials: [(scalars: [Unicode.Scalar], id: Int)]
    private let cache = WordCache()

    /// From a gzip (or plain) merges file in CLIP's format.
    public convenience init(bpeVocabPath path: String, specialTokens: [String] = CLIPTokenizer.openCLIPSpecialTokens) throws {
        try self.init(mergesText: String(decoding: try Self.readMaybeGzip(path), as: UTF8.self), specialTokens: specialTokens, source: path)
    }

    /// From the text of a merges file: a header line, then one "a b" merge per line.
    public init(mergesText: String, specialTokens: [String] = CLIPTokenizer.openCLIPSpecialTokens, source: String = "CLIP BPE") throws {
        var lines = mergesText.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 1 else { throw FormatError(source, "empty merges file") }
        // A final newline would be a merge line with no tokens (open_clip would add "" to the vocabulary);
        // the real file has far more lines than are read, so only short files end here.
        if lines.count > 1 && lines.last == "" { lines.removeLast() }
        let mergeLines = lines[1..<min(lines.count, Self.maxMerges + 1)]
        var order: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        order += (0..<256).filter { !order.contains($0) }
        var tokens = order.map { String(ByteLevelAlphabet.characters[$0]) }
        tokens += tokens.map { $0 + "</w>" }
        var pairs: [(String, String)] = []
        for (i, line) in mergeLines.enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { throw FormatError(source, "line \(i + 2): \"\(line)\" is not a merge of two tokens") }
            pairs.append((String(parts[0]), String(parts[1])))
            tokens.append(String(parts[0]) + String(parts[1]))
        }
        guard specialTokens.count >= 2 else { throw FormatError(source, "start- and end-of-text token strings are required") }
        tokens += specialTokens
        let vocab = Vocabulary(tokens: tokens)
        self.vocab = vocab
        merges = try vocab.mergeTable(pairs, file: source)
        byteIDs = (0..<256).map { vocab.ids[String(ByteLevelAlphabet.characters[$0])]! }
        byteEndIDs = (0..<256).map { vocab.ids[String(ByteLevelAlphabet.characters[$0]) + "</w>"]! }
        let firstSpecial = tokens.count - specialTokens.count
        specials = specialTokens.enumerated().map { (Array($1.lowercased().unicodeScalars), firstSpecial + $0) }
        startOfTextID = firstSpecial
        endOfTextID = firstSpecial + 1
    }

    public func encode(_ text: String) -> [Int] {
        let s = Array(CLIPTextCleaner.clean(text).unicodeScalars)
        let c = scalarClasses(s)
        var out: [Int] = []
        var i = 0
        scan: while i < s.count {
            for (scalars, id) in specials where i + scalars.count <= s.count && s[i..<(i + scalars.count)].elementsEqual(scalars) {
                out.append(id); i += scalars.count; continue scan
            }
            var end: Int
            if let n = contractionLength(s, i, s.count, ignoringCase: true) {
                end = i + n
            } else {
                switch c[i] {
                case .space: i += 1; continue scan
                case .number: end = i + 1
                case let cls:
                    end = i + 1
                    while end < s.count && c[end] == cls { end += 1 }
                }
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: s[i..<end])
            let piece = String(view)
            out += cache.ids(piece) { bpe(piece) }
            i = end
        }
        return out
    }

    private func bpe(_ piece: String) -> [Int] {
        let bytes = Array(piece.utf8)
        var symbols = bytes.dropLast().map { byteIDs[Int($0)] }
        symbols.append(byteEndIDs[Int(bytes.last!)])
        return merges.apply(to: symbols)
    }

    /// `[start] + encode(text) + [end]`.
    public func encodeWithSpecials(_ text: String) -> [Int] { [startOfTextID] + encode(text) + [endOfTextID] }

    /// open_clip's `tokenize`: one row of `contextLength` ids per text — start, tokens, end, then 0s;
    /// a row that does not fit is cut to `contextLength` with its last id replaced by end-of-text.
    public func tokenize(_ texts: [String], contextLength: Int = 77) -> [[Int]] {
        texts.map { text in
            var ids = encodeWithSpecials(text)
            if ids.count > contextLength {
                ids = Array(ids.prefix(contextLength))
                if contextLength > 0 { ids[contextLength - 1] = endOfTextID }
            }
            return ids + [Int](repeating: 0, count: contextLength - ids.count)
        }
    }

    /// open_clip's `decode`: token bytes joined, read as UTF-8 (invalid bytes replaced), "</w>" → " ".
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let t = vocab.token(id) else { continue }
            if skipSpecialTokens && (id == startOfTextID || id == endOfTextID) { continue }
            ByteLevelAlphabet.decode(t, into: &bytes)
        }
        return replacingScalars(String(decoding: bytes, as: UTF8.self), "</w>", with: " ")
    }

    static func readMaybeGzip(_ path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else { throw FormatError(path, "cannot open: \(String(cString: strerror(errno)))") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { gzclose(file); throw FormatError(path, "corrupt gzip data") }
            if n == 0 { break }
            bytes += chunk[0..<Int(n)]
        }
        guard gzclose(file) == Z_OK else { throw FormatError(path, "truncated gzip data") }
        return bytes
    }
}
