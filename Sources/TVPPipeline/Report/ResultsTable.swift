import Foundation

/// The paper's table: one row per model (the surrogate marked), one column group per task with a
/// column per protocol (zero-shot / VP / TVP), values in percent; a final row averages the targets.
public struct ResultsTable: Sendable {
    /// The corruption label these results are under, or nil for clean images.
    public let corruption: String?
    public let metric: String
    /// Column titles: `model`, then `task protocol` for each task and protocol.
    public let header: [String]
    /// Display rows (percentages with the chosen digits; `–` where a result is missing).
    public let rows: [[String]]
    /// Raw rows for CSV: model, role, then the metric values as fractions (empty where missing).
    public let rawRows: [[String]]

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
        func value(_ task: String, _ model: String, _ evaluation: ProtocolSpec) -> Double? {
            results.first {
                $0["task"]?.stringValue == task && $0["model"]?.stringValue == model
                    && $0["protocol"]?.stringValue == evaluation.rawValue && $0["corruption"]?.stringValue == corruption
            }?["metrics"]?[metric]?.doubleValue
        }
        func percent(_ x: Double?) -> String { x.map { String(format: "%.\(digits)f", $0 * 100) } ?? "–" }
        var header = ["model"], csvHeader = ["model", "role"]
        for task in tasks {
            for evaluation in protocols {
                header.append("\(task) \(evaluation.title)")
                csvHeader.append("\(task)/\(evaluation.rawValue)")
            }
        }
        var rows: [[String]] = [], raw: [[String]] = [csvHeader]
        for model in models {
            let values = tasks.flatMap { task in protocols.map { value(task, model.name, $0) } }
            rows.append([model.role == "surrogate" ? "\(model.name) (surrogate)" : model.name] + values.map(percent))
            raw.append([model.name, model.role] + values.map { $0.map { "\($0)" } ?? "" })
        }
        let targets = models.filter { $0.role == "target" }.map(\.name)
        if targets.count > 1 {
            let means = tasks.flatMap { task in protocols.map { evaluation -> Double? in
                let values = targets.compactMap { value(task, $0, evaluation) }
                return values.count == targets.count ? values.reduce(0, +) / Double(values.count) : nil
            } }
            rows.append(["mean (targets)"] + means.map(percent))
            raw.append(["mean", "targets"] + means.map { $0.map { "\($0)" } ?? "" })
        }
        self.header = header
        self.rows = rows
        rawRows = raw
    }

    /// A caption: `accuracy (%)`, `accuracy (%) under gaussian-noise-3`.
    public var caption: String { "\(metric) (%)" + (corruption.map { " under \($0)" } ?? "") }

    /// A GitHub-flavoured Markdown table under a caption line.
    public var markdown: String {
        var lines = ["**\(caption)**", ""]
        lines.append("| " + header.joined(separator: " | ") + " |")
        lines.append("|" + header.indices.map { $0 == 0 ? " --- |" : " ---: |" }.joined())
        for row in rows { lines.append("| " + row.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 CSV of the raw values (fractions, not percent).
    public var csv: String {
        rawRows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// The plain-text table for the console.
    public var text: String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return ([caption] + all.map { row in
            row.indices.map { column in
                let pad = String(repeating: " ", count: widths[column] - row[column].count)
                return column == 0 ? row[column] + pad : pad + row[column]
            }.joined(separator: "  ")
        }).joined(separator: "\n") + "\n"
    }

    /// An HTML `<table>` (escaped), surrogate rows in italics.
    public var html: String {
        var out = "<table>\n<caption>\(escapeHTML(caption))</caption>\n<thead><tr>"
        out += header.map { "<th>\(escapeHTML($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for row in rows {
            let surrogate = row[0].hasSuffix("(surrogate)")
            out += "<tr\(surrogate ? " class=\"surrogate\"" : "")>" + row.enumerated().map { index, cell in
                index == 0 ? "<th scope=\"row\">\(escapeHTML(cell))</th>" : "<td>\(escapeHTML(cell))</td>"
            }.joined() + "</tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }
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
