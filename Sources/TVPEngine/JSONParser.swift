import Foundation
import TVPFormats

extension JSONValue {
    /// Parses JSON text (RFC 8259) with Foundation's `JSONSerialization`: integers that fit in `Int`
    /// become `.integer`, other numbers `.double`. Errors name `source` and where the text stops
    /// being JSON.
    public static func parse(_ text: String, source: String = "JSON") throws -> JSONValue {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw FormatError(source, "not JSON: \(reason)")
        }
        return try JSONValue(foundation: object, source: source)
    }

    /// The value of what `JSONSerialization` returns.
    init(foundation object: Any, source: String) throws {
        switch object {
        case is NSNull:
            self = .null
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": self = .bool(number.boolValue)                     // JSON true / false
            case "d", "f", "Q": self = .double(number.doubleValue)            // fractions, exponents, beyond Int
            default: self = .integer(number.intValue)
            }
        case let array as [Any]:
            self = .array(try array.map { try JSONValue(foundation: $0, source: source) })
        case let members as [String: Any]:
            self = .object(try members.mapValues { try JSONValue(foundation: $0, source: source) })
        default:
            throw FormatError(source, "not JSON: an unexpected \(type(of: object))")
        }
    }
}
