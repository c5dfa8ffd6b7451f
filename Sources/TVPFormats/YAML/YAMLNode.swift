/// How a scalar was written in the source.
public enum YAMLScalarStyle: Hashable, Sendable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// What the source said about a scalar besides its text: its style and its explicit tag, if any.
///
/// Tags are kept as libyaml resolves them: `!!int` becomes `tag:yaml.org,2002:int`, a lone `!`
/// stays `!`, a local tag `!env` stays `!env`.
public struct YAMLScalarInfo: Hashable, Sendable {
    public var style: YAMLScalarStyle
    public var tag: String?

    public init(style: YAMLScalarStyle = .plain, tag: String? = nil) {
        self.style = style
        self.tag = tag
    }
}

/// One node of a parsed YAML document. Every node keeps the `Mark` where it was written; values
/// that came through an alias, a merge key or `extends:` keep the mark of their original definition.
///
/// Mapping keys are always scalars (the parser rejects others), unique, and in source order.
public enum YAMLNode: Sendable {
    case scalar(String, YAMLScalarInfo, Mark)
    case sequence([YAMLNode], Mark)
    case mapping([(key: YAMLNode, value: YAMLNode)], Mark)

    /// Where this node starts in its file.
    public var mark: Mark {
        switch self {
        case .scalar(_, _, let mark), .sequence(_, let mark), .mapping(_, let mark): return mark
        }
    }
}

/// A scalar's value under the YAML 1.2 core schema (plus explicit `!!str`/`!!int`/... tags).
enum ResolvedScalar {
    case null
    case bool(Bool)
    /// The integer in normalized decimal (no `+`, no leading zeros, `0x`/`0o` converted, `-0` → `0`).
    case int(String)
    case float(Double)
    case string(String)
}

let yamlCoreTagPrefix = "tag:yaml.org,2002:"

/// Short form of a tag for messages: `tag:yaml.org,2002:int` → `!!int`.
func shortTag(_ tag: String) -> String {
    tag.hasPrefix(yamlCoreTagPrefix) ? "!!" + tag.dropFirst(yamlCoreTagPrefix.count) : tag
}

/// Resolves a scalar by the YAML 1.2 core schema. Only plain untagged scalars are typed implicitly;
/// quoted and block scalars are strings. An explicit core tag forces its type; nil means the text is
/// not valid for that tag (`!!int abc`). Any other tag (`!`, `!!str`, local tags) gives a string.
func resolveScalar(_ text: String, _ info: YAMLScalarInfo) -> ResolvedScalar? {
    guard let tag = info.tag else {
        guard info.style == .plain else { return .string(text) }
        if let value = coreNull(text) ?? coreBool(text) ?? coreInt(text) ?? coreFloat(text) { return value }
        return .string(text)
    }
    switch tag {
    case yamlCoreTagPrefix + "null": return coreNull(text)
    case yamlCoreTagPrefix + "bool": return coreBool(text)
    case yamlCoreTagPrefix + "int": return coreInt(text)
    case yamlCoreTagPrefix + "float": return coreFloat(text) ?? coreInt(text).flatMap { value -> ResolvedScalar? in
            if case .int(let digits) = value, let double = Double(digits) { return .float(double) }
            return nil
        }
    default: return .string(text)
    }
}

private func coreNull(_ text: String) -> ResolvedScalar? {
    switch text {
    case "", "~", "null", "Null", "NULL": return .null
    default: return nil
    }
}

/// YAML 1.2 core booleans only: `yes`, `no`, `on`, `off` are strings (they were booleans in YAML 1.1).
private func coreBool(_ text: String) -> ResolvedScalar? {
    switch text {
    case "true", "True", "TRUE": return .bool(true)
    case "false", "False", "FALSE": return .bool(false)
    default: return nil
    }
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`, as normalized decimal text (any size).
private func coreInt(_ text: String) -> ResolvedScalar? {
    let bytes = Array(text.utf8)
    if bytes.count > 2 && bytes[0] == UInt8(ascii: "0") && (bytes[1] == UInt8(ascii: "x") || bytes[1] == UInt8(ascii: "o")) {
        let radix = bytes[1] == UInt8(ascii: "x") ? 16 : 8
        var digits: [Int] = []
        for byte in bytes[2...] {
            guard let digit = hexDigitValue(byte), digit < radix else { return nil }
            digits.append(digit)
        }
        return .int(decimalString(digits: digits, radix: radix))
    }
    var start = 0
    var negative = false
    if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
        negative = first == UInt8(ascii: "-")
        start = 1
    }
    guard start < bytes.count, bytes[start...].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
    var digits = bytes[start...].drop { $0 == UInt8(ascii: "0") }
    if digits.isEmpty { digits = [UInt8(ascii: "0")]; negative = false }
    return .int((negative ? "-" : "") + String(decoding: digits, as: UTF8.self))
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?\.inf`, `\.nan` (three spellings each).
private func coreFloat(_ text: String) -> ResolvedScalar? {
    switch text {
    case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
    case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
    case ".nan", ".NaN", ".NAN": return .float(.nan)
    default: break
    }
    let bytes = Array(text.utf8)
    var i = 0
    func isDigit(_ index: Int) -> Bool { index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") }
    if i < bytes.count && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) { i += 1 }
    var integerDigits = 0
    while isDigit(i) { i += 1; integerDigits += 1 }
    var fractionDigits = 0
    if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
        i += 1
        while isDigit(i) { i += 1; fractionDigits += 1 }
    }
    // `1.` is allowed, `.` and `.e1` are not.
    guard integerDigits > 0 || fractionDigits > 0 else { return nil }
    if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
        i += 1
        if i < bytes.count && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) { i += 1 }
        guard isDigit(i) else { return nil }
        while isDigit(i) { i += 1 }
    }
    guard i == bytes.count, let value = Double(text) else { return nil }
    return .float(value)
}

private func hexDigitValue(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a")) + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A")) + 10
    default: return nil
    }
}

/// Digits in `radix` (most significant first) as decimal text, exact for any length.
private func decimalString(digits: [Int], radix: Int) -> String {
    var decimal: [Int] = [0]  // least significant first
    for digit in digits {
        var carry = digit
        for k in 0..<decimal.count {
            let value = decimal[k] * radix + carry
            decimal[k] = value % 10
            carry = value / 10
        }
        while carry > 0 { decimal.append(carry % 10); carry /= 10 }
    }
    while decimal.count > 1 && decimal.last == 0 { decimal.removeLast() }
    return String(decimal.reversed().map { Character(String($0)) })
}
