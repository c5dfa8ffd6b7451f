import Foundation
import TVPFormats

/// A command-line override in Hydra's grammar, applied to the YAML tree before validation:
///
/// - `key.path=VALUE` sets a value (creating missing mappings on the way),
/// - `+key.path=VALUE` adds a key that must not exist yet, `++key.path=VALUE` sets it either way,
/// - `~key.path` removes a key (`~key.path=VALUE` only if it currently holds VALUE).
///
/// VALUE is YAML flow syntax: `0.1`, `abc`, `"quoted text"`, `[a, b]`, `{x: 1}`, `null`. Every node
/// an override creates is marked with the override itself (path `--set key=value`, line 1, the
/// column inside the argument), so validation errors name the override that caused them.
public struct Override: Sendable {
    public enum Mode: Sendable, Equatable { case set, add, force, delete }

    public var mode: Mode
    /// The dotted key, split (`train.lr` → ["train", "lr"]); numeric components index sequences.
    public var key: [String]
    /// The value to set; for delete, the value the key must hold (or nil).
    public var value: YAMLNode?
    /// The argument as given, e.g. `--set train.lr=0.5` (the error location's path).
    public var source: String
    /// Where errors about the key itself point.
    public var keyMark: Mark

    /// An override built in code (sweep points): errors about the key point at `keyMark`.
    public init(mode: Mode, key: [String], value: YAMLNode?, source: String, keyMark: Mark) {
        self.mode = mode
        self.key = key
        self.value = value
        self.source = source
        self.keyMark = keyMark
    }

    /// Parses `text` (`key=value`, `+key=value`, `++key=value`, `~key`); `flag` names the option for messages.
    public init(parsing text: String, flag: String = "--set") throws {
        source = "\(flag) \(text)"
        var rest = Substring(text)
        if rest.hasPrefix("++") { mode = .force; rest = rest.dropFirst(2) }
        else if rest.hasPrefix("+") { mode = .add; rest = rest.dropFirst() }
        else if rest.hasPrefix("~") { mode = .delete; rest = rest.dropFirst() }
        else { mode = .set }
        let prefixLength = text.count - rest.count
        keyMark = Mark(path: source, line: 1, column: flag.count + 2 + prefixLength)
        let keyText: Substring
        if let equals = rest.firstIndex(of: "=") {
            keyText = rest[..<equals]
            let valueText = String(rest[rest.index(after: equals)...])
            value = try Override.parseValue(valueText, source: source, column: prefixLength + keyText.count + 2 + flag.count + 1)
        } else {
            guard mode == .delete else {
                throw YAMLError("expected KEY=VALUE (or ~KEY to remove a key), found '\(text)'", at: Mark(path: source, line: 1, column: 1))
            }
            keyText = rest
            value = nil
        }
        key = keyText.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keyText.isEmpty, key.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
            throw YAMLError("'\(keyText)' is not a dotted key like train.lr", at: keyMark)
        }
    }

    /// Parses a flow value written in an argument; marks point into the argument (`column` is where it starts).
    static func parseValue(_ text: String, source: String, column: Int) throws -> YAMLNode {
        let parsed: YAMLNode
        do {
            parsed = try YAMLParser.parse(text, path: source)
        } catch let error as YAMLError {
            let mark = error.mark.map { Mark(path: source, line: 1, column: column + $0.column - 1) }
            throw YAMLError("cannot read the value: \(error.message)", at: mark)
        }
        if case .mapping = parsed, !text.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            throw YAMLError("a mapping value must be written in braces, like {x: 1}; quote text that contains ': '",
                            at: Mark(path: source, line: 1, column: column))
        }
        return parsed.remarked { Mark(path: source, line: 1, column: column + $0.column - 1) }
    }

    /// Applies the override to `root`; errors are located at the override.
    public func apply(to root: YAMLNode) throws -> YAMLNode {
        try apply(to: root, at: 0)
    }

    private func apply(to node: YAMLNode, at depth: Int) throws -> YAMLNode {
        let component = key[depth]
        let last = depth == key.count - 1
        let shownKey = key[...depth].joined(separator: ".")
        switch node {
        case .sequence(var items, let mark):
            guard let index = Int(component), items.indices.contains(index) else {
                throw YAMLError("cannot override '\(key.joined(separator: "."))': '\(shownKey)' is not an index of the \(items.count)-item list at \(mark)", at: keyMark)
            }
            if last {
                switch mode {
                case .delete:
                    try checkDeleteValue(items[index])
                    items.remove(at: index)
                case .add:
                    throw YAMLError("cannot add '\(shownKey)': it exists (use '\(shownKey)=…' or '++\(shownKey)=…')", at: keyMark)
                case .set, .force: items[index] = value!
                }
            } else {
                items[index] = try apply(to: items[index], at: depth + 1)
            }
            return .sequence(items, mark)
        case .mapping(var pairs, let mark):
            let index = pairs.firstIndex { $0.key.scalarText == component }
            if last {
                switch (mode, index) {
                case (.delete, nil):
                    throw YAMLError("cannot remove '\(shownKey)': no such key", at: keyMark)
                case (.delete, let i?):
                    try checkDeleteValue(pairs[i].value)
                    pairs.remove(at: i)
                case (.add, _?):
                    throw YAMLError("cannot add '\(shownKey)': it exists (use '\(shownKey)=…' or '++\(shownKey)=…')", at: keyMark)
                case (_, let i?):
                    pairs[i] = (pairs[i].key, value!)
                case (_, nil):
                    pairs.append((keyNode(component), value!))
                }
            } else if let i = index {
                pairs[i] = (pairs[i].key, try apply(to: pairs[i].value, at: depth + 1))
            } else {
                guard mode != .delete else { throw YAMLError("cannot remove '\(key.joined(separator: "."))': no key '\(shownKey)'", at: keyMark) }
                pairs.append((keyNode(component), try apply(to: .mapping([], keyMark), at: depth + 1)))
            }
            return .mapping(pairs, mark)
        case .scalar:
            if node.isNull && mode != .delete {
                return try apply(to: .mapping([], node.mark), at: depth)
            }
            let parent = key[..<depth].joined(separator: ".")
            throw YAMLError("cannot override '\(key.joined(separator: "."))': '\(parent.isEmpty ? "(pipeline)" : parent)' is \(node.kindDescription) at \(node.mark), not a mapping", at: keyMark)
        }
    }

    private func keyNode(_ text: String) -> YAMLNode { .scalar(text, YAMLScalarInfo(), keyMark) }

    private func checkDeleteValue(_ current: YAMLNode) throws {
        guard let value else { return }
        guard current.canonicalJSON() == value.canonicalJSON() else {
            throw YAMLError("cannot remove '\(key.joined(separator: "."))': it holds \(current.canonicalJSON()), not \(value.canonicalJSON())", at: keyMark)
        }
    }
}

/// `-m key=v1,v2,...`: one sweep axis over the comma-separated values (commas inside brackets,
/// braces or quotes do not split), as Hydra's multirun.
public struct MultirunOverride: Sendable {
    public var key: [String]
    public var values: [YAMLNode]
    public var source: String

    public init(parsing text: String) throws {
        let source = "-m \(text)"
        self.source = source
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw YAMLError("expected KEY=V1,V2,… , found '\(text)'", at: Mark(path: source, line: 1, column: 1))
        }
        let keyText = text[..<equals]
        let key = keyText.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard key.allSatisfy({ !$0.isEmpty && !$0.contains(" ") && !$0.hasPrefix("+") && !$0.hasPrefix("~") }) else {
            throw YAMLError("'\(keyText)' is not a dotted key like train.lr", at: Mark(path: source, line: 1, column: 4))
        }
        var values: [YAMLNode] = []
        var depth = 0, quote: Character?, start = text.index(after: equals)
        var index = start
        func flush(_ end: String.Index) throws {
            let piece = String(text[start..<end])
            let column = 4 + text.distance(from: text.startIndex, to: start)
            guard !piece.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw YAMLError("empty value in the list", at: Mark(path: source, line: 1, column: column))
            }
            values.append(try Override.parseValue(piece, source: source, column: column))
        }
        while index < text.endIndex {
            let c = text[index]
            if let q = quote { if c == q { quote = nil } }
            else if c == "\"" || c == "'" { quote = c }
            else if c == "[" || c == "{" { depth += 1 }
            else if c == "]" || c == "}" { depth -= 1 }
            else if c == "," && depth == 0 {
                try flush(index)
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        try flush(text.endIndex)
        self.key = key
        self.values = values
    }
}

extension YAMLNode {
    /// The same tree with every mark replaced by `transform(mark)`.
    func remarked(_ transform: (Mark) -> Mark) -> YAMLNode {
        switch self {
        case .scalar(let text, let info, let mark): return .scalar(text, info, transform(mark))
        case .sequence(let items, let mark): return .sequence(items.map { $0.remarked(transform) }, transform(mark))
        case .mapping(let pairs, let mark):
            return .mapping(pairs.map { ($0.key.remarked(transform), $0.value.remarked(transform)) }, transform(mark))
        }
    }
}
