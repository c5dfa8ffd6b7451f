import Foundation
import TVPEngine
import TVPPrompting
import TVPTensor

/// The paper's table: one row per model (the surrogate marked), one column group per task with a
/// column per protocol (zero-shot / VP / TVP), values in percent; a final row averages the targets.
/// With the accuracy each cell shows its interval (a result's Wilson interval; for the targets'
/// mean, the bootstrap interval over items) and a line under the caption says n.
public struct ResultsTable: Sendable {
    /// The corruption label these results are under, or nil for clean images.
    public let corruption: String?
    public let metric: String
    /// Column titles: `model`, then `task protocol` for each task and protocol.
    public let header: [String]
    /// Display rows (percentages with the chosen digits, then ` [low, high]` where an interval is
    /// known; `–` where a result is missing).
    public let rows: [[String]]
    /// Raw rows for CSV: model, role, then per task and protocol the metric as a fraction, the
    /// interval's bounds and n (empty where missing).
    public let rawRows: [[String]]
    /// The line under the caption: the interval's kind and the test items per cell (nil without intervals).
    public let note: String?
    /// Per row and column, the paired difference of a prompted protocol against zero-shot on the
    /// same items (`+5.0 [+1.2, +9.1] p=0.012`, from the aggregate's `comparisons`; `–` where
    /// missing), nil for a column that is not a prompted protocol: the HTML table's delta columns.
    let deltas: [[String?]]
    /// The title of each delta column (nil where there is none).
    let deltaHeader: [String?]

    /// Lays out the `aggregate` stage's result.
    public init(aggregate: JSONValue, metric: String, digits: Int, corruption: String?) {
        self.corruption = corruption
        self.metric = metric
        let tasks = (aggregate["tasks"]?.arrayValue ?? []).compactMap(\.stringValue)
        let protocols = (aggregate["protocols"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ProtocolSpec.init(rawValue:)) }
        let models = (aggregate["models"]?.arrayValue ?? []).compactMap { entry -> (name: String, role: String)? in
            guard let name = entry["name"]?.stringValue else { return nil }
            return (name, entry["role"]?.stringValue ?? "target")
        }
        let results = aggregate["results"]?.arrayValue ?? []
        func result(_ task: String, _ model: String, _ evaluation: ProtocolSpec) -> JSONValue? {
            results.first {
                $0["task"]?.stringValue == task && $0["model"]?.stringValue == model
                    && $0["protocol"]?.stringValue == evaluation.rawValue && $0["corruption"]?.stringValue == corruption
            }
        }
        let withIntervals = metric == "accuracy"
        /// A cell: the value, its interval (accuracy only) and n.
        typealias Cell = (value: Double?, low: Double?, high: Double?, n: Int?)
        func cell(_ task: String, _ model: String, _ evaluation: ProtocolSpec) -> Cell {
            let entry = result(task, model, evaluation)
            let interval = withIntervals ? entry?["interval"] : nil
            return (entry?["metrics"]?[metric]?.doubleValue, interval?["low"]?.doubleValue, interval?["high"]?.doubleValue,
                    entry?["n"]?.intValue ?? entry?["count"]?.intValue)
        }
        func percent(_ x: Double?) -> String { x.map { String(format: "%.\(digits)f", $0 * 100) } ?? "–" }
        func display(_ cell: Cell) -> String {
            guard let value = cell.value else { return "–" }
            guard let low = cell.low, let high = cell.high else { return percent(value) }
            return "\(percent(value)) [\(percent(low)), \(percent(high))]"
        }
        func raw(_ cell: Cell) -> [String] {
            [cell.value, cell.low, cell.high].map { $0.map { "\($0)" } ?? "" } + [cell.n.map(String.init) ?? ""]
        }
        var header = ["model"], csvHeader = ["model", "role"]
        for task in tasks {
            for evaluation in protocols {
                header.append("\(task) \(evaluation.title)")
                let column = "\(task)/\(evaluation.rawValue)"
                csvHeader += [column, column + "/low", column + "/high", column + "/n"]
            }
        }
        var rows: [[String]] = [], rawRows: [[String]] = [csvHeader]
        for model in models {
            let cells = tasks.flatMap { task in protocols.map { cell(task, model.name, $0) } }
            rows.append([model.role == "surrogate" ? "\(model.name) (surrogate)" : model.name] + cells.map(display))
            rawRows.append([model.name, model.role] + cells.flatMap(raw))
        }
        let targets = models.filter { $0.role == "target" }.map(\.name)
        if targets.count > 1 {
            let means = aggregate["means"]?.arrayValue ?? []
            let cells = tasks.flatMap { task in protocols.map { evaluation -> Cell in
                let values = targets.compactMap { result(task, $0, evaluation)?["metrics"]?[metric]?.doubleValue }
                let mean = values.count == targets.count ? values.reduce(0, +) / Double(values.count) : nil
                let pooled = withIntervals ? means.first {
                    $0["task"]?.stringValue == task && $0["protocol"]?.stringValue == evaluation.rawValue
                        && $0["corruption"]?.stringValue == corruption && $0["group"]?.stringValue == "targets"
                } : nil
                return (mean, pooled?["low"]?.doubleValue, pooled?["high"]?.doubleValue, pooled?["items"]?.intValue)
            } }
            rows.append(["mean (targets)"] + cells.map(display))
            rawRows.append(["mean", "targets"] + cells.flatMap(raw))
        }
        self.header = header
        self.rows = rows
        self.rawRows = rawRows
        let comparisons = (aggregate["comparisons"]?.arrayValue ?? []).filter { $0["corruption"]?.stringValue == corruption }
        let baseline = [ProtocolSpec.zeroShotOfficial, .zeroShotNative].first(where: protocols.contains)
        let columns = tasks.flatMap { task in protocols.map { (task: task, evaluation: $0) } }
        let deltaHeader = columns.map { column -> String? in
            guard let baseline, column.evaluation.variant != nil else { return nil }
            return "\(column.task) \(column.evaluation.title) − \(baseline.title)"
        }
        self.deltaHeader = deltaHeader
        let groups = models.map { (name: $0.name, pooled: false) } + (targets.count > 1 ? [(name: "targets", pooled: true)] : [])
        deltas = groups.map { group -> [String?] in
            zip(columns, deltaHeader).map { column, title -> String? in
                guard title != nil, let baseline else { return nil }
                guard let entry = comparisons.first(where: {
                    $0["task"]?.stringValue == column.task && $0["model"]?.stringValue == group.name && $0["pooled"] == .bool(group.pooled)
                        && $0["left"]?.stringValue == column.evaluation.rawValue && $0["right"]?.stringValue == baseline.rawValue
                }), let difference = entry["difference"]?.doubleValue, let low = entry["low"]?.doubleValue,
                      let high = entry["high"]?.doubleValue, let p = entry["p"]?.doubleValue else { return "–" }
                return "\(StatisticsFormat.points(difference, digits: digits)) \(StatisticsFormat.interval(low, high, digits: digits)) "
                    + "p=\(StatisticsFormat.pValue(p))"
            }
        }
        let level = StatisticsFormat.level(aggregate["confidence"]?.doubleValue ?? Statistics.defaultConfidence)
        // Test items per cell, per task (a task's results normally share one test split).
        let counts = tasks.map { task in
            (task, Set(models.flatMap { model in protocols.compactMap { cell(task, model.name, $0).n } }).sorted())
        }.filter { !$0.1.isEmpty }
        var parts: [String] = []
        if rows.contains(where: { $0.dropFirst().contains { $0.contains("[") } }) {
            parts.append("in brackets the \(level) interval (Wilson per result" + (targets.count > 1 ? ", bootstrap over items for the targets' mean)" : ")"))
        }
        if Set(counts.flatMap(\.1)).count == 1 {
            parts.append("n = \(counts[0].1[0]) test items per cell")
        } else if !counts.isEmpty {
            parts.append("n = " + counts.map { "\($0.1.map(String.init).joined(separator: "/")) (\($0.0))" }.joined(separator: ", ")
                         + " test items per cell")
        }
        note = parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// A caption: `accuracy (%)`, `accuracy (%) under gaussian-noise-3`.
    public var caption: String { "\(metric) (%)" + (corruption.map { " under \($0)" } ?? "") }

    /// A GitHub-flavoured Markdown table under a caption line.
    public var markdown: String {
        (["**\(caption)**", ""] + (note.map { [$0, ""] } ?? [])).joined(separator: "\n") + "\n" + markdownTable(header: header, rows: rows, leftAligned: 1)
    }

    /// RFC 4180 CSV of the raw values (fractions, not percent).
    public var csv: String {
        rawRows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// The plain-text table for the console.
    public var text: String { alignedText(lines: [caption] + (note.map { [$0] } ?? []), header: header, rows: rows) }

    /// An HTML `<table>` (escaped), surrogate rows in italics, with a delta column after each
    /// prompted protocol (its paired difference against zero-shot in points, CI and McNemar p).
    public var html: String {
        guard deltaHeader.contains(where: { $0 != nil }) else { return htmlTable(caption: caption, note: note, header: header, rows: rows) }
        func interleave(_ row: [String], _ extra: [String?]) -> [String] {
            [row[0]] + zip(row.dropFirst(), extra).flatMap { cell, delta in [cell] + (delta.map { [$0] } ?? []) }
        }
        let note = (self.note.map { $0 + "; " } ?? "") + "− columns: paired difference on the same items in points, CI, McNemar p"
        return htmlTable(caption: caption, note: note, header: interleave(header, deltaHeader),
                         rows: zip(rows, deltas).map { interleave($0, $1) })
    }
}

/// A console table: `lines` above, then the header and rows in columns, the first `leftAligned`
/// left-aligned and the others right-aligned, two spaces apart (no trailing spaces).
func alignedText(lines: [String], header: [String], rows: [[String]], leftAligned: Int = 1) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return (lines + all.map { row in
        row.indices.map { column in
            let pad = String(repeating: " ", count: widths[column] - row[column].count)
            return column < leftAligned ? row[column] + pad : pad + row[column]
        }.joined(separator: "  ").replacingOccurrences(of: " +$", with: "", options: .regularExpression)
    }).joined(separator: "\n") + "\n"
}

/// A Markdown table, its first `leftAligned` columns left-aligned and the others right-aligned.
func markdownTable(header: [String], rows: [[String]], leftAligned: Int) -> String {
    (["| " + header.joined(separator: " | ") + " |", "|" + header.indices.map { $0 < leftAligned ? " --- |" : " ---: |" }.joined()]
        + rows.map { "| " + $0.joined(separator: " | ") + " |" }).joined(separator: "\n") + "\n"
}

/// An HTML `<table>` (escaped) with a caption and an optional note under it; rows whose first cell
/// ends in "(surrogate)" get the class `surrogate`.
func htmlTable(caption: String, note: String?, header: [String], rows: [[String]]) -> String {
    var out = "<table>\n<caption>\(escapeHTML(caption))" + (note.map { "<br><small>\(escapeHTML($0))</small>" } ?? "")
    out += "</caption>\n<thead><tr>"
    out += header.map { "<th>\(escapeHTML($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
    for row in rows {
        let surrogate = row[0].hasSuffix("(surrogate)")
        out += "<tr\(surrogate ? " class=\"surrogate\"" : "")>" + row.enumerated().map { index, cell in
            index == 0 ? "<th scope=\"row\">\(escapeHTML(cell))</th>" : "<td>\(escapeHTML(cell))</td>"
        }.joined() + "</tr>\n"
    }
    return out + "</tbody>\n</table>\n"
}

func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Text safe inside HTML elements and attribute values.
public func escapeHTML(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}
