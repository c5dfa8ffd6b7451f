/// Canonical JSON for YAML trees: the same data always gives the same bytes, so the text can be hashed
/// into content-addressed cache keys.
///
/// Rules (close to RFC 8785, JCS):
/// - mappings become objects with keys sorted by their UTF-16 code units; a key is its scalar text;
/// - no whitespace outside strings;
/// - plain untagged scalars are typed by the YAML 1.2 core schema: null → `null`, `true`/`false` →
///   booleans, integers → exact decimal (`+7` → `7`, `007` → `7`, `0x1F` → `31`, any size),
///   floats → the shortest text that round-trips the Double, in JavaScript notation (`1.0` → `1`,
///   `1e-7` → `1e-7`, `1e21` → `1e+21`); `.inf`, `-.inf`, `.nan` (which JSON cannot hold) become the
///   strings `"Infinity"`, `"-Infinity"`, `"NaN"`;
/// - quoted and block scalars are strings; explicitly tagged scalars follow their tag (`!!str 1` → `"1"`);
/// - strings are escaped per RFC 8259: `\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00XX`
///   (lowercase hex); everything else, non-ASCII included, is written as UTF-8.
extension YAMLNode {
    public func canonicalJSON() -> String {
        var out = ""
        writeCanonicalJSON(into: &out)
        return out
    }

    private func writeCanonicalJSON(into out: inout String) {
        switch self {
        case .scalar(let text, let info, _):
            switch resolveScalar(text, info) ?? .string(text) {
            case .null: out += "null"
            case .bool(let value): out += value ? "true" : "false"
            case .int(let digits): out += digits
            case .float(let value): out += canonicalNumber(value)
            case .string(let string): appendJSONString(string, to: &out)
            }
        case .sequence(let items, _):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.writeCanonicalJSON(into: &out)
            }
            out += "]"
        case .mapping(let pairs, _):
            let keyed = pairs.map { (key: $0.key.scalarText ?? $0.key.canonicalJSON(), value: $0.value) }
            let sorted = keyed.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            out += "{"
            for (index, pair) in sorted.enumerated() {
                if index > 0 { out += "," }
                appendJSONString(pair.key, to: &out)
                out += ":"
                pair.value.writeCanonicalJSON(into: &out)
            }
            out += "}"
        }
    }
}

/// A JSON string literal for `string`, escaped per RFC 8259 (minimal escaping, as JCS does).
public func canonicalJSONString(_ string: String) -> String {
    var out = ""
    appendJSONString(string, to: &out)
    return out
}

func appendJSONString(_ string: String, to out: inout String) {
    out += "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{00}"..."\u{1F}":
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    out += "\""
}

/// A Double as JavaScript's `Number.prototype.toString` writes it (what JCS prescribes): the shortest
/// round-tripping digits, fixed notation for exponents in [-7, 21), otherwise `d.ddde±x`; as JSON
/// text, so the non-finite values, which JSON cannot hold, come back as the strings `"NaN"`,
/// `"Infinity"` and `"-Infinity"` (quotes included).
public func canonicalNumber(_ value: Double) -> String {
    if value.isNaN { return "\"NaN\"" }
    if value.isInfinite { return value < 0 ? "\"-Infinity\"" : "\"Infinity\"" }
    if value == 0 { return "0" }

    // Swift's description gives the shortest round-tripping digits, e.g. "1.25e-07" or "12345.0".
    let text = "\(value.magnitude)"
    var mantissa = Substring(text)
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = text[..<e]
        exponent = Int(text[text.index(after: e)...])!
    }
    let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
    let integerPart = String(parts[0])
    let fractionPart = parts.count > 1 ? String(parts[1]) : ""
    // value = 0.digits × 10^point, with digits free of leading and trailing zeros.
    var digits = integerPart + fractionPart
    var point = integerPart.count + exponent
    while digits.hasPrefix("0") { digits.removeFirst(); point -= 1 }
    while digits.hasSuffix("0") { digits.removeLast() }
    let k = digits.count

    var out = value < 0 ? "-" : ""
    if k <= point && point <= 21 {
        out += digits + String(repeating: "0", count: point - k)
    } else if 0 < point && point <= 21 {
        out += digits.prefix(point) + "." + digits.dropFirst(point)
    } else if -6 < point && point <= 0 {
        out += "0." + String(repeating: "0", count: -point) + digits
    } else {
        let e = point - 1
        out += String(digits.prefix(1))
        if k > 1 { out += "." + digits.dropFirst() }
        out += "e" + (e < 0 ? "-" : "+") + String(e.magnitude)
    }
    return out
}
