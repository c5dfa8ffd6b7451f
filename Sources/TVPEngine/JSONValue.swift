import Foundation
import TVPFormats

/// A JSON value for stage parameters, stage results and cache manifests.
///
/// Its `canonicalText` follows the same rules as `YAMLNode.canonicalJSON()` (close to RFC 8785,
/// JCS): object keys sorted by UTF-16 code units, no whitespace, numbers in JavaScript notation
/// (`.integer(1)` and `.double(1.0)` both write `1`), so equal data always hashes to the same key.
/// Non-finite doubles, which JSON cannot hold, write the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
public enum JSONValue: Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The canonical JSON text (see the type's documentation).
    public var canonicalText: String {
        var out = ""
        write(into: &out)
        return out
    }

    public var description: String { canonicalText }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .double(let value): out += canonicalNumber(value)
        case .string(let value): out += canonicalJSONString(value)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in JSONValue.sortedKeys(members).enumerated() {
                if index > 0 { out += "," }
                out += canonicalJSONString(key)
                out += ":"
                members[key]!.write(into: &out)
            }
            out += "}"
        }
    }

    /// Object keys in canonical order (UTF-16 code units, as JCS sorts them).
    public static func sortedKeys(_ members: [String: JSONValue]) -> [String] {
        members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
    }

    /// The YAML tree as JSON, typed by the YAML 1.2 core schema exactly as `canonicalJSON()` types it
    /// (integers beyond 64 bits become doubles).
    public init(yaml node: YAMLNode) throws {
        self = try JSONValue.parse(node.canonicalJSON())
    }

    /// A member of an object, or nil (also for non-objects).
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The text of a string value, or nil.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of an integer (or integral double) value, or nil.
    public var intValue: Int? {
        switch self {
        case .integer(let value): return value
        case .double(let value): return value.rounded() == value && abs(value) < 9.0e18 ? Int(value) : nil
        default: return nil
        }
    }

    /// The value of a number, or nil.
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The items of an array, or nil.
    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}

/// Two values are equal when their canonical texts are (so `1` equals `1.0`).
extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.canonicalText == rhs.canonicalText
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}
