import TVPFormats

/// A mapping node whose keys were checked against a fixed list: typed getters that throw
/// `YAMLError`s at the offending node, with did-you-mean suggestions.
struct YAMLFields {
    let node: YAMLNode
    /// `data.fashion`, for messages.
    let path: String

    /// Checks that `node` is a mapping with only `allowed` keys.
    init(_ node: YAMLNode, path: String, allowed: [String]) throws {
        guard case .mapping = node else {
            throw YAMLError("'\(path)' must be a mapping, found \(node.kindDescription)", at: node.mark)
        }
        try node.checkKeys(allowed: allowed)
        self.node = node
        self.path = path
    }

    /// The value of `key`; nil when absent or null.
    func optional(_ key: String) -> YAMLNode? {
        guard let value = node[key], !value.isNull else { return nil }
        return value
    }

    func required(_ key: String, hint: String = "") throws -> YAMLNode {
        guard let value = optional(key) else {
            let what = node[key] == nil ? "missing required key" : "empty value for required key"
            throw YAMLError("\(what) '\(key)' in '\(path)'\(hint.isEmpty ? "" : "; " + hint)", at: node[key]?.mark ?? node.mark)
        }
        return value
    }

    /// The mark of `key`'s value if present, else of the mapping.
    func mark(_ key: String) -> Mark { node[key]?.mark ?? node.mark }

    func string(_ key: String, default value: String) throws -> String {
        try optional(key).map { try $0.string() } ?? value
    }

    func int(_ key: String, default value: Int, min: Int = Int.min, max: Int = Int.max) throws -> Int {
        guard let node = optional(key) else { return value }
        return try checkedInt(node, key: key, min: min, max: max)
    }

    func checkedInt(_ node: YAMLNode, key: String, min: Int = Int.min, max: Int = Int.max) throws -> Int {
        let n = try node.int()
        guard n >= min && n <= max else {
            let range = max == Int.max ? "at least \(min)" : min == Int.min ? "at most \(max)" : "from \(min) to \(max)"
            throw YAMLError("'\(path).\(key)' must be \(range), found \(n)", at: node.mark)
        }
        return n
    }

    /// A number the trainer uses as a Float: finite as a Float (not only as a Double), at least
    /// `min` (or > 0 when `positive`) and at most `max`.
    func double(_ key: String, default value: Double, min: Double = -Double.infinity, max: Double = Double.infinity,
                positive: Bool = false) throws -> Double {
        guard let node = optional(key) else { return value }
        let x = try node.double()
        guard x.isFinite, Float(x).isFinite, x >= min, x <= max, !positive || x > 0 else {
            func text(_ bound: Double) -> String { bound.rounded() == bound && abs(bound) < 1e15 ? String(Int(bound)) : String(bound) }
            var need = positive ? "a finite number > 0" : min > -Double.infinity ? "a finite number ≥ \(text(min))" : "a finite number"
            if max < Double.infinity { need += " and ≤ \(text(max))" }
            let float = x.isFinite && !Float(x).isFinite ? " (beyond the largest 32-bit float the trainer computes in)" : ""
            throw YAMLError("'\(path).\(key)' must be \(need), found \(node.scalarText ?? "?")\(float)", at: node.mark)
        }
        return x
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        try optional(key).map { try $0.bool() } ?? value
    }

    /// A string that must be one of `choices` (did-you-mean on a miss).
    func choice(_ key: String, _ choices: [String], default value: String) throws -> String {
        guard let node = optional(key) else { return value }
        return try YAMLFields.choice(node, choices, what: "\(path).\(key)")
    }

    static func choice(_ node: YAMLNode, _ choices: [String], what: String) throws -> String {
        let text = try node.string()
        guard choices.contains(text) else { throw unknownName(text, among: choices, what: "value for '\(what)'", at: node.mark) }
        return text
    }

    /// A string or a list of strings, as (text, node) pairs.
    static func stringList(_ node: YAMLNode) throws -> [(text: String, node: YAMLNode)] {
        if case .sequence(let items, _) = node { return try items.map { (try $0.string(), $0) } }
        return [(try node.string(), node)]
    }
}

/// "unknown WHAT 'x'; did you mean 'y'?" (or the list of known names) at `mark`.
func unknownName(_ name: String, among known: [String], what: String, at mark: Mark) -> YAMLError {
    if let guess = suggest(name, from: known) {
        return YAMLError("unknown \(what) '\(name)'; did you mean '\(guess)'?", at: mark)
    }
    let list = known.isEmpty ? "none are defined" : "expected one of: " + known.joined(separator: ", ")
    return YAMLError("unknown \(what) '\(name)'; \(list)", at: mark)
}
