import Foundation

/// Evaluation metrics over candidate scores.
public enum Metrics {
    /// Whether each row's label is among its k best candidates: scores [N][C]; a candidate beats
    /// the label if it scores higher, or the same with a lower index (argmax takes the first).
    /// A row with a NaN or infinite score is never right (NaN beats nothing, so it would otherwise
    /// count as the best answer).
    public static func topK(_ scores: [[Float]], labels: [Int], k: Int) -> [Bool] {
        zip(scores, labels).map { row, label in
            guard row.allSatisfy(\.isFinite) else { return false }
            var better = 0
            for (j, s) in row.enumerated() where s > row[label] || (s == row[label] && j < label) { better += 1 }
            return better < k
        }
    }

    /// The mean of `flags` as a fraction (0 for none).
    public static func fraction(_ flags: [Bool]) -> Double {
        flags.isEmpty ? 0 : Double(flags.filter { $0 }.count) / Double(flags.count)
    }

    /// The mean over the classes present in `labels` of each class's recall (the fraction of its
    /// samples predicted as it). Nil without labels or with counts that differ.
    public static func balancedAccuracy(predictions: [Int], labels: [Int]) -> Double? {
        guard !labels.isEmpty, predictions.count == labels.count else { return nil }
        var positives: [Int: Int] = [:], hits: [Int: Int] = [:]
        for (p, l) in zip(predictions, labels) {
            positives[l, default: 0] += 1
            if p == l { hits[l, default: 0] += 1 }
        }
        let recalls = positives.map { Double(hits[$0.key] ?? 0) / Double($0.value) }
        return recalls.reduce(0, +) / Double(recalls.count)
    }

    /// The mean F1 = 2·TP / (2·TP + FP + FN) over the classes present in `labels` or
    /// `predictions` (0 for a class with no true positive). Nil without labels or with counts that differ.
    public static func macroF1(predictions: [Int], labels: [Int]) -> Double? {
        guard !labels.isEmpty, predictions.count == labels.count else { return nil }
        var truePositives: [Int: Int] = [:], predicted: [Int: Int] = [:], actual: [Int: Int] = [:]
        for (p, l) in zip(predictions, labels) {
            predicted[p, default: 0] += 1
            actual[l, default: 0] += 1
            if p == l { truePositives[l, default: 0] += 1 }
        }
        let classes = Set(predicted.keys).union(actual.keys)
        let scores = classes.map { c -> Double in
            let tp = Double(truePositives[c] ?? 0)
            let fp = Double(predicted[c] ?? 0) - tp, fn = Double(actual[c] ?? 0) - tp
            return tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
        }
        return scores.reduce(0, +) / Double(classes.count)
    }

    /// ROC-AUC by the exact Mann–Whitney statistic: the probability that a random positive scores
    /// above a random negative, ties counting one half (mid-ranks). Nil without both classes.
    public static func rocAUC(scores: [Double], positives: [Bool]) -> Double? {
        let nPos = positives.filter { $0 }.count, nNeg = positives.count - nPos
        guard nPos > 0, nNeg > 0, scores.count == positives.count else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0                                   // sum of the positives' (1-based, mid) ranks
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let midRank = Double(i + j) / 2 + 1
            for t in i...j where positives[order[t]] { rankSum += midRank }
            i = j + 1
        }
        let u = rankSum - Double(nPos) * Double(nPos + 1) / 2
        return u / (Double(nPos) * Double(nNeg))
    }
}

/// POPE's yes/no metrics, "yes" being the positive answer.
public struct POPEMetrics: Codable, Equatable, Sendable {
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// The fraction of "yes" predictions.
    public var yesRatio: Double

    /// From predicted and true answers (true = "yes"); precision, recall and F1 are 0 where undefined.
    public init(predictedYes: [Bool], actualYes: [Bool]) {
        var tp = 0, fp = 0, tn = 0, fn = 0
        for (p, a) in zip(predictedYes, actualYes) {
            switch (p, a) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        let n = Double(max(tp + fp + tn + fn, 1))
        accuracy = Double(tp + tn) / n
        precision = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
        recall = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
        f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        yesRatio = Double(tp + fp) / n
    }
}
