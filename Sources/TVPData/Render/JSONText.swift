import Foundation
import TVPFormats

/// A JSON value with ordered object keys and fixed number formatting, so written files are
/// byte-identical for the same content (Foundation's serializers promise neither key order nor digits).
indirect enum JSONText {
    case object([(String, JSONText)])
    case array([JSONText])
    case string(String)
    case int(Int)
    /// Written with at most 6 decimals, in Swift's shortest round-trip form.
    case number(Double)
    case bool(Bool)

    static func vector(_ v: Vector3) -> JSONText { .array([.number(Double(v.x)), .number(Double(v.y)), .number(Double(v.z))]) }

    /// Compact JSON (no spaces, like Python's `json.dump` with separators (",", ":")); `indent` > 0 breaks
    /// the top levels over lines for readability down to depth `indent`.
    func serialized(indent: Int = 0) -> String {
        var out = ""
        write(to: &out, depth: 0, indent: indent)
        return out
    }

    private func write(to out: inout String, depth: Int, indent: Int) {
        let newline = depth < indent ? "\n" + String(repeating: " ", count: 2 * (depth + 1)) : ""
        let closing = depth < indent ? "\n" + String(repeating: " ", count: 2 * depth) : ""
        switch self {
        case .object(let pairs):
            out += "{"
            for (i, (key, value)) in pairs.enumerated() {
                out += (i > 0 ? "," : "") + newline
                JSONText.string(key).write(to: &out, depth: depth + 1, indent: indent)
                out += ":"
                value.write(to: &out, depth: depth + 1, indent: indent)
            }
            out += (pairs.isEmpty ? "" : closing) + "}"
        case .array(let items):
            out += "["
            for (i, value) in items.enumerated() {
                out += (i > 0 ? "," : "") + newline
                value.write(to: &out, depth: depth + 1, indent: indent)
            }
            out += (items.isEmpty ? "" : closing) + "]"
        case .string(let text):
            out += canonicalJSONString(text)
        case .int(let value):
            out += String(value)
        case .number(let value):
            let rounded = (value * 1e6).rounded() / 1e6
            out += value.isFinite ? (rounded == 0 ? "0.0" : "\(rounded)") : "null"
        case .bool(let value):
            out += value ? "true" : "false"
        }
    }
}
