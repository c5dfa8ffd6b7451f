import Foundation

/// Line plots as hand-written SVG (no scripts, no external references), for loss curves.
public enum LossPlot {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]

        public init(name: String, points: [(Double, Double)]) {
            self.name = name
            self.points = points.map { (x: $0.0, y: $0.1) }
        }
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]

    /// An SVG document `width`×`height` px: axes with 5 ticks each, one polyline per series (non-finite
    /// points skipped), a legend, a title, and where `mark` is given a dashed vertical line at its x
    /// with its label (such as the training's best step).
    public static func svg(title: String, series: [Series], xLabel: String, yLabel: String, width: Int = 480, height: Int = 300,
                           mark: (x: Double, label: String)? = nil) -> String {
        let left = 60.0, right = 20.0, top = 30.0, bottom = 45.0
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        let finite = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xs = finite.map(\.x) + (mark.map { [$0.x] } ?? []).filter(\.isFinite)
        var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1)
        var (y0, y1) = (finite.map(\.y).min() ?? 0, finite.map(\.y).max() ?? 1)
        if x1 <= x0 { x0 -= 0.5; x1 += 0.5 }
        if y1 <= y0 { let pad = max(abs(y0) * 0.05, 0.5); y0 -= pad; y1 += pad }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotH }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        func tick(_ v: Double) -> String {
            let a = abs(v)
            return a != 0 && (a < 1e-3 || a >= 1e5) ? String(format: "%.2e", v) : String(format: a < 10 ? "%.3g" : "%.4g", v)
        }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
        out += "font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>\n"
        out += "<text x=\"\(n(Double(width) / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">\(escapeHTML(title))</text>\n"
        out += "<g stroke=\"#333\" stroke-width=\"1\">"
        out += "<line x1=\"\(n(left))\" y1=\"\(n(top + plotH))\" x2=\"\(n(left + plotW))\" y2=\"\(n(top + plotH))\"/>"
        out += "<line x1=\"\(n(left))\" y1=\"\(n(top))\" x2=\"\(n(left))\" y2=\"\(n(top + plotH))\"/></g>\n"
        for i in 0...4 {
            let fraction = Double(i) / 4
            let xv = x0 + fraction * (x1 - x0), yv = y0 + fraction * (y1 - y0)
            out += "<line x1=\"\(n(px(xv)))\" y1=\"\(n(top + plotH))\" x2=\"\(n(px(xv)))\" y2=\"\(n(top + plotH + 4))\" stroke=\"#333\"/>"
            out += "<text x=\"\(n(px(xv)))\" y=\"\(n(top + plotH + 16))\" text-anchor=\"middle\">\(tick(xv))</text>\n"
            out += "<line x1=\"\(n(left - 4))\" y1=\"\(n(py(yv)))\" x2=\"\(n(left))\" y2=\"\(n(py(yv)))\" stroke=\"#333\"/>"
            out += "<line x1=\"\(n(left))\" y1=\"\(n(py(yv)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(py(yv)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(n(left - 6))\" y=\"\(n(py(yv) + 4))\" text-anchor=\"end\">\(tick(yv))</text>\n"
        }
        out += "<text x=\"\(n(left + plotW / 2))\" y=\"\(height - 8)\" text-anchor=\"middle\">\(escapeHTML(xLabel))</text>\n"
        out += "<text x=\"14\" y=\"\(n(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(n(top + plotH / 2)))\">\(escapeHTML(yLabel))</text>\n"
        if let mark, mark.x.isFinite {
            out += "<line x1=\"\(n(px(mark.x)))\" y1=\"\(n(top))\" x2=\"\(n(px(mark.x)))\" y2=\"\(n(top + plotH))\" "
            out += "stroke=\"#777\" stroke-dasharray=\"4 3\"/>"
            out += "<text x=\"\(n(px(mark.x) + 4))\" y=\"\(n(top + plotH - 6))\" fill=\"#555\">\(escapeHTML(mark.label))</text>\n"
        }
        for (index, line) in series.enumerated() {
            let color = colors[index % colors.count]
            let points = line.points.filter { $0.x.isFinite && $0.y.isFinite }.map { "\(n(px($0.x))),\(n(py($0.y)))" }
            if points.count == 1 {
                let xy = points[0].split(separator: ",")
                out += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(color)\"/>\n"
            } else if !points.isEmpty {
                out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            let ly = top + 12 + Double(index) * 14
            out += "<line x1=\"\(n(left + plotW - 90))\" y1=\"\(n(ly - 4))\" x2=\"\(n(left + plotW - 72))\" y2=\"\(n(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(n(left + plotW - 68))\" y=\"\(n(ly))\">\(escapeHTML(line.name))</text>\n"
        }
        return out + "</svg>\n"
    }
}
