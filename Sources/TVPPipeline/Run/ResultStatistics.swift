import Foundation
import TVPEngine
import TVPPrompting

/// The aggregate's statistics: each result's Wilson interval, the interval of the
/// targets' mean, and the paired differences of each prompted protocol against zero-shot and of
/// TVP against VP, per model and pooled over the targets (and the surrogates, when several), all at
/// `Statistics.defaultConfidence`. Read from the results' `items` (each test item's correctness).
struct ResultStatistics {
    /// The results by task, model, protocol and corruption, and their items parsed once.
    private var cells: [String: JSONValue] = [:]
    private var hits: [String: [Bool]] = [:]
    let confidence = Statistics.defaultConfidence

    init(results: [JSONValue]) {
        for result in results {
            let key = Self.key(result["task"]?.stringValue ?? "", result["model"]?.stringValue ?? "",
                               result["protocol"]?.stringValue ?? "", result["corruption"]?.stringValue)
            cells[key] = result
            hits[key] = result["items"]?.stringValue.flatMap(Self.parseItems)
        }
    }

    static func key(_ task: String, _ model: String, _ evaluation: String, _ corruption: String?) -> String {
        [task, model, evaluation, corruption ?? ""].joined(separator: "\u{0}")
    }

    /// `metric` of a result; nil when missing.
    func value(_ task: String, _ model: String, _ evaluation: ProtocolSpec, metric: String, corruption: String?) -> Double? {
        cells[Self.key(task, model, evaluation.rawValue, corruption)]?["metrics"]?[metric]?.doubleValue
    }

    /// Each test item's correctness (the result's `items`); nil when missing.
    func items(_ task: String, _ model: String, _ evaluation: ProtocolSpec, corruption: String?) -> [Bool]? {
        hits[Self.key(task, model, evaluation.rawValue, corruption)]
    }

    /// `"0110"` → [false, true, true, false]; nil for any other character.
    static func parseItems(_ text: String) -> [Bool]? {
        var hits: [Bool] = []
        hits.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "1"): hits.append(true)
            case UInt8(ascii: "0"): hits.append(false)
            default: return nil
            }
        }
        return hits
    }

    /// An evaluate result's fields for the aggregate: n, and the accuracy's Wilson interval, from `items`.
    static func intervalFields(_ hits: [Bool], confidence: Double) -> [String: JSONValue] {
        guard !hits.isEmpty else { return [:] }
        let interval = Statistics.wilsonInterval(correct: hits.filter { $0 }.count, total: hits.count, confidence: confidence)
        return ["n": .integer(hits.count),
                "interval": ["low": .double(interval.low), "high": .double(interval.high), "confidence": .double(confidence)]]
    }

    /// The protocol pairs compared: each prompted protocol against zero-shot (official, else native),
    /// then TVP against VP.
    static func comparedPairs(_ protocols: [ProtocolSpec]) -> [(left: ProtocolSpec, right: ProtocolSpec)] {
        var pairs: [(left: ProtocolSpec, right: ProtocolSpec)] = []
        if let baseline = [ProtocolSpec.zeroShotOfficial, .zeroShotNative].first(where: protocols.contains) {
            pairs += protocols.filter { $0.variant != nil }.map { ($0, baseline) }
        }
        if protocols.contains(.vp) && protocols.contains(.tvp) { pairs.append((.tvp, .vp)) }
        return pairs
    }

    /// The rows of the paired table: each model, then the targets pooled and the surrogates pooled
    /// where there are several.
    static func groups(surrogates: [String], targets: [String]) -> [(name: String, pooled: Bool, models: [String])] {
        var groups = (surrogates + targets).map { (name: $0, pooled: false, models: [$0]) }
        if targets.count > 1 { groups.append(("targets", true, targets)) }
        if surrogates.count > 1 { groups.append(("surrogates", true, surrogates)) }
        return groups
    }

    /// Every paired comparison for `tasks` × (clean and each corruption) × group × pair:
    /// {task, corruption, model, pooled, models, left, right, difference, low, high, b, c, p, n (pairs),
    /// items, confidence}; a comparison whose items are missing is left out.
    func comparisons(tasks: [String], corruptions: [String?], protocols: [ProtocolSpec], surrogates: [String], targets: [String]) -> [JSONValue] {
        var out: [JSONValue] = []
        let groups = Self.groups(surrogates: surrogates, targets: targets)
        for corruption in corruptions {
            for task in tasks {
                for group in groups {
                    for pair in Self.comparedPairs(protocols) {
                        let data = group.models.compactMap { model in
                            items(task, model, pair.left, corruption: corruption).flatMap { left in
                                items(task, model, pair.right, corruption: corruption).map { (left: left, right: $0) }
                            }
                        }
                        guard data.count == group.models.count,
                              let paired = Statistics.pairedComparison(data, confidence: confidence) else { continue }
                        out.append(["task": .string(task), "corruption": corruption.map { .string($0) } ?? .null,
                                    "model": .string(group.name), "pooled": .bool(group.pooled),
                                    "models": .array(group.models.map { .string($0) }),
                                    "left": .string(pair.left.rawValue), "right": .string(pair.right.rawValue),
                                    "difference": .double(paired.difference), "low": .double(paired.interval.low),
                                    "high": .double(paired.interval.high), "b": .integer(paired.b), "c": .integer(paired.c),
                                    "p": .double(paired.p), "n": .integer(paired.pairs), "items": .integer(paired.items),
                                    "confidence": .double(confidence)])
                    }
                }
            }
        }
        return out
    }

    /// The targets' mean accuracy per task, corruption and protocol, with the bootstrap interval of
    /// the per-item mean over the targets (items resampled): {task, corruption, protocol, group,
    /// models, accuracy, low, high, n (pairs), items, confidence}; only with two targets or more.
    func means(tasks: [String], corruptions: [String?], protocols: [ProtocolSpec], targets: [String]) -> [JSONValue] {
        guard targets.count > 1 else { return [] }
        var out: [JSONValue] = []
        for corruption in corruptions {
            for task in tasks {
                for evaluation in protocols {
                    let data = targets.compactMap { items(task, $0, evaluation, corruption: corruption) }
                    guard data.count == targets.count, let n = data.first?.count, n > 0, data.allSatisfy({ $0.count == n }) else { continue }
                    let perItem = (0..<n).map { i in Double(data.filter { $0[i] }.count) / Double(data.count) }
                    let mean = perItem.reduce(0, +) / Double(n)
                    guard let interval = Statistics.bootstrapMeanInterval(perItem, confidence: confidence) else { continue }
                    out.append(["task": .string(task), "corruption": corruption.map { .string($0) } ?? .null,
                                "protocol": .string(evaluation.rawValue), "group": "targets",
                                "models": .array(targets.map { .string($0) }), "accuracy": .double(mean),
                                "low": .double(interval.low), "high": .double(interval.high), "n": .integer(n * targets.count),
                                "items": .integer(n), "confidence": .double(confidence)])
                }
            }
        }
        return out
    }
}

extension ClaimCheck {
    /// {task, verdict, passed, method, left, right, difference, interval {low, high}, b, c, p, n, items}:
    /// n is the (model, item) pairs of a paired check, else the items per cell.
    var json: JSONValue {
        func number(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
        func count(_ x: Int?) -> JSONValue { x.map { .integer($0) } ?? .null }
        return ["task": .string(task), "verdict": .string(verdict.rawValue), "passed": .bool(passed), "method": .string(method.rawValue),
                "left": number(left), "right": number(right), "difference": number(difference),
                "interval": interval.map { ["low": .double($0.low), "high": .double($0.high)] } ?? .null,
                "b": count(b), "c": count(c), "p": number(p), "n": count(pairs ?? items), "items": count(items)]
    }
}
