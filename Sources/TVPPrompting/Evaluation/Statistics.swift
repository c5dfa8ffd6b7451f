import Foundation
import TVPTensor

/// Intervals and tests for accuracies on small test sets: a Wilson interval for one
/// accuracy, and for two protocols on the same items the paired difference with a percentile
/// bootstrap interval (items resampled, so pooled models move together) and the exact McNemar test.
/// Differences and bounds are fractions (0.05 = 5 points), like the accuracies they compare.
public enum Statistics {
    /// The confidence level used where none is given.
    public static let defaultConfidence = 0.95
    /// Bootstrap resamples and seed used where none is given.
    public static let defaultResamples = 4000
    public static let defaultSeed: UInt64 = 20240417

    /// The standard normal quantile Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation, then one
    /// Halley step on erfc, so about 1e-15 relative): 1.959963984540054 for 0.975.
    public static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "normalQuantile needs 0 < p < 1, got \(p)")
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        var x: Double
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - low {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        // One Halley step on Φ(x) − p, with Φ(x) = erfc(−x/√2)/2.
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }

    /// The two-sided z for `confidence` (1.96 for 0.95).
    static func z(_ confidence: Double) -> Double {
        precondition(confidence > 0 && confidence < 1, "a confidence level lies strictly between 0 and 1, got \(confidence)")
        return normalQuantile(1 - (1 - confidence) / 2)
    }

    /// The Wilson score interval of an accuracy of `correct` out of `total` at `confidence`
    /// (two-sided), clamped to [0, 1]; [0, 1] when `total` is 0.
    public static func wilsonInterval(correct: Int, total: Int, confidence: Double = defaultConfidence) -> Interval {
        precondition(correct >= 0 && correct <= total, "wilsonInterval: \(correct) correct of \(total)")
        guard total > 0 else { return Interval(low: 0, high: 1) }
        let z = z(confidence), n = Double(total), p = Double(correct) / n
        let denominator = 1 + z * z / n
        let center = (p + z * z / (2 * n)) / denominator
        let half = z / denominator * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()
        return Interval(low: max(0, center - half), high: min(1, center + half))
    }

    /// The exact two-sided McNemar p-value: the binomial test of `b` discordant pairs against
    /// `b + c` with p = ½ (twice the smaller tail, at most 1); 1 when there is no discordant pair.
    public static func mcNemarP(b: Int, c: Int) -> Double {
        precondition(b >= 0 && c >= 0, "mcNemarP: negative counts \(b), \(c)")
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        let logHalfN = Double(n) * log(0.5)
        var tail = 0.0
        for i in 0...k {
            tail += exp(lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) + logHalfN)
        }
        return min(1, 2 * tail)
    }

    /// The percentile bootstrap interval of the mean of `values` (one per item): `resamples` means of
    /// items drawn with replacement from a `RandomGenerator(seed:)`, so the same inputs give the
    /// same interval. Nil without values.
    public static func bootstrapMeanInterval(_ values: [Double], confidence: Double = defaultConfidence,
                                             resamples: Int = defaultResamples, seed: UInt64 = defaultSeed) -> Interval? {
        guard !values.isEmpty else { return nil }
        let alpha = 1 - confidence
        precondition(alpha > 0 && alpha < 1, "a confidence level lies strictly between 0 and 1, got \(confidence)")
        precondition(resamples > 0, "bootstrapMeanInterval needs at least one resample")
        var generator = RandomGenerator(seed: seed)
        let n = values.count
        var means = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += values[generator.below(n)] }
            means[r] = sum / Double(n)
        }
        means.sort()
        let lower = min(resamples - 1, max(0, Int((alpha / 2 * Double(resamples)).rounded(.down))))
        let upper = min(resamples - 1, max(0, Int(((1 - alpha / 2) * Double(resamples)).rounded(.up)) - 1))
        return Interval(low: means[lower], high: means[upper])
    }

    /// Compares `left` against `right` on the same items: one pair of per-item correctness vectors
    /// (in the same item order) per group, all of one length. With several groups (the models of a
    /// pooled comparison) the difference is over every (group, item) pair, and the bootstrap draws
    /// ITEMS, so an item's pairs in every group move together (a cluster bootstrap). b and c count
    /// the discordant pairs over all groups (McNemar's p pools them as if independent). Nil without
    /// groups or items, or when the vectors' lengths differ.
    public static func pairedComparison(_ groups: [(left: [Bool], right: [Bool])], confidence: Double = defaultConfidence,
                                        resamples: Int = defaultResamples, seed: UInt64 = defaultSeed) -> PairedComparison? {
        guard let n = groups.first?.left.count, n > 0,
              groups.allSatisfy({ $0.left.count == n && $0.right.count == n }) else { return nil }
        var perItem = [Double](repeating: 0, count: n)
        var b = 0, c = 0
        for group in groups {
            for i in 0..<n where group.left[i] != group.right[i] {
                if group.left[i] { b += 1; perItem[i] += 1 } else { c += 1; perItem[i] -= 1 }
            }
        }
        let scale = 1 / Double(groups.count)
        let differences = perItem.map { $0 * scale }
        let interval = bootstrapMeanInterval(differences, confidence: confidence, resamples: resamples, seed: seed)!
        return PairedComparison(difference: Double(b - c) / Double(n * groups.count), interval: interval, b: b, c: c,
                                p: mcNemarP(b: b, c: c), pairs: n * groups.count, items: n, confidence: confidence)
    }
}

/// A closed interval [low, high].
public struct Interval: Sendable, Equatable {
    public var low: Double
    public var high: Double

    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    public func contains(_ x: Double) -> Bool { low <= x && x <= high }
}

/// The paired comparison of two protocols on the same items (`Statistics.pairedComparison`).
public struct PairedComparison: Sendable, Equatable {
    /// Mean of left − right over the pairs, a fraction (0.05 = 5 points).
    public var difference: Double
    /// The percentile bootstrap interval of `difference`.
    public var interval: Interval
    /// Pairs right on the left and wrong on the right (b), and the reverse (c).
    public var b: Int
    public var c: Int
    /// The exact two-sided McNemar p-value of b against b + c.
    public var p: Double
    /// (group, item) pairs compared, and distinct items (the bootstrap's clusters).
    public var pairs: Int
    public var items: Int
    public var confidence: Double
}
