import Foundation
import TVPTensor

/// Line plots as hand-written SVG (no scripts, no external references): loss and validation curves,
/// overlaid runs, metrics against a swept parameter.
public enum LossPlot {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Drawn dashed (a second run, a loss term).
        public var dashed: Bool
        /// Per point, an interval drawn as a vertical bar (nil: none).
        public var intervals: [(low: Double, high: Double)?]

        public init(name: String, points: [(Double, Double)], dashed: Bool = false, intervals: [(Double, Double)?] = []) {
            self.name = name
            self.points = points.map { (x: $0.0, y: $0.1) }
            self.dashed = dashed
            self.intervals = intervals.map { $0.map { (low: $0.0, high: $0.1) } }
        }
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    /// Round axis ticks covering [low, high]: a step of 1, 2, 2.5 or 5 × 10^k giving about `count`
    /// ticks (a step of at least `minimumStep`), and the axis widened to the ticks around its ends
    /// (1.3–2.2 → 1.2, 1.4, …, 2.2).
    public static func niceTicks(_ low: Double, _ high: Double, count: Int = 5, minimumStep: Double = 0) -> (ticks: [Double], step: Double) {
        let raw = max((high - low) / Double(max(1, count - 1)), minimumStep)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw * (1 - 1e-9) } ?? 10 * magnitude
        let first = (low / step * (1 + 1e-12)).rounded(.down), last = (high / step * (1 - 1e-12)).rounded(.up)
        let ticks = stride(from: first, through: last, by: 1).map { ($0 * step * 1e9).rounded() / 1e9 }
        return (ticks, step)
    }

    /// A tick's text with as many decimals as the step needs (`0.25` steps: 2; `2` steps: 0).
    public static func tickText(_ value: Double, step: Double) -> String {
        let magnitude = pow(10, floor(log10(step)))
        var decimals = max(0, Int((-log10(step)).rounded(.up)))
        if abs(step / magnitude - 2.5) < 1e-9, magnitude < 10 { decimals += 1 }
        let text = String(format: "%.\(decimals)f", value)
        return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
    }

    /// An SVG document `width`×`height` px: round ticks on both axes (`xRange`/`yRange` fix an
    /// axis, so several plots share it), one line per series with a marker at each point (at most
    /// about 30 per line), dashed where asked, interval bars where given, a legend, a title, and
    /// where `mark` is given a dashed vertical line at its x with its label (the best step).
    /// `logX` puts x on a log scale (ticks at powers of ten; positive x only).
    public static func svg(title: String, series: [Series], xLabel: String, yLabel: String, width: Int = 480, height: Int = 300,
                           mark: (x: Double, label: String)? = nil, xRange: (Double, Double)? = nil, yRange: (Double, Double)? = nil,
                           logX: Bool = false) -> String {
        let left = 60.0, right = 20.0, top = 30.0, bottom = 45.0
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        func tx(_ x: Double) -> Double { logX ? log10(x) : x }
        let finite = series.flatMap(\.points).filter { tx($0.x).isFinite && $0.y.isFinite }
        let bars = series.flatMap(\.intervals).compactMap { $0 }.flatMap { [$0.low, $0.high] }.filter(\.isFinite)
        let xs = finite.map { tx($0.x) } + (mark.map { [tx($0.x)] } ?? []).filter(\.isFinite)
        var (x0, x1) = xRange.map { (tx($0.0), tx($0.1)) } ?? (xs.min() ?? 0, xs.max() ?? 1)
        var (y0, y1) = yRange ?? ((finite.map(\.y) + bars).min() ?? 0, (finite.map(\.y) + bars).max() ?? 1)
        if x1 <= x0 { x0 -= 0.5; x1 += 0.5 }
        if y1 <= y0 { let pad = max(abs(y0) * 0.05, 0.5); y0 -= pad; y1 += pad }
        let yTicks = niceTicks(y0, y1)
        (y0, y1) = (min(y0, yTicks.ticks.first!), max(y1, yTicks.ticks.last!))
        let xTicks: (ticks: [Double], step: Double)
        if logX {
            let decades = stride(from: x0.rounded(.down), through: x1.rounded(.up), by: 1).map { $0 }
            xTicks = (decades, 1)
            (x0, x1) = (decades.first!, max(decades.last!, decades.first! + 1))
        } else {
            // Whole-number x (steps) gets whole-number ticks.
            let whole = !finite.isEmpty && finite.allSatisfy { $0.x.rounded() == $0.x }
            xTicks = niceTicks(x0, x1, minimumStep: whole ? 1 : 0)
            (x0, x1) = (min(x0, xTicks.ticks.first!), max(x1, xTicks.ticks.last!))
        }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotH }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
        out += "font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>\n"
        out += "<text x=\"\(n(Double(width) / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">\(escapeHTML(title))</text>\n"
        out += "<g stroke=\"#333\" stroke-width=\"1\">"
        out += "<line x1=\"\(n(left))\" y1=\"\(n(top + plotH))\" x2=\"\(n(left + plotW))\" y2=\"\(n(top + plotH))\"/>"
        out += "<line x1=\"\(n(left))\" y1=\"\(n(top))\" x2=\"\(n(left))\" y2=\"\(n(top + plotH))\"/></g>\n"
        for value in xTicks.ticks where value >= x0 - 1e-9 && value <= x1 + 1e-9 {
            let label = logX ? tickText(pow(10, value), step: pow(10, min(value, 0))) : tickText(value, step: xTicks.step)
            out += "<line x1=\"\(n(px(value)))\" y1=\"\(n(top + plotH))\" x2=\"\(n(px(value)))\" y2=\"\(n(top + plotH + 4))\" stroke=\"#333\"/>"
            out += "<text x=\"\(n(px(value)))\" y=\"\(n(top + plotH + 16))\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for value in yTicks.ticks {
            out += "<line x1=\"\(n(left - 4))\" y1=\"\(n(py(value)))\" x2=\"\(n(left))\" y2=\"\(n(py(value)))\" stroke=\"#333\"/>"
            out += "<line x1=\"\(n(left))\" y1=\"\(n(py(value)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(py(value)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(n(left - 6))\" y=\"\(n(py(value) + 4))\" text-anchor=\"end\">\(tickText(value, step: yTicks.step))</text>\n"
        }
        out += "<text x=\"\(n(left + plotW / 2))\" y=\"\(height - 8)\" text-anchor=\"middle\">\(escapeHTML(xLabel))</text>\n"
        out += "<text x=\"14\" y=\"\(n(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(n(top + plotH / 2)))\">\(escapeHTML(yLabel))</text>\n"
        if let mark, tx(mark.x).isFinite {
            out += "<line x1=\"\(n(px(tx(mark.x))))\" y1=\"\(n(top))\" x2=\"\(n(px(tx(mark.x))))\" y2=\"\(n(top + plotH))\" "
            out += "stroke=\"#777\" stroke-dasharray=\"4 3\"/>"
            out += "<text x=\"\(n(px(tx(mark.x)) + 4))\" y=\"\(n(top + plotH - 6))\" fill=\"#555\">\(escapeHTML(mark.label))</text>\n"
        }
        for (index, line) in series.enumerated() {
            let color = colors[index % colors.count]
            let dash = line.dashed ? " stroke-dasharray=\"6 3\"" : ""
            let drawn = line.points.indices.filter { tx(line.points[$0].x).isFinite && line.points[$0].y.isFinite }
            let coordinates = drawn.map { (x: px(tx(line.points[$0].x)), y: py(line.points[$0].y)) }
            if coordinates.count > 1 {
                out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"\(dash) points=\""
                out += coordinates.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " ") + "\"/>\n"
            }
            for (offset, index) in drawn.enumerated() where index < line.intervals.count {
                guard let bar = line.intervals[index], bar.low.isFinite, bar.high.isFinite else { continue }
                let x = coordinates[offset].x
                out += "<path d=\"M\(n(x - 3)) \(n(py(bar.low)))h6M\(n(x)) \(n(py(bar.low)))V\(n(py(bar.high)))M\(n(x - 3)) \(n(py(bar.high)))h6\" "
                out += "stroke=\"\(color)\" fill=\"none\"/>\n"
            }
            let every = max(1, (coordinates.count + 29) / 30)
            for (offset, point) in coordinates.enumerated() where offset % every == 0 || offset == coordinates.count - 1 {
                out += "<circle cx=\"\(n(point.x))\" cy=\"\(n(point.y))\" r=\"2.5\" fill=\"\(line.dashed ? "white" : color)\" stroke=\"\(color)\"/>"
            }
            if !coordinates.isEmpty { out += "\n" }
            let ly = top + 12 + Double(index) * 14
            out += "<line x1=\"\(n(left + plotW - 110))\" y1=\"\(n(ly - 4))\" x2=\"\(n(left + plotW - 92))\" y2=\"\(n(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>"
            out += "<text x=\"\(n(left + plotW - 88))\" y=\"\(n(ly))\">\(escapeHTML(line.name))</text>\n"
        }
        return out + "</svg>\n"
    }
}
