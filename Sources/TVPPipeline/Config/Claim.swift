import Foundation
import TVPFormats
import TVPPrompting

/// One `expect:` claim, checked after the run: `LEFT OP RIGHT`, for each task it names.
///
/// An operand is a number or `PROTOCOL.STATISTIC`, optionally `± NUMBER` (spaces around the sign):
/// `tvp.mean >= vp.mean`, `tvp.min > zero-shot-official.max + 0.01`, `vp.llava-tiny <= 0.9`.
/// STATISTIC is `mean`, `median`, `min` or `max` over the claim's models (`over:`), or a model name.
/// Each task's verdict is decided on an interval of LEFT − RIGHT at `confidence` (see `check`).
public struct Claim: Sendable, Equatable {
    /// The expression as written.
    public var text: String
    public var left: ClaimOperand
    public var comparison: ClaimComparison
    public var right: ClaimOperand
    /// The models the statistics range over.
    public var scope: ClaimScope
    /// The tasks checked (each on its own); all tasks when empty.
    public var tasks: [String]
    public var metric: String
    /// The corruption label (`gaussian-noise-3`) whose results are compared; nil for clean images.
    public var corruption: String?
    /// Where the claim is written.
    public var mark: Mark
    /// The two-sided confidence level of the intervals the verdict reads (0.95 unless the file says).
    public var confidence: Double

    public init(text: String, left: ClaimOperand, comparison: ClaimComparison, right: ClaimOperand, scope: ClaimScope,
                tasks: [String], metric: String, corruption: String?, mark: Mark, confidence: Double = Statistics.defaultConfidence) {
        self.text = text
        self.left = left
        self.comparison = comparison
        self.right = right
        self.scope = scope
        self.tasks = tasks
        self.metric = metric
        self.corruption = corruption
        self.mark = mark
        self.confidence = confidence
    }
}

public enum ClaimComparison: String, Sendable, CaseIterable {
    case greaterOrEqual = ">=", lessOrEqual = "<=", greater = ">", less = "<", equal = "==", notEqual = "!="

    /// Whether `a op b`, with values that differ only by floating-point rounding taken as equal
    /// (a mean over models and one over the same answers counted another way can differ in the last
    /// bits: 0.4975 against 0.49749999999999994 is a tie, not a win).
    public func holds(_ a: Double, _ b: Double) -> Bool {
        let tie = abs(a - b) <= 1e-9 * max(1, abs(a), abs(b))
        switch self {
        case .greaterOrEqual: return a > b || tie
        case .lessOrEqual: return a < b || tie
        case .greater: return a > b && !tie
        case .less: return a < b && !tie
        case .equal: return tie
        case .notEqual: return !tie
        }
    }

    /// The verdict on an interval of LEFT − RIGHT: holds when every value in it satisfies the
    /// comparison with 0, fails when none does, inconclusive otherwise. So `==` holds only on
    /// [0, 0] (equality cannot be shown without a margin) and fails when the interval excludes 0;
    /// `!=` holds when it excludes 0 and fails only on [0, 0].
    public func verdict(_ interval: Interval) -> ClaimVerdict {
        let (low, high) = (interval.low, interval.high)
        let excludesZero = ClaimComparison.greater.holds(low, 0) || ClaimComparison.less.holds(high, 0)
        let isZero = ClaimComparison.equal.holds(low, 0) && ClaimComparison.equal.holds(high, 0)
        switch self {
        case .greater, .greaterOrEqual: return holds(low, 0) ? .holds : holds(high, 0) ? .inconclusive : .fails
        case .less, .lessOrEqual: return holds(high, 0) ? .holds : holds(low, 0) ? .inconclusive : .fails
        case .equal: return isZero ? .holds : excludesZero ? .fails : .inconclusive
        case .notEqual: return excludesZero ? .holds : isZero ? .fails : .inconclusive
        }
    }
}

/// What a claim (or one task of it) concluded.
public enum ClaimVerdict: String, Sendable, CaseIterable {
    case holds, fails, inconclusive

    /// Several checks together: fails when one fails, holds when all hold, inconclusive otherwise.
    public static func combined(_ verdicts: [ClaimVerdict]) -> ClaimVerdict {
        verdicts.contains(.fails) ? .fails : verdicts.allSatisfy { $0 == .holds } ? .holds : .inconclusive
    }
}

public enum ClaimStatistic: Sendable, Equatable {
    case mean, median, min, max
    case model(String)

    public static let names = ["mean", "median", "min", "max"]

    /// The statistic of `values` (one per model; not empty); for `.model`, the single value.
    func summarize(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        switch self {
        case .mean: return values.reduce(0, +) / Double(values.count)
        case .median:
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        case .min: return sorted.first!
        case .max: return sorted.last!
        case .model: return values[0]
        }
    }
}

public enum ClaimOperand: Sendable, Equatable {
    case number(Double)
    case statistic(ProtocolSpec, ClaimStatistic, offset: Double)

    /// The protocol this operand reads, if any.
    public var evaluationProtocol: ProtocolSpec? {
        if case .statistic(let p, _, _) = self { return p }
        return nil
    }

    /// The number added to the statistic (0 for a number).
    public var offset: Double {
        if case .statistic(_, _, let offset) = self { return offset }
        return 0
    }
}

/// Which models a claim's statistics range over.
public enum ClaimScope: Sendable, Equatable {
    case targets, surrogates, all
    case models([String])

    public func models(in spec: PipelineSpec) -> [String] {
        switch self {
        case .targets: return spec.targets
        case .surrogates: return spec.surrogates
        case .all: return spec.evaluatedModels
        case .models(let names): return names
        }
    }
}

extension Claim {
    /// Parses `text` (written at `mark`; `column0` is the column of its first character) against the
    /// pipeline's protocols and model names; errors point at the offending token.
    static func parseExpression(_ text: String, mark: Mark, column0: Int, protocols: [ProtocolSpec],
                                models: [String]) throws -> (ClaimOperand, ClaimComparison, ClaimOperand) {
        var tokens: [(text: String, column: Int)] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == " " || chars[i] == "\t" { i += 1; continue }
            let start = i
            if "<>=!".contains(chars[i]) {
                while i < chars.count && "<>=!".contains(chars[i]) { i += 1 }
            } else if (chars[i] == "+" || chars[i] == "-") && (i + 1 == chars.count || chars[i + 1] == " ") {
                i += 1
            } else {
                while i < chars.count && chars[i] != " " && chars[i] != "\t" && !"<>=!".contains(chars[i]) { i += 1 }
            }
            tokens.append((String(chars[start..<i]), column0 + start))
        }
        func here(_ column: Int) -> Mark { Mark(path: mark.path, line: mark.line, column: column) }
        let shape = "a claim reads LEFT OP RIGHT, e.g. 'tvp.mean >= vp.mean' or 'tvp.min > 0.5'"
        guard let opIndex = tokens.firstIndex(where: { $0.text.first.map { "<>=!".contains($0) } ?? false }) else {
            throw YAMLError("no comparison in claim '\(text)'; \(shape)", at: mark)
        }
        guard let comparison = ClaimComparison(rawValue: tokens[opIndex].text) else {
            throw YAMLError("unknown comparison '\(tokens[opIndex].text)'; use one of " +
                            ClaimComparison.allCases.map(\.rawValue).joined(separator: " "), at: here(tokens[opIndex].column))
        }
        func operand(_ part: ArraySlice<(text: String, column: Int)>, side: String) throws -> ClaimOperand {
            guard let first = part.first else {
                throw YAMLError("the \(side) side of claim '\(text)' is empty; \(shape)", at: here(tokens[opIndex].column))
            }
            var offset = 0.0
            if part.count == 3 {
                let sign = part[part.startIndex + 1], number = part[part.startIndex + 2]
                guard sign.text == "+" || sign.text == "-" else {
                    throw YAMLError("expected '+' or '-' here, found '\(sign.text)'", at: here(sign.column))
                }
                guard let value = Double(number.text) else {
                    throw YAMLError("expected a number after '\(sign.text)', found '\(number.text)'", at: here(number.column))
                }
                offset = sign.text == "+" ? value : -value
            } else if part.count != 1 {
                throw YAMLError("cannot read '\(part.map(\.text).joined(separator: " "))'; \(shape) (put spaces around + and -)",
                                at: here(first.column))
            }
            if let value = Double(first.text) {
                guard part.count == 1 else { throw YAMLError("write the number as one value", at: here(first.column)) }
                return .number(value)
            }
            guard let dot = first.text.firstIndex(of: ".") else {
                throw YAMLError("expected PROTOCOL.STATISTIC (like tvp.mean) or a number, found '\(first.text)'", at: here(first.column))
            }
            let protocolName = String(first.text[..<dot]), statisticName = String(first.text[first.text.index(after: dot)...])
            guard let evaluation = ProtocolSpec(rawValue: protocolName), protocols.contains(evaluation) else {
                let known = protocols.map(\.rawValue)
                let hint = suggest(protocolName, from: known).map { "did you mean '\($0)'?" } ?? "evaluate.protocols has " + known.joined(separator: ", ")
                throw YAMLError("claim reads protocol '\(protocolName)', which is not evaluated; \(hint)", at: here(first.column))
            }
            let statistic: ClaimStatistic
            switch statisticName {
            case "mean": statistic = .mean
            case "median": statistic = .median
            case "min": statistic = .min
            case "max": statistic = .max
            default:
                guard models.contains(statisticName) else {
                    let known = ClaimStatistic.names + models
                    let hint = suggest(statisticName, from: known).map { "did you mean '\($0)'?" } ?? "use " + known.joined(separator: ", ")
                    throw YAMLError("unknown statistic or model '\(statisticName)'; \(hint)",
                                    at: here(first.column + protocolName.count + 1))
                }
                statistic = .model(statisticName)
            }
            return .statistic(evaluation, statistic, offset: offset)
        }
        let left = try operand(tokens[..<opIndex], side: "left")
        let right = try operand(tokens[(opIndex + 1)...], side: "right")
        if case .number = left, case .number = right {
            throw YAMLError("claim '\(text)' compares two numbers; one side must read results (like tvp.mean)", at: mark)
        }
        return (left, comparison, right)
    }
}

/// How a check's interval was obtained.
public enum ClaimMethod: String, Sendable {
    /// From the per-item correctness of the two sides on the same items: one model against one
    /// model, or means over the same models (pooled, items resampled); with McNemar's p.
    case paired
    /// Each cell's Wilson interval, combined by interval arithmetic (a statistic over models takes
    /// the statistic of the lower bounds and of the upper bounds; a number is exact): conservative.
    case wilson
    /// No per-item data (a metric other than accuracy): point values only, never decided.
    case point
    /// A result the claim reads is missing: the check fails.
    case missing
}

/// The outcome of one claim on one task.
public struct ClaimCheck: Sendable, Equatable {
    public var task: String
    /// The two sides' point values (offsets included); nil when a result it needs is missing.
    public var left: Double?
    public var right: Double?
    public var verdict: ClaimVerdict
    public var method: ClaimMethod
    /// LEFT − RIGHT (a fraction: 0.05 is 5 points) and its interval at the claim's confidence.
    public var difference: Double?
    public var interval: Interval?
    /// The paired method's discordant pairs (left right only: b; right right only: c) and exact McNemar p.
    public var b: Int?
    public var c: Int?
    public var p: Double?
    /// Test items per cell, and the (model, item) pairs the paired method compared.
    public var items: Int?
    public var pairs: Int?

    public init(task: String, left: Double?, right: Double?, verdict: ClaimVerdict, method: ClaimMethod, difference: Double? = nil,
                interval: Interval? = nil, b: Int? = nil, c: Int? = nil, p: Double? = nil, items: Int? = nil, pairs: Int? = nil) {
        self.task = task
        self.left = left
        self.right = right
        self.verdict = verdict
        self.method = method
        self.difference = difference
        self.interval = interval
        self.b = b
        self.c = c
        self.p = p
        self.items = items
        self.pairs = pairs
    }

    /// Whether the check does not fail (holds or inconclusive).
    public var passed: Bool { verdict != .fails }
}

extension Claim {
    /// Checks the claim on every task it names. `value(task, model, protocol)` gives the claim's
    /// metric (and corruption), nil when missing; `items(task, model, protocol)` each test item's
    /// correctness in source order, nil when the metric has none (only accuracy does).
    ///
    /// The verdict reads an interval of LEFT − RIGHT at `confidence` (`ClaimComparison.verdict`):
    /// - one model against one model, or `mean` against `mean` (over the same models): the paired
    ///   per-item difference with its bootstrap interval (the means pooled, items resampled);
    /// - anything else (`min`, `max`, `median`, a model against a statistic, a number): each cell's
    ///   Wilson interval, the statistic taken of the lower and of the upper bounds, a number exact,
    ///   then [left.low − right.high, left.high − right.low];
    /// - without items: inconclusive; with a result missing: fails.
    public func check(tasks allTasks: [String], models: [String], value: (String, String, ProtocolSpec) -> Double?,
                      items: (String, String, ProtocolSpec) -> [Bool]? = { _, _, _ in nil }) -> [ClaimCheck] {
        (tasks.isEmpty ? allTasks : tasks).map { task in
            func names(_ statistic: ClaimStatistic) -> [String] {
                if case .model(let name) = statistic { return [name] }
                return models
            }
            func point(_ operand: ClaimOperand) -> Double? {
                switch operand {
                case .number(let x): return x
                case .statistic(let evaluation, let statistic, let offset):
                    let cells = names(statistic)
                    let values = cells.compactMap { value(task, $0, evaluation) }
                    guard values.count == cells.count, !values.isEmpty else { return nil }
                    return statistic.summarize(values) + offset
                }
            }
            guard let a = point(left), let b = point(right) else {
                return ClaimCheck(task: task, left: point(left), right: point(right), verdict: .fails, method: .missing)
            }
            // Paired per-item data: the same models (or one model each) on both sides.
            if case .statistic(let lp, let ls, _) = left, case .statistic(let rp, let rs, _) = right {
                var pairs: [(String, String)]?
                switch (ls, rs) {
                case (.model(let x), .model(let y)): pairs = [(x, y)]
                case (.mean, .mean): pairs = models.map { ($0, $0) }
                default: pairs = nil
                }
                let groups = pairs?.compactMap { pair in
                    items(task, pair.0, lp).flatMap { l in items(task, pair.1, rp).map { (left: l, right: $0) } }
                }
                if let groups, groups.count == pairs?.count,
                   let paired = Statistics.pairedComparison(groups, confidence: confidence) {
                    let shift = left.offset - right.offset
                    let interval = Interval(low: paired.interval.low + shift, high: paired.interval.high + shift)
                    return ClaimCheck(task: task, left: a, right: b, verdict: comparison.verdict(interval), method: .paired,
                                      difference: paired.difference + shift, interval: interval, b: paired.b, c: paired.c,
                                      p: paired.p, items: paired.items, pairs: paired.pairs)
                }
            }
            // Wilson intervals of the cells, by interval arithmetic.
            var count: Int?
            func bounds(_ operand: ClaimOperand) -> Interval? {
                switch operand {
                case .number(let x): return Interval(low: x, high: x)
                case .statistic(let evaluation, let statistic, let offset):
                    var cells: [Interval] = []
                    for name in names(statistic) {
                        guard let hits = items(task, name, evaluation), !hits.isEmpty else { return nil }
                        count = count ?? hits.count
                        cells.append(Statistics.wilsonInterval(correct: hits.filter { $0 }.count, total: hits.count, confidence: confidence))
                    }
                    guard !cells.isEmpty else { return nil }
                    return Interval(low: statistic.summarize(cells.map(\.low)) + offset, high: statistic.summarize(cells.map(\.high)) + offset)
                }
            }
            guard let l = bounds(left), let r = bounds(right) else {
                return ClaimCheck(task: task, left: a, right: b, verdict: .inconclusive, method: .point, difference: a - b)
            }
            let interval = Interval(low: l.low - r.high, high: l.high - r.low)
            return ClaimCheck(task: task, left: a, right: b, verdict: comparison.verdict(interval), method: .wilson,
                              difference: a - b, interval: interval, items: count)
        }
    }
}
