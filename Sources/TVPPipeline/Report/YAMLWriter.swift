import TVPEngine
import TVPFormats

/// Canonical YAML for a JSON value: block mappings with keys in canonical (sorted) order, block
/// sequences, scalars written as their canonical JSON (valid YAML flow scalars, strings always
/// double-quoted), `{}` and `[]` for empty collections. Reading it back gives the same JSON.
public func canonicalYAML(_ value: JSONValue) -> String {
    var lines: [String] = []
    func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .object(let members) where members.isEmpty: return "{}"
        case .array(let items) where items.isEmpty: return "[]"
        case .object, .array: return nil
        default: return value.canonicalText
        }
    }
    func write(_ value: JSONValue, indent: String) {
        switch value {
        case .object(let members):
            for key in JSONValue.sortedKeys(members) {
                let child = members[key]!
                let keyText = canonicalJSONString(key)
                if let text = scalar(child) { lines.append("\(indent)\(keyText): \(text)") }
                else { lines.append("\(indent)\(keyText):"); write(child, indent: indent + "  ") }
            }
        case .array(let items):
            for item in items {
                if let text = scalar(item) { lines.append("\(indent)- \(text)") }
                else { lines.append("\(indent)-"); write(item, indent: indent + "  ") }
            }
        default:
            lines.append(indent + value.canonicalText)
        }
    }
    if let text = scalar(value) { return text + "\n" }
    write(value, indent: "")
    return lines.joined(separator: "\n") + "\n"
}
