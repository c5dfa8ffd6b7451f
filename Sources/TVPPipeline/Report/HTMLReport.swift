import Foundation
import TVPEngine

/// The self-contained `report.html`: tables (with intervals), paired differences, claims with their
/// verdicts, training warnings, loss and validation curves (inline SVG) and prompt pictures (base64
/// PNG data URLs); no scripts and no external files, so it renders anywhere, offline.
public enum HTMLReport {
    static let style = """
    body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
    table{border-collapse:collapse;margin:1em 0}caption{text-align:left;font-weight:bold;padding:.3em 0}
    th,td{border:1px solid #ccc;padding:.3em .6em}td{text-align:right;font-variant-numeric:tabular-nums}
    thead th{background:#f3f3f3}tr.surrogate th{font-style:italic}
    .pass{color:#1b7f2a}.fail{color:#b3261e}.inconclusive{color:#8a6d00}.figures{display:flex;flex-wrap:wrap;gap:1em}
    figure{margin:0}figcaption{font-size:.85em;color:#555}img.prompt{height:224px;width:auto;image-rendering:pixelated;border:1px solid #ccc}
    """

    public static func render(title: String, aggregate: JSONValue, tables: [ResultsTable], paired: [PairedTable] = [],
                              plots: [(name: String, svg: String)], pictures: [(name: String, base64: String)]) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<title>\(escapeHTML(title))</title>\n<style>\n\(style)\n</style>\n</head>\n<body>\n"
        out += "<h1>\(escapeHTML(title))</h1>\n"
        let pipeline = aggregate["pipeline"]?.stringValue ?? ""
        let models = (aggregate["models"]?.arrayValue ?? []).map { entry -> String in
            let name = entry["name"]?.stringValue ?? "?"
            return entry["role"]?.stringValue == "surrogate" ? "\(name) (surrogate)" : name
        }
        out += "<p>Pipeline <code>\(escapeHTML(pipeline))</code>; models: \(escapeHTML(models.joined(separator: ", "))).</p>\n"
        out += "<h2>Results</h2>\n"
        for table in tables { out += table.html }
        if !paired.isEmpty {
            out += "<h2>Paired differences</h2>\n"
            for table in paired { out += table.html }
        }
        let cost = CostTable(aggregate: aggregate)
        if !cost.rows.isEmpty { out += "<h2>Cost</h2>\n" + cost.html }
        let claims = aggregate["claims"]?.arrayValue ?? []
        if !claims.isEmpty {
            out += "<h2>Claims</h2>\n<ul>\n"
            for claim in claims {
                let verdict = ClaimText.verdict(claim)
                let symbol = ["holds": "✔", "fails": "✘"][verdict] ?? "?"
                out += "<li class=\"\(verdict == "holds" ? "pass" : verdict == "fails" ? "fail" : "inconclusive")\">\(symbol) \(verdict): "
                out += "<code>\(escapeHTML(claim["text"]?.stringValue ?? ""))</code>"
                let details = ClaimText.details(claim)
                if !details.isEmpty { out += " — " + escapeHTML(details) }
                out += "</li>\n"
            }
            out += "</ul>\n"
        }
        let warnings = trainingWarnings(aggregate)
        if !warnings.isEmpty {
            out += "<h2>Training warnings</h2>\n<ul>\n"
            for warning in warnings { out += "<li>\(escapeHTML(warning.training)): \(escapeHTML(warning.warning))</li>\n" }
            out += "</ul>\n"
        }
        if !plots.isEmpty {
            out += "<h2>Training</h2>\n<div class=\"figures\">\n"
            for plot in plots { out += "<figure>\n\(plot.svg)<figcaption>\(escapeHTML(plot.name))</figcaption>\n</figure>\n" }
            out += "</div>\n"
        }
        if !pictures.isEmpty {
            out += "<h2>Prompts</h2>\n<div class=\"figures\">\n"
            for picture in pictures {
                out += "<figure><img class=\"prompt\" alt=\"\(escapeHTML(picture.name))\" src=\"data:image/png;base64,\(picture.base64)\">"
                out += "<figcaption>\(escapeHTML(picture.name)) (values scaled around mid-grey)</figcaption></figure>\n"
            }
            out += "</div>\n"
        }
        return out + "</body>\n</html>\n"
    }

    /// Where a run folder puts `provenance`: before the results.
    public static func insertProvenance(_ page: String, _ provenance: String) -> String {
        guard let range = page.range(of: "<h2>Results</h2>") else { return page }
        return page.replacingCharacters(in: range.lowerBound..<range.lowerBound, with: provenance)
    }

    /// What produced the numbers, from the run's meta.json: tvp version and commit, date, machine,
    /// command line and overrides, the sweep point, test items per task, and the resolved
    /// configuration (folded).
    static func provenance(meta: JSONValue, point: PipelinePoint, aggregate: JSONValue?) -> String {
        func text(_ key: String) -> String { meta[key]?.stringValue ?? "?" }
        var rows: [[String]] = [
            ["tvp", "\(text("version"))" + (meta["git_commit"]?.stringValue.map { " (commit \($0.prefix(12)))" } ?? "")],
            ["date", "\(text("started")) to \(text("finished")) (" + String(format: "%.0f s", meta["seconds"]?.doubleValue ?? 0) + ")"],
            ["machine", "\(text("host")): \(meta["cpu_cores"]?.intValue.map(String.init) ?? "?") cores, \(meta["threads"]?.intValue ?? 0) threads, "
                + "OpenBLAS \(text("blas_kernel"))"],
            ["command", (meta["command"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " ")],
            ["overrides", RunListing.overridesText((meta["overrides"]?.arrayValue ?? []).compactMap(\.stringValue))],
            ["stages", "\(meta["computed"]?.intValue ?? 0) computed, \(meta["cache_hits"]?.intValue ?? 0) cached, \(meta["failed"]?.intValue ?? 0) failed"],
        ]
        if let scale = meta["scale"]?.stringValue { rows.append(["scale", scale]) }
        if !point.label.isEmpty { rows.append(["sweep point", point.label]) }
        if let aggregate {
            let results = (aggregate["results"]?.arrayValue ?? []).filter { $0["corruption"] == .null }
            for task in (aggregate["tasks"]?.arrayValue ?? []).compactMap(\.stringValue) {
                let ns = Set(results.filter { $0["task"]?.stringValue == task }.compactMap { $0["n"]?.intValue ?? $0["count"]?.intValue }).sorted()
                rows.append(["n (\(task))", ns.map(String.init).joined(separator: ", ") + " test items per cell"])
            }
        }
        var out = "<h2>Provenance</h2>\n" + htmlTable(caption: "how these numbers were made", note: nil, header: ["what", "value"], rows: rows)
        out += "<details><summary>resolved configuration (config.yaml)</summary>\n<pre>\(escapeHTML(canonicalYAML(point.spec.resolved)))</pre>\n</details>\n"
        return out
    }
}
