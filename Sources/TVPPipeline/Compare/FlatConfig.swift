import TVPEngine
import TVPFormats

/// A resolved configuration (config.json) as dotted keys and canonical JSON values, sorted by key:
/// `train.lr` → `0.5`, `evaluate.protocols` → `["zero-shot-official","tvp"]` (lists are one value).
/// What `tvp-run runs --where` matches and `tvp-run diff` compares.
struct FlatConfig: Equatable {
    private(set) var values: [String: String] = [:]

    init(_ config: JSONValue?) {
        func visit(_ value: JSONValue, _ prefix: String) {
            if case .object(let members) = value, !members.isEmpty {
                for (key, member) in members { visit(member, prefix.isEmpty ? key : prefix + "." + key) }
            } else if !prefix.isEmpty {
                values[prefix] = value.canonicalText
            }
        }
        if let config { visit(config, "") }
    }

    var keys: [String] { values.keys.sorted() }

    subscript(key: String) -> String? { values[key] }

    /// The keys whose values differ (or that only one side has), sorted.
    func differences(from other: FlatConfig) -> [String] {
        Set(values.keys).union(other.values.keys).filter { values[$0] != other.values[$0] }.sorted()
    }

    /// `VALUE` of a `KEY=VALUE` filter as canonical JSON (YAML flow syntax, as `--set` reads it).
    static func canonical(_ text: String, source: String) throws -> String {
        let node = try Override(parsing: "x=" + text, flag: source).value
        return try node.map { try JSONValue(yaml: $0).canonicalText } ?? "null"
    }
}
