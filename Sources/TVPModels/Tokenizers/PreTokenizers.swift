// Hand-written pre-tokenization regexes (no regex engine): each walks the text's Unicode scalars
// once and returns the ranges of the pieces the reference regex would find.

/// The regex classes the pre-tokenizers need: \p{L} (Lu Ll Lt Lm Lo), \p{N} (Nd Nl No),
/// \s (the Unicode White_Space property), everything else.
enum ScalarClass: UInt8 { case letter, number, space, other }

private let asciiClasses: [ScalarClass] = (0..<128).map { v -> ScalarClass in
    let s = Unicode.Scalar(UInt8(v))
    if s.properties.isWhitespace { return .space }
    if (v >= 65 && v <= 90) || (v >= 97 && v <= 122) { return .letter }
    if v >= 48 && v <= 57 { return .number }
    return .other
}

@inline(__always) func scalarClass(_ s: Unicode.Scalar) -> ScalarClass {
    if s.value < 128 { return asciiClasses[Int(s.value)] }
    let p = s.properties
    if p.isWhitespace { return .space }
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
}

/// Classes of every scalar.
func scalarClasses(_ s: [Unicode.Scalar]) -> [ScalarClass] { s.map(scalarClass) }

/// The pre-tokenization of byte-level BPE models.
public enum ByteLevelPreTokenization: String, Sendable {
    /// GPT-2's regex: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Every \p{N} scalar isolated first, then GPT-2's regex on the rest (HF `Digits(individual_digits)`
    /// + `ByteLevel`; llama.cpp's "smollm"/"starcoder"/"refact"/"command-r"/"codeshell" pre-tokenizers).
    case gpt2IndividualDigits

    /// Piece ranges of `s` within `range`.
    func split(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ range: Range<Int>, into out: inout [Range<Int>]) {
        switch self {
        case .gpt2: gpt2Split(s, c, range, into: &out)
        case .gpt2IndividualDigits:
            var start = range.lowerBound
            for i in range where c[i] == .number {
                if start < i { gpt2Split(s, c, start..<i, into: &out) }
                out.append(i..<(i + 1))
                start = i + 1
            }
            if start < range.upperBound { gpt2Split(s, c, start..<range.upperBound, into: &out) }
        }
    }
}

/// GPT-2's pre-tokenization regex over `s[range]` (classes `c`), pieces appended to `out`.
func gpt2Split(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ range: Range<Int>, into out: inout [Range<Int>]) {
    let end = range.upperBound
    var i = range.lowerBound
    while i < end {
        if let n = contractionLength(s, i, end, ignoringCase: false) {
            out.append(i..<(i + n)); i += n; continue
        }
        var k = i
        // " ?X+": one optional plain space before a letter, number or other run.
        if s[k] == " " && k + 1 < end && c[k + 1] != .space { k += 1 }
        let cls = c[k]
        if cls == .space {
            // \s+(?!\S) leaves the last space of a run for the next piece when a non-space follows;
            // a lone space before a non-space is then taken by \s+.
            var m = i
            while m < end && c[m] == .space { m += 1 }
            k = (m < end && m - i >= 2) ? m - 1 : m
        } else {
            while k < end && c[k] == cls { k += 1 }
        }
        out.append(i..<k)
        i = k
    }
}

/// The length of the contraction `'s|'t|'re|'ve|'m|'ll|'d` at `i`, if one starts there.
@inline(__always) func contractionLength(_ s: [Unicode.Scalar], _ i: Int, _ end: Int, ignoringCase: Bool) -> Int? {
    guard s[i] == "'", i + 1 < end else { return nil }
    func lower(_ x: Unicode.Scalar) -> Unicode.Scalar {
        ignoringCase && x.value >= 65 && x.value <= 90 ? Unicode.Scalar(x.value + 32)! : x
    }
    let a = lower(s[i + 1])
    if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
    guard i + 2 < end else { return nil }
    let b = lower(s[i + 2])
    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
    return nil
}
