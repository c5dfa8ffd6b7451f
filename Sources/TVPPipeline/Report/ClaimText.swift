import Foundation
import TVPEngine
import TVPPrompting
import TVPTensor

/// How a claim of the aggregate (`claims[]`: text, verdict, confidence, checks) reads in the
/// console, results.md and report.html:
/// `claim holds: tvp.mean >= vp.mean (diff +4.2 points, 95% CI [+1.0, +7.5], McNemar p = 0.012, n = 600)`,
/// with `TASK: ` before each task's numbers when the claim checks several tasks.
public enum ClaimText {
    /// `holds`, `fails` or `inconclusive` (`fails` for an aggregate without verdicts, which cannot be read).
    public static func verdict(_ claim: JSONValue) -> String {
        claim["verdict"]?.stringValue ?? (claim["passed"] == .bool(true) ? "holds" : "fails")
    }

    /// The console line: `claim VERDICT: TEXT (DETAILS)`.
    public static func line(_ claim: JSONValue) -> String {
        let details = self.details(claim)
        return "claim \(verdict(claim)): \(claim["text"]?.stringValue ?? "")" + (details.isEmpty ? "" : " (\(details))")
    }

    /// Each task's numbers, `; `-separated.
    public static func details(_ claim: JSONValue) -> String {
        let level = StatisticsFormat.level(claim["confidence"]?.doubleValue ?? Statistics.defaultConfidence)
        let checks = claim["checks"]?.arrayValue ?? []
        return checks.map { check in
            (checks.count > 1 ? "\(check["task"]?.stringValue ?? ""): " : "") + describe(check, level: level)
        }.joined(separator: "; ")
    }

    /// One check's numbers, by its method.
    static func describe(_ check: JSONValue, level: String) -> String {
        // In percent, as the tables print the metrics.
        func value(_ key: String) -> String { check[key]?.doubleValue.map { String(format: "%.1f%%", $0 * 100) } ?? "missing" }
        let method = check["method"]?.stringValue.flatMap(ClaimMethod.init(rawValue:))
        guard method != .missing else { return "results missing (\(value("left")) vs \(value("right")))" }
        guard let difference = check["difference"]?.doubleValue else { return "\(value("left")) vs \(value("right"))" }
        var parts = ["diff \(StatisticsFormat.points(difference)) points"]
        if let low = check["interval"]?["low"]?.doubleValue, let high = check["interval"]?["high"]?.doubleValue {
            parts.append("\(level) CI \(StatisticsFormat.interval(low, high))" + (method == .wilson ? " from Wilson intervals" : ""))
        } else {
            parts.append("no interval for this metric (\(value("left")) vs \(value("right")))")
        }
        if let p = check["p"]?.doubleValue { parts.append("McNemar p = \(StatisticsFormat.pValue(p))") }
        if let n = check["n"]?.intValue {
            let items = check["items"]?.intValue
            parts.append("n = \(n)" + (items.map { $0 != n ? " (\($0) items)" : "" } ?? ""))
        }
        return parts.joined(separator: ", ")
    }
}
