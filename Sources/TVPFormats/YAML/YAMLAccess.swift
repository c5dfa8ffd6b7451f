/// Typed access to YAML nodes. Every failure throws a `YAMLError` at the node's mark that says what
/// was expected and what was found.
///
/// Scalars are typed by the YAML 1.2 core schema: only plain (unquoted) scalars are numbers, booleans
/// or null; booleans are `true`/`false` only (also `True`, `TRUE`, ...), so `yes`, `no`, `on`, `off`
/// are strings. Quoted scalars are always strings: `"3"` is not an integer.
extension YAMLNode {
    /// The text of a string scalar. Numbers, booleans and null are refused (quote them to make strings).
    public func string() throws -> String {
        if case .scalar(let text, let info, _) = self, case .string = resolveScalar(text, info) ?? .string(text) {
            return text
        }
        if case .scalar(let text, _, _) = self {
            throw YAMLError("expected a string, found \(kindDescription); write \"\(text)\" (quoted) if you mean the text", at: mark)
        }
        throw YAMLError("expected a string, found \(kindDescription)", at: mark)
    }

    /// An integer scalar (`42`, `-7`, `0x1F`, `0o17`) that fits in `Int`.
    public func int() throws -> Int {
        guard case .scalar(let text, let info, _) = self, case .int(let digits)? = resolveScalar(text, info) else {
            throw YAMLError("expected an integer, found \(kindDescription)", at: mark)
        }
        guard let value = Int(digits) else {
            throw YAMLError("integer \(text) does not fit in 64 bits", at: mark)
        }
        return value
    }

    /// A number: a float scalar (`0.5`, `1e-3`, `.inf`, `.nan`) or an integer scalar.
    public func double() throws -> Double {
        if case .scalar(let text, let info, _) = self {
            switch resolveScalar(text, info) {
            case .float(let value)?: return value
            case .int(let digits)?: if let value = Double(digits) { return value }
            default: break
            }
        }
        throw YAMLError("expected a number, found \(kindDescription)", at: mark)
    }

    /// A boolean scalar: `true` or `false` (YAML 1.2 core; `yes`/`no`/`on`/`off` are refused with a hint).
    public func bool() throws -> Bool {
        if case .scalar(let text, let info, _) = self {
            if case .bool(let value)? = resolveScalar(text, info) { return value }
            if info.style == .plain && info.tag == nil && ["yes", "no", "on", "off", "y", "n"].contains(text.lowercased()) {
                throw YAMLError("expected a boolean, found '\(text)'; YAML 1.2 booleans are only true and false", at: mark)
            }
        }
        throw YAMLError("expected a boolean (true or false), found \(kindDescription)", at: mark)
    }

    /// Whether this is a null scalar: plain `null`, `Null`, `NULL`, `~`, an empty plain value, or `!!null`.
    public var isNull: Bool {
        if case .scalar(let text, let info, _) = self, case .null? = resolveScalar(text, info) { return true }
        return false
    }

    /// The elements of a sequence.
    public func items() throws -> [YAMLNode] {
        guard case .sequence(let items, _) = self else {
            throw YAMLError("expected a sequence, found \(kindDescription)", at: mark)
        }
        return items
    }

    /// The key-value pairs of a mapping, in source order.
    public func entries() throws -> [(key: YAMLNode, value: YAMLNode)] {
        guard case .mapping(let entries, _) = self else {
            throw YAMLError("expected a mapping, found \(kindDescription)", at: mark)
        }
        return entries
    }

    /// The texts of a mapping's keys in source order; empty for scalars and sequences.
    public var keys: [String] {
        guard case .mapping(let entries, _) = self else { return [] }
        return entries.compactMap { $0.key.scalarText }
    }

    /// The value for `key` when this is a mapping that has it; nil otherwise.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        return entries.first { $0.key.scalarText == key }?.value
    }

    /// The value for `key`; throws when this is not a mapping or the key is missing.
    public func required(_ key: String) throws -> YAMLNode {
        let entries = try entries()
        guard let value = entries.first(where: { $0.key.scalarText == key })?.value else {
            throw YAMLError("missing required key '\(key)'", at: mark)
        }
        return value
    }

    /// Throws at the first key of this mapping not in `allowed`, suggesting the closest allowed key.
    public func checkKeys(allowed: [String]) throws {
        for (key, _) in try entries() {
            let text = key.scalarText ?? ""
            if !allowed.contains(text) { throw YAMLError.unknownKey(text, at: key.mark, allowed: allowed) }
        }
    }

    /// The raw text of a scalar (whatever its type); nil for sequences and mappings.
    public var scalarText: String? {
        if case .scalar(let text, _, _) = self { return text }
        return nil
    }

    /// What this node is, for messages: "a mapping", "an integer (3)", "a string ('abc')", ...
    public var kindDescription: String {
        switch self {
        case .sequence: return "a sequence"
        case .mapping: return "a mapping"
        case .scalar(let text, let info, _):
            switch resolveScalar(text, info) ?? .string(text) {
            case .null: return "null"
            case .bool: return "a boolean (\(text))"
            case .int: return "an integer (\(text))"
            case .float: return "a number (\(text))"
            case .string: return "a string ('\(text)')"
            }
        }
    }
}
