import Foundation
import TVPEngine
import TVPPrompting

/// The paired differences (the aggregate's `comparisons`): one row per model (the surrogate marked)
/// and per pooled group (`targets (pooled)`, `surrogates (pooled)`), one column per task and
/// comparison (`digits TVP − zero-shot`); each cell is the difference in points on the same test
/// items with its bootstrap interval and the exact McNemar p: `+5.0 [+1.2, +9.1] p=0.012`.
public struct PairedTable: Sendable {
    /// The corruption label these comparisons are under, or nil for clean images.
    public let corruption: String?
    /// `model`, then `task LEFT − RIGHT` per task and compared pair.
    public let header: [String]
    /// Display rows (`–` where a comparison is missing); empty when nothing is compared.
    public let rows: [[String]]
    let level: String

    public static let csvHeader = ["task", "corruption", "model", "pooled", "left", "right", "difference", "low", "high",
                                   "b", "c", "p", "n", "items"]

    public init(aggregate: JSONValue, digits: Int, corruption: String?) {
        self.corruption = corruption
        level = StatisticsFormat.level(aggregate["confidence"]?.doubleValue ?? Statistics.defaultConfidence)
        let tasks = (aggregate["tasks"]?.arrayValue ?? []).compactMap(\.stringValue)
        let protocols = (aggregate["protocols"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ProtocolSpec.init(rawValue:)) }
        let models = aggregate["models"]?.arrayValue ?? []
        func names(_ role: String) -> [String] { models.filter { $0["role"]?.stringValue == role }.compactMap { $0["name"]?.stringValue } }
        let comparisons = (aggregate["comparisons"]?.arrayValue ?? []).filter { $0["corruption"]?.stringValue == corruption }
        let pairs = ResultStatistics.comparedPairs(protocols)
        header = ["model"] + tasks.flatMap { task in pairs.map { "\(task) \($0.left.title) − \($0.right.title)" } }
        guard !pairs.isEmpty, !comparisons.isEmpty else { rows = []; return }
        let surrogates = names("surrogate")
        rows = ResultStatistics.groups(surrogates: surrogates, targets: names("target")).map { group in
            let label = group.pooled ? "\(group.name) (pooled)" : surrogates.contains(group.name) ? "\(group.name) (surrogate)" : group.name
            return [label] + tasks.flatMap { task in pairs.map { pair -> String in
                guard let entry = comparisons.first(where: {
                    $0["task"]?.stringValue == task && $0["model"]?.stringValue == group.name && $0["pooled"] == .bool(group.pooled)
                        && $0["left"]?.stringValue == pair.left.rawValue && $0["right"]?.stringValue == pair.right.rawValue
                }), let difference = entry["difference"]?.doubleValue, let low = entry["low"]?.doubleValue,
                      let high = entry["high"]?.doubleValue, let p = entry["p"]?.doubleValue else { return "–" }
                return "\(StatisticsFormat.points(difference, digits: digits)) \(StatisticsFormat.interval(low, high, digits: digits)) p=\(StatisticsFormat.pValue(p))"
            } }
        }
    }

    /// `paired differences (points, 95% CI, McNemar p)`, with the corruption.
    public var caption: String { "paired differences (points, \(level) CI, McNemar p)" + (corruption.map { " under \($0)" } ?? "") }

    /// The line under the caption.
    public var note: String {
        "left − right on the same test items; pooled rows average the models' pairs and resample items (cluster bootstrap)"
    }

    public var markdown: String {
        ["**\(caption)**", "", note, ""].joined(separator: "\n") + "\n" + markdownTable(header: header, rows: rows, leftAligned: 1)
    }

    /// The plain-text table for the console.
    public var text: String { alignedText(lines: [caption], header: header, rows: rows) }

    /// An HTML `<table>` (escaped), surrogate rows in italics.
    public var html: String { htmlTable(caption: caption, note: note, header: header, rows: rows) }

    /// Every comparison of the aggregate (clean and corrupted) as CSV, fractions not points.
    public static func csv(aggregate: JSONValue) -> String {
        let rows = (aggregate["comparisons"]?.arrayValue ?? []).map { entry in
            csvHeader.map { key -> String in
                switch entry[key] {
                case .string(let text)?: return text
                case .integer(let n)?: return String(n)
                case .double(let x)?: return "\(x)"
                case .bool(let flag)?: return flag ? "true" : "false"
                default: return ""
                }
            }
        }
        return ([csvHeader] + rows).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }
}
