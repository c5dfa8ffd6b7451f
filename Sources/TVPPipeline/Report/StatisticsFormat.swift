import Foundation

/// How the reports write intervals, differences and p-values.
enum StatisticsFormat {
    /// `0.95` → `95%`, `0.995` → `99.5%`.
    static func level(_ confidence: Double) -> String { String(format: "%g%%", confidence * 100) }

    /// A fraction as signed points: `0.052` → `+5.2` (never `-0.0`).
    static func points(_ x: Double, digits: Int = 1) -> String {
        let text = String(format: "%+.\(digits)f", x * 100)
        return Double(text) == 0 ? String(format: "%.\(digits)f", 0.0) : text
    }

    /// `[+1.2, +9.1]` in points.
    static func interval(_ low: Double, _ high: Double, digits: Int = 1) -> String {
        "[\(points(low, digits: digits)), \(points(high, digits: digits))]"
    }

    /// Two significant digits (`0.18`, `0.041`, `1`), scientific below 0.001 (`8.0e-09`).
    static func pValue(_ p: Double) -> String {
        p >= 0.001 ? String(format: "%.2g", p) : String(format: "%.1e", p)
    }
}
