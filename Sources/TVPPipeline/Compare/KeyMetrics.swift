import Foundation
import TVPEngine
import TVPPrompting

/// A point's headline numbers, per task and protocol on clean images, in the report metric: the
/// surrogate's value (the surrogates' mean when several) and the targets' mean, with n (test items
/// per cell) and the targets' mean interval where the aggregate has one (`means`, accuracy only).
/// `tvp-run runs` lists them and the sweep summary tabulates them.
struct KeyMetrics {
    struct Cell {
        var task: String
        var evaluation: ProtocolSpec
        var surrogate: Double?
        var targets: Double?
        /// The bootstrap interval of the targets' mean (accuracy, two targets or more).
        var targetsInterval: (low: Double, high: Double)?
        var n: Int?
        /// Every evaluated model's value, surrogates first.
        var models: [(name: String, value: Double?)]
    }

    var metric: String
    var cells: [Cell]
    var surrogates: [String]
    var targets: [String]

    init(aggregate: JSONValue, metric: String) {
        self.metric = metric
        let models = aggregate["models"]?.arrayValue ?? []
        func names(_ role: String) -> [String] { models.filter { $0["role"]?.stringValue == role }.compactMap { $0["name"]?.stringValue } }
        let surrogates = names("surrogate"), targets = names("target")
        self.surrogates = surrogates
        self.targets = targets
        let tasks = (aggregate["tasks"]?.arrayValue ?? []).compactMap(\.stringValue)
        let protocols = (aggregate["protocols"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ProtocolSpec.init(rawValue:)) }
        let results = (aggregate["results"]?.arrayValue ?? []).filter { $0["corruption"] == .null || $0["corruption"] == nil }
        let means = (aggregate["means"]?.arrayValue ?? []).filter { $0["corruption"] == .null || $0["corruption"] == nil }
        cells = tasks.flatMap { task in
            protocols.map { evaluation -> Cell in
                func result(_ model: String) -> JSONValue? {
                    results.first { $0["task"]?.stringValue == task && $0["model"]?.stringValue == model
                        && $0["protocol"]?.stringValue == evaluation.rawValue }
                }
                func value(_ model: String) -> Double? { result(model)?["metrics"]?[metric]?.doubleValue }
                func mean(_ names: [String]) -> Double? {
                    let values = names.compactMap(value)
                    return values.count == names.count && !values.isEmpty ? values.reduce(0, +) / Double(values.count) : nil
                }
                let pooled = metric == "accuracy" ? means.first { $0["task"]?.stringValue == task && $0["protocol"]?.stringValue == evaluation.rawValue } : nil
                let interval = pooled.flatMap { entry in
                    entry["low"]?.doubleValue.flatMap { low in entry["high"]?.doubleValue.map { (low: low, high: $0) } }
                }
                let n = (surrogates + targets).lazy.compactMap { result($0)?["n"]?.intValue ?? result($0)?["count"]?.intValue }.first
                return Cell(task: task, evaluation: evaluation, surrogate: mean(surrogates), targets: mean(targets),
                            targetsInterval: interval, n: n, models: (surrogates + targets).map { ($0, value($0)) })
            }
        }
    }

    /// The claims together: `holds` (all hold), `fails` (one fails) or `inconclusive`, with the counts.
    static func claims(_ aggregate: JSONValue) -> (verdict: String, holds: Int, fails: Int, inconclusive: Int)? {
        let claims = aggregate["claims"]?.arrayValue ?? []
        guard !claims.isEmpty else { return nil }
        let verdicts = claims.map(ClaimText.verdict)
        let holds = verdicts.filter { $0 == "holds" }.count, fails = verdicts.filter { $0 == "fails" }.count
        return (fails > 0 ? "fails" : holds == verdicts.count ? "holds" : "inconclusive", holds, fails, verdicts.count - holds - fails)
    }
}
