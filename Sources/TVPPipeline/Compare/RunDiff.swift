import Foundation
import TVPEngine
import TVPPrompting

/// `tvp-run diff RUN_A RUN_B`: what differs between two runs (or sweep points).
///
/// - the parameters: every key of the flattened resolved configs whose values differ;
/// - the accuracy of each task, protocol and model both runs evaluated (and the targets pooled,
///   where they share two or more), on clean images, each with its Wilson interval and n; where
///   both runs scored the same test items (the same `load[TASK/test]` stage key in meta.json, so
///   the same items in the same order, and as many per-item results) B − A is a paired difference
///   with its bootstrap interval and the exact McNemar p (`Statistics.pairedComparison`); on
///   different items no difference is printed, only the two intervals;
/// - the trainings' loss curves, overlaid (`DiffPage`).
public struct RunDiff {
    struct Side {
        var run: RunRecord
        var point: RunRecord.Point
        var aggregate: JSONValue
        var statistics: ResultStatistics
        var title: String { point.label.isEmpty ? point.folder : "\(point.folder) (\(point.label))" }
    }

    public struct Row: Sendable {
        public var task: String
        public var evaluation: ProtocolSpec
        /// A model, or `targets (pooled)`.
        public var model: String
        public var a: Double?
        public var b: Double?
        public var aInterval: Interval?
        public var bInterval: Interval?
        public var aN: Int?
        public var bN: Int?
        /// B − A on the same items; nil when the items differ or are missing.
        public var paired: PairedComparison?
        /// Why there is no paired difference.
        public var unpaired: String?
    }

    let a: Side
    let b: Side
    /// Keys of the resolved config that differ, with both values (nil: the key is absent).
    public let parameters: [(key: String, a: String?, b: String?)]
    public let rows: [Row]
    let confidence = Statistics.defaultConfidence

    public init(_ first: (run: RunRecord, point: RunRecord.Point), _ second: (run: RunRecord, point: RunRecord.Point)) throws {
        func side(_ entry: (run: RunRecord, point: RunRecord.Point)) throws -> Side {
            guard let aggregate = entry.point.aggregate else {
                throw UsageError("\(entry.point.folder) has no results.json (its aggregate stage did not run): nothing to compare; " +
                                 "rerun the pipeline to finish it")
            }
            return Side(run: entry.run, point: entry.point, aggregate: aggregate,
                        statistics: ResultStatistics(results: aggregate["results"]?.arrayValue ?? []))
        }
        a = try side(first)
        b = try side(second)
        let configA = FlatConfig(a.point.config), configB = FlatConfig(b.point.config)
        parameters = configA.differences(from: configB).map { ($0, configA[$0], configB[$0]) }

        func list(_ aggregate: JSONValue, _ key: String) -> [String] { (aggregate[key]?.arrayValue ?? []).compactMap(\.stringValue) }
        func models(_ aggregate: JSONValue, _ role: String) -> [String] {
            (aggregate["models"]?.arrayValue ?? []).filter { $0["role"]?.stringValue == role }.compactMap { $0["name"]?.stringValue }
        }
        let tasks = list(a.aggregate, "tasks").filter(list(b.aggregate, "tasks").contains)
        let protocols = list(a.aggregate, "protocols").filter(list(b.aggregate, "protocols").contains).compactMap(ProtocolSpec.init(rawValue:))
        let surrogates = models(a.aggregate, "surrogate").filter(models(b.aggregate, "surrogate").contains)
        let targets = models(a.aggregate, "target").filter(models(b.aggregate, "target").contains)
        var rows: [Row] = []
        let (sideA, sideB) = (a, b)
        for task in tasks {
            let keyA = a.run.testSplitKey(task: task, point: a.point), keyB = b.run.testSplitKey(task: task, point: b.point)
            let sameItems = keyA != nil && keyA == keyB
            for evaluation in protocols {
                for group in ResultStatistics.groups(surrogates: surrogates, targets: targets) {
                    func items(_ side: Side) -> [[Bool]]? {
                        let all = group.models.compactMap { side.statistics.items(task, $0, evaluation, corruption: nil) }
                        return all.count == group.models.count ? all : nil
                    }
                    func accuracy(_ hits: [[Bool]]?) -> (value: Double, interval: Interval?, n: Int)? {
                        guard let hits, let n = hits.first?.count, n > 0 else { return nil }
                        let correct = hits.joined().filter { $0 }.count, total = hits.joined().count
                        let value = Double(correct) / Double(total)
                        // A model's own Wilson interval; the pooled mean's comes from the bootstrap of the aggregate's `means`.
                        return (value, group.pooled ? nil : Statistics.wilsonInterval(correct: correct, total: total), n)
                    }
                    let (hitsA, hitsB) = (items(sideA), items(sideB))
                    guard let left = accuracy(hitsA), let right = accuracy(hitsB) else { continue }
                    var row = Row(task: task, evaluation: evaluation,
                                  model: group.pooled ? "\(group.name) (pooled)" : surrogates.contains(group.name) ? "\(group.name) (surrogate)" : group.name,
                                  a: left.value, b: right.value, aInterval: left.interval, bInterval: right.interval, aN: left.n, bN: right.n)
                    if group.pooled {
                        row.aInterval = RunDiff.meanInterval(sideA.aggregate, task: task, evaluation: evaluation)
                        row.bInterval = RunDiff.meanInterval(sideB.aggregate, task: task, evaluation: evaluation)
                    }
                    if !sameItems {
                        row.unpaired = keyA == nil || keyB == nil ? "test split not recorded" : "different test items"
                    } else if let hitsA, let hitsB, zip(hitsA, hitsB).allSatisfy({ $0.count == $1.count }) {
                        row.paired = Statistics.pairedComparison(zip(hitsB, hitsA).map { (left: $0, right: $1) }, confidence: confidence)
                    } else {
                        row.unpaired = "item counts differ"
                    }
                    rows.append(row)
                }
            }
        }
        self.rows = rows
    }

    /// The aggregate's bootstrap interval of the targets' mean accuracy (its `means`), if any.
    static func meanInterval(_ aggregate: JSONValue, task: String, evaluation: ProtocolSpec) -> Interval? {
        let entry = (aggregate["means"]?.arrayValue ?? []).first {
            $0["task"]?.stringValue == task && $0["protocol"]?.stringValue == evaluation.rawValue && $0["corruption"] == .null
        }
        guard let low = entry?["low"]?.doubleValue, let high = entry?["high"]?.doubleValue else { return nil }
        return Interval(low: low, high: high)
    }

    // MARK: - text

    static func percent(_ x: Double?) -> String { x.map { String(format: "%.1f", $0 * 100) } ?? "–" }

    func cell(_ value: Double?, _ interval: Interval?) -> String {
        guard let value else { return "–" }
        return interval.map { "\(Self.percent(value)) [\(Self.percent($0.low)), \(Self.percent($0.high))]" } ?? Self.percent(value)
    }

    func differenceCell(_ row: Row) -> String {
        guard let paired = row.paired else { return "not paired: \(row.unpaired ?? "")" }
        return "\(StatisticsFormat.points(paired.difference)) \(StatisticsFormat.interval(paired.interval.low, paired.interval.high)) "
            + "p=\(StatisticsFormat.pValue(paired.p))"
    }

    func nCell(_ row: Row) -> String {
        if let paired = row.paired { return paired.pairs == paired.items ? "\(paired.pairs)" : "\(paired.pairs) (\(paired.items) items)" }
        return row.aN == row.bN ? "\(row.aN ?? 0)" : "\(row.aN ?? 0) / \(row.bN ?? 0)"
    }

    var parameterRows: [[String]] { parameters.map { [$0.key, $0.a ?? "(absent)", $0.b ?? "(absent)"] } }

    var metricHeader: [String] { ["task", "protocol", "model", "A", "B", "B − A", "n"] }

    var metricRows: [[String]] {
        rows.map { row in
            [row.task, row.evaluation.title, row.model, cell(row.a, row.aInterval), cell(row.b, row.bInterval), differenceCell(row), nCell(row)]
        }
    }

    var metricCaption: String {
        let level = StatisticsFormat.level(confidence)
        return "accuracy (%) on clean test items, \(level) intervals (Wilson; pooled targets: bootstrap over items); "
            + "B − A in points on the same items with its \(level) paired bootstrap CI and the exact McNemar p"
    }

    public var text: String {
        var out = "A: \(a.title)\nB: \(b.title)\n\n"
        if parameters.isEmpty {
            out += "parameters: the resolved configs are identical\n"
        } else {
            out += alignedText(lines: ["parameters that differ (resolved config, \(parameters.count)):"],
                               header: ["key", "A", "B"], rows: parameterRows, leftAligned: 3)
        }
        out += "\n"
        if rows.isEmpty {
            out += "no task, protocol and model evaluated by both runs with per-item results\n"
        } else {
            out += alignedText(lines: [metricCaption], header: metricHeader, rows: metricRows, leftAligned: 3)
        }
        return out
    }

    public var json: JSONValue {
        func number(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
        return [
            "a": .string(a.point.folder), "b": .string(b.point.folder), "confidence": .double(confidence),
            "parameters": .array(parameters.map { ["key": .string($0.key), "a": $0.a.map { .string($0) } ?? .null,
                                                    "b": $0.b.map { .string($0) } ?? .null] }),
            "metrics": .array(rows.map { row in
                var object: [String: JSONValue] = [
                    "task": .string(row.task), "protocol": .string(row.evaluation.rawValue), "model": .string(row.model),
                    "a": number(row.a), "b": number(row.b), "a_low": number(row.aInterval?.low), "a_high": number(row.aInterval?.high),
                    "b_low": number(row.bInterval?.low), "b_high": number(row.bInterval?.high),
                    "a_n": row.aN.map { .integer($0) } ?? .null, "b_n": row.bN.map { .integer($0) } ?? .null,
                ]
                if let paired = row.paired {
                    object["difference"] = .double(paired.difference)
                    object["low"] = .double(paired.interval.low)
                    object["high"] = .double(paired.interval.high)
                    object["p"] = .double(paired.p)
                    object["b_discordant"] = .integer(paired.b)
                    object["c_discordant"] = .integer(paired.c)
                    object["pairs"] = .integer(paired.pairs)
                } else {
                    object["unpaired"] = .string(row.unpaired ?? "")
                }
                return .object(object)
            }),
        ]
    }
}
