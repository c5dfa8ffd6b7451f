import Foundation
import TVPTensor

/// BERT's text clean-up and splitting (HF `BertNormalizer` + `BertPreTokenizer`, the
/// `BasicTokenizer` of google-research/bert): drop NUL, U+FFFD and control/format/unassigned
/// characters, turn whitespace into spaces, put spaces around CJK ideographs, optionally strip
/// accents (NFD, drop nonspacing marks) and lowercase (per character, no final-sigma rule), then
/// split on whitespace and isolate every punctuation character.
public struct BertNormalizer: Sendable {
    public var cleanText = true
    public var handleChineseChars = true
    public var stripAccents = true
    public var lowercase = true

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// The normalized scalars of `text`.
    public func normalize<S: Sequence>(_ text: S) -> [Unicode.Scalar] where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        for c in text {
            if cleanText {
                if c.value == 0 || c.value == 0xFFFD || Self.isControl(c) { continue }
                if Self.isWhitespace(c) { view.append(" "); continue }
            }
            if handleChineseChars && Self.isCJK(c) { view.append(" "); view.append(c); view.append(" "); continue }
            view.append(c)
        }
        var scalars: [Unicode.Scalar]
        if stripAccents {
            scalars = String(view).decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
        } else {
            scalars = Array(view)
        }
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(scalars.count)
            for c in scalars {
                if c.value < 128 { lowered.append(c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c) }
                else { lowered += c.properties.lowercaseMapping.unicodeScalars }
            }
            scalars = lowered
        }
        return scalars
    }

    /// Words of normalized scalars: split on whitespace, each punctuation character its own word.
    public static func split(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        for i in s.indices {
            if s[i].properties.isWhitespace {
                if start < i { words.append(s[start..<i]) }
                start = i + 1
            } else if isPunctuation(s[i]) {
                if start < i { words.append(s[start..<i]) }
                words.append(s[i...i])
                start = i + 1
            }
        }
        if start < s.count { words.append(s[start...]) }
        return words
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace }

    /// Cc, Cf, Cs, Co, Cn except tab, newline and carriage return.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// ASCII punctuation (including $+<=>^`|~) or any Unicode P* category.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// The CJK Unified Ideograph blocks BERT pads with spaces (not Hangul, Hiragana or Katakana);
    /// HF tokenizers' ranges (0x2B920, where google-research/bert has 0x2B820).
    static func isCJK(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}
