import Foundation
import TVPFormats

extension JSONValue: Decodable {
    /// Any JSON value: integers that fit in `Int` become `.integer`, other numbers `.double`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses JSON text (RFC 8259) with Foundation's `JSONDecoder`, whose numbers read back exactly
    /// what `canonicalText` wrote. Errors name `source` and, from `JSONSerialization`'s diagnosis of
    /// the same text, where it stops being JSON.
    public static func parse(_ text: String, source: String = "JSON") throws -> JSONValue {
        let data = Data(text.utf8)
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            var reason = "\(error)"
            do { _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch let diagnosis as NSError {
                reason = diagnosis.userInfo[NSDebugDescriptionErrorKey] as? String ?? reason
            }
            throw FormatError(source, "not JSON: \(reason)")
        }
    }
}
