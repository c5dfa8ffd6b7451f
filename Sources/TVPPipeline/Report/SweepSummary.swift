import Foundation
import TVPEngine
import TVPPrompting

/// A sweep's tables and plots: one row per point with a column per swept key (its value), n, and
/// per task and protocol the targets' mean and the surrogate's value of the report metric on clean
/// images (`KeyMetrics`; without targets, the surrogate's alone), then the claims together.
///
/// - `summary.md`: percentages, as the results tables;
/// - `summary.csv`: raw values: the swept values as written, and fractions (as results.csv) for
///   the surrogate, every target all points share, the targets' mean and its interval's bounds;
/// - `summary.html`: the table and, for each numeric swept key, each task's metric against it (a
///   line per protocol, targets' mean with its interval solid, surrogate dashed; a line per value
///   of the other keys when several are swept; log x where the values span two decades or more).
///
/// A halving search (`HalvingSearch`) adds to each row the training steps of the last rung the
/// point reached and its kept validation accuracy there (Wilson 95 % interval for one training;
/// the mean for several), and to the page a plot of the validation accuracy at each rung against
/// each numeric swept key. Only the points of the last rung have test metrics.
struct SweepSummary {
    struct Row {
        var label: String
        var values: [String: JSONValue]
        var metrics: KeyMetrics?
        var claims: String
        var standing: HalvingSearch.Standing?
    }

    let keys: [String]
    private(set) var rows: [Row]
    /// (task, protocol) columns in the aggregates' order.
    let columns: [(task: String, evaluation: ProtocolSpec)]
    let metric: String
    let digits: Int
    let hasTargets: Bool

    /// Whether the rows carry a halving search's standings.
    var isSearch: Bool { rows.contains { $0.standing != nil } }

    init(points: [(point: PipelinePoint, aggregate: JSONValue?)], standings: [HalvingSearch.Standing?] = []) {
        let spec = points[0].point.spec
        metric = spec.report.metric
        digits = spec.report.digits
        hasTargets = !spec.targets.isEmpty
        var keys: [String] = []
        for assignment in points.flatMap(\.point.assignments) where !keys.contains(assignment.key.joined(separator: ".")) {
            keys.append(assignment.key.joined(separator: "."))
        }
        self.keys = keys
        columns = spec.tasks.flatMap { task in spec.evaluate.protocols.map { (task: task.name, evaluation: $0) } }
        let metric = self.metric
        rows = points.map { entry in
            var values: [String: JSONValue] = [:]
            for assignment in entry.point.assignments {
                values[assignment.key.joined(separator: ".")] = (try? JSONValue(yaml: assignment.value)) ?? .null
            }
            return Row(label: entry.point.label, values: values, metrics: entry.aggregate.map { KeyMetrics(aggregate: $0, metric: metric) },
                       claims: RunListing.claimsText(entry.aggregate))
        }
        for (index, standing) in standings.enumerated() where index < rows.count { rows[index].standing = standing }
    }

    /// The Wilson 95 % interval of a standing's validation accuracy (one training only: a mean over
    /// several trainings is no count of items).
    static func validationInterval(_ standing: HalvingSearch.Standing) -> Interval? {
        guard standing.trainings == 1, let accuracy = standing.accuracy, let n = standing.n, n > 0 else { return nil }
        return Statistics.wilsonInterval(correct: Int((accuracy * Double(n)).rounded()), total: n)
    }

    /// `16` (`16, failed at 32`): the steps of the last rung reached.
    static func stepsText(_ standing: HalvingSearch.Standing?) -> String {
        guard let standing else { return "–" }
        return "\(standing.steps)" + (standing.failedAt.map { ", failed at \($0)" } ?? "")
    }

    func validationText(_ standing: HalvingSearch.Standing?) -> String {
        guard let standing, let accuracy = standing.accuracy else { return "–" }
        if let interval = Self.validationInterval(standing) {
            return "\(percent(accuracy)) [\(percent(interval.low)), \(percent(interval.high))] (n=\(standing.n ?? 0))"
        }
        return "\(percent(accuracy)) (mean of \(standing.trainings), n=\(standing.n ?? 0) each)"
    }

    /// A swept value as written: strings bare, everything else canonical JSON.
    static func raw(_ value: JSONValue?) -> String {
        guard let value else { return "" }
        return value.stringValue ?? value.canonicalText
    }

    func cell(_ row: Row, _ column: (task: String, evaluation: ProtocolSpec)) -> KeyMetrics.Cell? {
        row.metrics?.cells.first { $0.task == column.task && $0.evaluation == column.evaluation }
    }

    func percent(_ x: Double?) -> String { x.map { String(format: "%.\(digits)f", $0 * 100) } ?? "–" }

    var header: [String] {
        let names = columns.map { "\($0.task) \($0.evaluation.title)" }
        return ["point"] + keys + (isSearch ? ["steps", "validation (95% CI)"] : []) + ["n"]
            + (hasTargets ? names.map { $0 + " targets" } : []) + names.map { $0 + " surrogate" } + ["claims"]
    }

    var displayRows: [[String]] {
        rows.map { row in
            let ns = Set(columns.compactMap { cell(row, $0)?.n }).sorted().map(String.init)
            return [row.label] + keys.map { Self.raw(row.values[$0]) }
                + (isSearch ? [Self.stepsText(row.standing), validationText(row.standing)] : []) + [ns.isEmpty ? "–" : ns.joined(separator: "/")]
                + (hasTargets ? columns.map { percent(cell(row, $0)?.targets) } : [])
                + columns.map { percent(cell(row, $0)?.surrogate) } + [row.claims]
        }
    }

    var caption: String {
        "\(metric) (%) on clean test items, n per cell; targets: their mean, surrogate: its value"
            + (isSearch ? "; halving: steps of the last rung each point reached, its kept validation accuracy there (%); "
                + "only the last rung's points are tested" : "")
    }

    var markdown: String {
        "**\(caption)**\n\n" + markdownTable(header: header, rows: displayRows, leftAligned: 1 + keys.count)
    }

    /// The targets every point evaluated, in order (a sweep over `targets` or `surrogate` changes them).
    var sharedTargets: [String] {
        let lists = rows.compactMap { $0.metrics?.targets }
        return (lists.first ?? []).filter { name in lists.allSatisfy { $0.contains(name) } }
    }

    /// Per task and protocol: the surrogate's value (the surrogates' mean), each shared target's, the
    /// targets' mean with its interval's bounds, and n.
    var csv: String {
        let targets = sharedTargets
        var header = ["point"] + keys
        if isSearch { header += ["steps", "finished", "validation_accuracy", "validation_low", "validation_high", "validation_n", "validation_loss"] }
        for column in columns {
            let prefix = "\(column.task)/\(column.evaluation.rawValue)"
            header += ["\(prefix)/surrogate"] + targets.map { "\(prefix)/\($0)" }
            if hasTargets { header += ["\(prefix)/targets", "\(prefix)/targets/low", "\(prefix)/targets/high"] }
            header.append("\(prefix)/n")
        }
        header.append("claims")
        let lines = rows.map { row -> [String] in
            func text(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
            var line = [row.label] + keys.map { Self.raw(row.values[$0]) }
            if isSearch {
                let standing = row.standing, interval = standing.flatMap(Self.validationInterval)
                line += [standing.map { "\($0.steps)" } ?? "", standing.map { "\($0.finished)" } ?? "", text(standing?.accuracy),
                         text(interval?.low), text(interval?.high), standing?.n.map(String.init) ?? "", text(standing?.loss)]
            }
            for column in columns {
                let cell = self.cell(row, column)
                line.append(text(cell?.surrogate))
                line += targets.map { name in text(cell?.models.first { $0.name == name }?.value ?? nil) }
                if hasTargets { line += [text(cell?.targets), text(cell?.targetsInterval?.low), text(cell?.targetsInterval?.high)] }
                line.append(cell?.n.map(String.init) ?? "")
            }
            return line + [row.claims]
        }
        return ([header] + lines).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// The keys whose every value is a number, with at least two distinct values.
    var numericKeys: [String] {
        keys.filter { key in
            let values = rows.map { $0.values[key]?.doubleValue }
            return values.allSatisfy { $0 != nil } && Set(values.compactMap { $0 }).count > 1
        }
    }

    /// One plot per numeric swept key and task.
    var plots: [String] {
        numericKeys.flatMap { key in
            let xs = rows.compactMap { $0.values[key]?.doubleValue }
            let logX = xs.allSatisfy { $0 > 0 } && (xs.max()! / xs.min()! >= 100)
            return Array(Set(columns.map(\.task))).sorted().map { task in
                var series: [LossPlot.Series] = []
                // Points that differ in other keys than `key` form separate lines.
                func others(_ row: Row) -> String {
                    keys.filter { $0 != key }.map { "\($0.split(separator: ".").last!)=\(Self.raw(row.values[$0]))" }.joined(separator: ",")
                }
                var groups: [String] = []
                for row in rows where !groups.contains(others(row)) { groups.append(others(row)) }
                for column in columns where column.task == task {
                    for group in groups {
                        let members = rows.filter { others($0) == group }.sorted { ($0.values[key]?.doubleValue ?? 0) < ($1.values[key]?.doubleValue ?? 0) }
                        let suffix = group.isEmpty ? "" : " (\(group))"
                        if hasTargets {
                            let cells = members.map { (x: $0.values[key]?.doubleValue ?? .nan, cell: cell($0, column)) }
                            series.append(.init(name: "\(column.evaluation.title) targets\(suffix)",
                                                points: cells.map { ($0.x, ($0.cell?.targets ?? .nan) * 100) },
                                                intervals: cells.map { $0.cell?.targetsInterval.map { ($0.low * 100, $0.high * 100) } }))
                        }
                        series.append(.init(name: "\(column.evaluation.title) surrogate\(suffix)",
                                            points: members.map { ($0.values[key]?.doubleValue ?? .nan, (cell($0, column)?.surrogate ?? .nan) * 100) },
                                            dashed: hasTargets))
                    }
                }
                return LossPlot.svg(title: "\(task) · \(metric) against \(key)", series: series, xLabel: key + (logX ? " (log)" : ""),
                                    yLabel: "\(metric) (%)", width: 560, height: 340, logX: logX)
            }
        }
    }

    /// One plot per numeric swept key: each rung's validation accuracy of the points that reached it.
    var rungPlots: [String] {
        guard isSearch else { return [] }
        let steps = Array(Set(rows.flatMap { $0.standing?.history.map(\.steps) ?? [] })).sorted()
        return numericKeys.map { key in
            let xs = rows.compactMap { $0.values[key]?.doubleValue }
            let logX = xs.allSatisfy { $0 > 0 } && (xs.max()! / xs.min()! >= 100)
            let series = steps.map { step in
                LossPlot.Series(name: "after \(step) steps", points: rows.compactMap { row in
                    guard let x = row.values[key]?.doubleValue, let entry = row.standing?.history.first(where: { $0.steps == step }) else { return nil }
                    return (x, entry.accuracy * 100)
                }.sorted { $0.0 < $1.0 })
            }
            return LossPlot.svg(title: "validation accuracy at each rung against \(key)", series: series, xLabel: key + (logX ? " (log)" : ""),
                                yLabel: "validation accuracy (%)", width: 560, height: 340, logX: logX)
        }
    }

    func html(title: String) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>\(escapeHTML(title)) sweep</title>\n"
        out += "<style>\n\(HTMLReport.style)\n</style>\n</head>\n<body>\n<h1>\(escapeHTML(title)) sweep: \(rows.count) points</h1>\n"
        out += htmlTable(caption: caption, note: "swept: " + keys.joined(separator: ", ") + "; each point's report: points/LABEL/report.html",
                         header: header, rows: displayRows)
        let rungPlots = self.rungPlots
        if !rungPlots.isEmpty {
            out += "<h2>Halving: validation at each rung</h2>\n<p>Each point's kept validation accuracy after each rung it trained to; "
                + "the best go on to the next rung.</p>\n<div class=\"figures\">\n" + rungPlots.map { "<figure>\n\($0)</figure>\n" }.joined() + "</div>\n"
        }
        let plots = self.plots
        if !plots.isEmpty {
            out += "<h2>Against the swept values</h2>\n<p>Bars: the targets' mean's 95% bootstrap interval over test items.</p>\n"
            out += "<div class=\"figures\">\n" + plots.map { "<figure>\n\($0)</figure>\n" }.joined() + "</div>\n"
        }
        out += "<h2>Points</h2>\n<ul>\n"
        for row in rows {
            // A point halving stopped has no test evaluation, so no report.
            if let standing = row.standing, !standing.finished {
                out += "<li>\(escapeHTML(row.label)): stopped after \(standing.steps) steps</li>\n"
            } else {
                out += "<li><a href=\"points/\(escapeHTML(fileSafe(row.label)))/report.html\">\(escapeHTML(row.label))</a></li>\n"
            }
        }
        return out + "</ul>\n</body>\n</html>\n"
    }
}
