import Foundation
import TVPFormats

/// One `expect:` claim, checked after the run: `LEFT OP RIGHT`, for each task it names.
///
/// An operand is a number or `PROTOCOL.STATISTIC`, optionally `± NUMBER` (spaces around the sign):
/// `tvp.mean >= vp.mean`, `tvp.min > zero-shot-official.max + 0.01`, `vp.llava-tiny <= 0.9`.
/// STATISTIC is `mean`, `median`, `min` or `max` over the claim's models (`over:`), or a model name.
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

    public init(text: String, left: ClaimOperand, comparison: ClaimComparison, right: ClaimOperand, scope: ClaimScope,
                tasks: [String], metric: String, corruption: String?, mark: Mark) {
        self.text = text
        self.left = left
        self.comparison = comparison
        self.right = right
        self.scope = scope
        self.tasks = tasks
        self.metric = metric
        self.corruption = corruption
        self.mark = mark
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
}

public enum ClaimStatistic: Sendable, Equatable {
    case mean, median, min, max
    case model(String)

    public static let names = ["mean", "median", "min", "max"]
}

public enum ClaimOperand: Sendable, Equatable {
    case number(Double)
    case statistic(ProtocolSpec, ClaimStatistic, offset: Double)

    /// The protocol this operand reads, if any.
    public var evaluationProtocol: ProtocolSpec? {
        if case .statistic(let p, _, _) = self { return p }
        return nil
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

/// The outcome of one claim on one task.
public struct ClaimCheck: Sendable, Equatable {
    public var task: String
    /// Nil when a result it needs is missing (a failed stage).
    public var left: Double?
    public var right: Double?
    public var passed: Bool
}

extension Claim {
    /// Checks the claim on every task it names with `value(task, model, protocol)`, which gives the
    /// claim's metric (and corruption) or nil when missing.
    public func check(tasks allTasks: [String], models: [String],
                      value: (String, String, ProtocolSpec) -> Double?) -> [ClaimCheck] {
        (tasks.isEmpty ? allTasks : tasks).map { task in
            func evaluate(_ operand: ClaimOperand) -> Double? {
                switch operand {
                case .number(let x): return x
                case .statistic(let evaluation, let statistic, let offset):
                    if case .model(let name) = statistic { return value(task, name, evaluation).map { $0 + offset } }
                    let values = models.compactMap { value(task, $0, evaluation) }
                    guard values.count == models.count, !values.isEmpty else { return nil }
                    let sorted = values.sorted()
                    let result: Double
                    switch statistic {
                    case .mean: result = values.reduce(0, +) / Double(values.count)
                    case .median: result = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
                    case .min: result = sorted.first!
                    case .max: result = sorted.last!
                    case .model: result = 0
                    }
                    return result + offset
                }
            }
            let a = evaluate(left), b = evaluate(right)
            return ClaimCheck(task: task, left: a, right: b, passed: a.flatMap { a in b.map { comparison.holds(a, $0) } } ?? false)
        }
    }
}
