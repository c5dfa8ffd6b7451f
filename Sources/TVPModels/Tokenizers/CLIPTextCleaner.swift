import Foundation

/// open_clip's default text clean-up for CLIP ("lower": `whitespace_clean(basic_clean(text)).lower()`):
/// the parts of `ftfy.fix_text` that act on ordinary text, HTML unescaping, whitespace collapsing and
/// Python's `str.lower()`.
///
/// Implemented from ftfy 6: HTML entities (when the text has no "<"), terminal color escapes removed,
/// C1 controls read as Windows-1252, Latin ligatures split, full/half-width forms to normal width,
/// curly quotes straightened, ftfy's control characters removed, NFC. Not implemented: ftfy's mojibake
/// repair (`fix_encoding`, `decode_inconsistent_utf8`, `replace_lossy_sequences`, `restore_byte_a0`),
/// which only changes text that was decoded with the wrong encoding. HTML unescaping knows numeric
/// references and the entities amp, lt, gt, quot, apos and nbsp (Python's `html.unescape` knows
/// all of HTML5's, and also unterminated legacy ones like "&amp").
public enum CLIPTextCleaner {
    public static func clean(_ text: String) -> String {
        var t = text
        // ftfy.fix_text
        if !t.contains("<") { t = unescapeHTML(t) }
        t = removeTerminalEscapes(t)
        var view = String.UnicodeScalarView()
        for s in t.unicodeScalars {
            let v = s.value
            if (0x80...0x9F).contains(v) { view.append(windows1252(UInt8(v))); continue }
            if let lig = ligatures[v] { view.append(contentsOf: lig.unicodeScalars); continue }
            if v == 0x3000 { view.append(" "); continue }
            if (0xFF01..<0xFFF0).contains(v) {
                let wide = String(s).precomposedStringWithCompatibilityMapping
                view.append(contentsOf: wide.unicodeScalars); continue
            }
            if v == 0x2BC || (0x2018...0x201B).contains(v) { view.append("'"); continue }
            if (0x201C...0x201F).contains(v) { view.append("\""); continue }
            if isFtfyControl(v) { continue }
            view.append(s)
        }
        t = String(view).precomposedStringWithCanonicalMapping
        // html.unescape(html.unescape(text)).strip(), then " ".join(text.split()), then .lower()
        t = unescapeHTML(unescapeHTML(t))
        let words = t.unicodeScalars.split(whereSeparator: isPythonSpace)
        return pythonLower(words.map { String(String.UnicodeScalarView($0)) }.joined(separator: " "))
    }

    /// Python's `str.isspace()`: White_Space plus the information separators U+001C…U+001F.
    static func isPythonSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || (0x1C...0x1F).contains(s.value) }

    /// Python's `str.lower()`: full lowercase mappings, with capital sigma final (ς) after a cased
    /// letter and not before one (case-ignorable characters skipped).
    static func pythonLower(_ text: String) -> String {
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, c) in s.enumerated() {
            if c.value == 0x3A3 {
                var j = i - 1
                while j >= 0 && s[j].properties.isCaseIgnorable { j -= 1 }
                var k = i + 1
                while k < s.count && s[k].properties.isCaseIgnorable { k += 1 }
                let final = j >= 0 && s[j].properties.isCased && !(k < s.count && s[k].properties.isCased)
                out.append(final ? "\u{3C2}" : "\u{3C3}")
            } else if c.value < 128 {
                out.append(c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c)
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    static let ligatures: [UInt32: String] = [
        0x132: "IJ", 0x133: "ij", 0x149: "\u{2BC}n", 0x1F1: "DZ", 0x1F2: "Dz", 0x1F3: "dz", 0x1C4: "D\u{17D}",
        0x1C5: "D\u{17E}", 0x1C6: "d\u{17E}", 0x1C7: "LJ", 0x1C8: "Lj", 0x1C9: "lj", 0x1CA: "NJ", 0x1CB: "Nj",
        0x1CC: "nj", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u{17F}t", 0xFB06: "st",
    ]

    /// ftfy's `remove_control_chars` set.
    static func isFtfyControl(_ v: UInt32) -> Bool {
        v <= 0x08 || v == 0x0B || (0x0E...0x1F).contains(v) || v == 0x7F || (0x206A...0x206F).contains(v)
            || v == 0xFEFF || (0xFFF9...0xFFFC).contains(v)
    }

    /// "Sloppy" Windows-1252: the byte's character, or the byte as Latin-1 where 1252 leaves it undefined.
    static func windows1252(_ b: UInt8) -> Unicode.Scalar {
        let high: [UInt32] = [0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
                              0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178]
        return (0x80...0x9F).contains(b) ? Unicode.Scalar(high[Int(b) - 0x80])! : Unicode.Scalar(b)
    }

    /// ESC [ digits/semicolons letter (ftfy `remove_terminal_escapes`).
    static func removeTerminalEscapes(_ text: String) -> String {
        guard text.unicodeScalars.contains("\u{1B}") else { return text }
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            if s[i] == "\u{1B}", i + 1 < s.count, s[i + 1] == "[" {
                var j = i + 2
                while j < s.count, s[j] == ";" || (0x30...0x39).contains(s[j].value) { j += 1 }
                if j < s.count, s[j].properties.isAlphabetic, s[j].isASCII { i = j + 1; continue }
            }
            out.append(s[i]); i += 1
        }
        return String(out)
    }

    static let namedEntities: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}"]

    /// `&name;`, `&#N;` and `&#xH;` replaced (see the type's notes for what is left out).
    static func unescapeHTML(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semi = after.prefix(32).firstIndex(of: ";"), let value = entity(after[..<semi]) {
                out += value
                rest = after[after.index(after: semi)...]
            } else {
                out += "&"
                rest = after
            }
        }
        return out + rest
    }

    private static func entity(_ name: Substring) -> String? {
        if name.hasPrefix("#") {
            let digits = name.dropFirst()
            let code: UInt32?
            if digits.first == "x" || digits.first == "X" { code = UInt32(digits.dropFirst(), radix: 16) } else { code = UInt32(digits, radix: 10) }
            guard let code, !digits.isEmpty else { return nil }
            if (0x80...0x9F).contains(code) { return String(windows1252(UInt8(code))) }
            guard code != 0, let s = Unicode.Scalar(code) else { return "\u{FFFD}" }
            return String(s)
        }
        return namedEntities[String(name)]
    }
}
