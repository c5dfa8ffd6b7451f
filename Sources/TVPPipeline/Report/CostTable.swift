import Foundation
import TVPEngine

/// The paper's cost table: for each trained prompt, its trainable values against the connector
/// values of the surrogate(s) it was trained through, the training's wall time and the process's
/// peak resident memory while it trained (`train-prompt` results, gathered by `aggregate`).
public struct CostTable: Sendable {
    public static let header = ["task", "prompt", "prompt values", "connector values", "prompt / connector", "training (s)", "peak RSS (MiB)"]
    /// Display rows, in training order; `–` where a figure is unknown (a cached result from before
    /// the cost was recorded, or a model that does not report its connector).
    public let rows: [[String]]
    /// Raw rows for CSV (empty where unknown).
    public let rawRows: [[String]]

    public init(aggregate: JSONValue) {
        var rows: [[String]] = [], raw: [[String]] = []
        for training in aggregate["trainings"]?.arrayValue ?? [] {
            let prompt = training["learnable"]?.intValue
            let adapters = (training["adapter_values"]?.arrayValue ?? []).map(\.intValue)
            let connector = adapters.isEmpty || adapters.contains(where: { $0 == nil }) ? nil : adapters.compactMap { $0 }.reduce(0, +)
            let ratio = prompt.flatMap { p in connector.map { Double(p) / Double(max($0, 1)) } }
            let seconds = training["seconds"]?.doubleValue, memory = training["peak_rss_mib"]?.doubleValue
            let task = training["task"]?.stringValue ?? "", variant = (training["variant"]?.stringValue ?? "").uppercased()
            rows.append([task, variant, prompt.map(Self.grouped) ?? "–", connector.map(Self.grouped) ?? "–",
                         ratio.map { String(format: "%.4f", $0) } ?? "–", seconds.map { String(format: "%.1f", $0) } ?? "–",
                         memory.map { String(format: "%.0f", $0) } ?? "–"])
            raw.append([task, variant, prompt.map(String.init) ?? "", connector.map(String.init) ?? "", ratio.map { "\($0)" } ?? "",
                        seconds.map { "\($0)" } ?? "", memory.map { "\($0)" } ?? ""])
        }
        (self.rows, self.rawRows) = (rows, [Self.header] + raw)
    }

    /// `1234567` → `1,234,567`.
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    public var markdown: String {
        var lines = ["**cost: each prompt against the connector(s) of its surrogate(s)**", ""]
        lines.append("| " + Self.header.joined(separator: " | ") + " |")
        lines.append("|" + Self.header.indices.map { $0 < 2 ? " --- |" : " ---: |" }.joined())
        for row in rows { lines.append("| " + row.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// An HTML `<table>` (escaped).
    public var html: String {
        var out = "<table>\n<caption>cost: each prompt against the connector(s) of its surrogate(s)</caption>\n<thead><tr>"
        out += Self.header.map { "<th>\(escapeHTML($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for row in rows { out += "<tr>" + row.map { "<td>\(escapeHTML($0))</td>" }.joined() + "</tr>\n" }
        return out + "</tbody>\n</table>\n"
    }

    public var csv: String { rawRows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n" }
}
