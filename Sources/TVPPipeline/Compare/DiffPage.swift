import Foundation

/// `tvp-run diff --html OUT`: the diff as a self-contained page (the same tables as the console,
/// then each training of both runs, A solid and B dashed, on one plot per task and variant, every
/// plot on the same axes so heights compare across them).
public enum DiffPage {
    public static func render(_ diff: RunDiff) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tvp diff</title>\n"
        out += "<style>\n\(HTMLReport.style)\n</style>\n</head>\n<body>\n<h1>tvp diff</h1>\n<ul>\n"
        for (letter, side) in [("A", diff.a), ("B", diff.b)] {
            out += "<li><b>\(letter)</b>: <code>\(escapeHTML(side.title))</code> — \(escapeHTML(side.run.pipeline)), "
            out += "\(escapeHTML(RunListing.when(side.run.started))) UTC, tvp \(escapeHTML(side.run.version ?? "?"))</li>\n"
        }
        out += "</ul>\n<h2>Parameters that differ</h2>\n"
        out += diff.parameters.isEmpty ? "<p>The resolved configs are identical.</p>\n"
            : htmlTable(caption: "resolved config (\(diff.parameters.count) keys)", note: nil, header: ["key", "A", "B"], rows: diff.parameterRows)
        out += "<h2>Results</h2>\n"
        out += diff.rows.isEmpty ? "<p>No task, protocol and model was evaluated by both runs with per-item results.</p>\n"
            : htmlTable(caption: "accuracy (%)", note: diff.metricCaption, header: diff.metricHeader, rows: diff.metricRows)
        let plots = curves(diff)
        if !plots.isEmpty {
            out += "<h2>Training loss</h2>\n<p>A solid, B dashed; every plot on the same axes.</p>\n<div class=\"figures\">\n"
            for plot in plots { out += "<figure>\n\(plot)</figure>\n" }
            out += "</div>\n"
        }
        return out + "</body>\n</html>\n"
    }

    /// One SVG per (task, variant) trained by either run: both runs' total loss, on shared axes.
    static func curves(_ diff: RunDiff) -> [String] {
        typealias Curve = (task: String, variant: String, a: [LossRecord], b: [LossRecord])
        func trainings(_ side: RunDiff.Side) -> [(key: String, records: [LossRecord])] {
            (side.aggregate["trainings"]?.arrayValue ?? []).map { training in
                ("\(training["task"]?.stringValue ?? "")\u{0}\(training["variant"]?.stringValue ?? "")",
                 (training["curve"]?.arrayValue ?? []).compactMap(LossRecord.init(json:)))
            }
        }
        let a = trainings(diff.a), b = trainings(diff.b)
        var keys: [String] = []
        for key in (a + b).map(\.key) where !keys.contains(key) { keys.append(key) }
        let curves: [Curve] = keys.map { key in
            let parts = key.components(separatedBy: "\u{0}")
            return (parts[0], parts[1], a.first { $0.key == key }?.records ?? [], b.first { $0.key == key }?.records ?? [])
        }.filter { !$0.a.isEmpty || !$0.b.isEmpty }
        let records = curves.flatMap { $0.a + $0.b }
        let totals = records.map(\.total).filter(\.isFinite), steps = records.map { Double($0.step) }
        guard let yLow = totals.min(), let yHigh = totals.max(), let xLow = steps.min(), let xHigh = steps.max() else { return [] }
        return curves.map { curve in
            var series: [LossPlot.Series] = []
            if !curve.a.isEmpty { series.append(.init(name: "A total", points: curve.a.map { (Double($0.step), $0.total) })) }
            if !curve.b.isEmpty { series.append(.init(name: "B total", points: curve.b.map { (Double($0.step), $0.total) }, dashed: true)) }
            return LossPlot.svg(title: "\(curve.task) · \(curve.variant.uppercased()) training loss", series: series, xLabel: "step",
                                yLabel: "loss", xRange: (xLow, xHigh), yRange: (yLow, yHigh))
        }
    }
}
