import Foundation
import TVPPrompting
import TVPTensor
import XCTest

/// Reference values from scipy 1.17 (`stats.norm.ppf`, `stats.binomtest(b, b + c, 0.5).pvalue`, and
/// the Wilson formula with `norm.ppf(0.975)`).
final class StatisticsTests: XCTestCase {
    func testNormalQuantile() {
        XCTAssertEqual(Statistics.normalQuantile(0.975), 1.959963984540054, accuracy: 1e-12)
        XCTAssertEqual(Statistics.normalQuantile(0.95), 1.6448536269514722, accuracy: 1e-12)
        XCTAssertEqual(Statistics.normalQuantile(0.995), 2.5758293035489004, accuracy: 1e-12)
        XCTAssertEqual(Statistics.normalQuantile(1e-10), -6.361340902404056, accuracy: 1e-9)
        XCTAssertEqual(Statistics.normalQuantile(0.5), 0, accuracy: 1e-15)
    }

    func testWilsonInterval() {
        let a = Statistics.wilsonInterval(correct: 31, total: 100)
        XCTAssertEqual(a.low, 0.22779697212376038, accuracy: 1e-9)
        XCTAssertEqual(a.high, 0.40626055719489407, accuracy: 1e-9)
        let none = Statistics.wilsonInterval(correct: 0, total: 20)
        XCTAssertEqual(none.low, 0, accuracy: 1e-12)
        XCTAssertEqual(none.high, 0.16112515805281938, accuracy: 1e-9)
        let all = Statistics.wilsonInterval(correct: 20, total: 20)
        XCTAssertEqual(all.low, 0.8388748419471806, accuracy: 1e-9)
        XCTAssertEqual(all.high, 1, accuracy: 1e-12)
        let ninety = Statistics.wilsonInterval(correct: 31, total: 100, confidence: 0.9)
        XCTAssertEqual(ninety.low, 0.2397737460242202, accuracy: 1e-9)
        XCTAssertEqual(ninety.high, 0.39023648787338605, accuracy: 1e-9)
        XCTAssertEqual(Statistics.wilsonInterval(correct: 0, total: 0), Interval(low: 0, high: 1))
    }

    func testExactMcNemar() {
        XCTAssertEqual(Statistics.mcNemarP(b: 3, c: 0), 0.25, accuracy: 1e-12)
        XCTAssertEqual(Statistics.mcNemarP(b: 10, c: 4), 0.1795654296875, accuracy: 1e-12)
        XCTAssertEqual(Statistics.mcNemarP(b: 4, c: 10), 0.1795654296875, accuracy: 1e-12)
        XCTAssertEqual(Statistics.mcNemarP(b: 0, c: 0), 1)
        XCTAssertEqual(Statistics.mcNemarP(b: 5, c: 5), 1)
        XCTAssertEqual(Statistics.mcNemarP(b: 1, c: 0), 1)
        // 2 · P(X ≤ 100) for X ~ Bin(300, ½): scipy gives 8.014875216538921e-09.
        XCTAssertEqual(Statistics.mcNemarP(b: 200, c: 100) / 8.014875216538921e-09, 1, accuracy: 1e-8)
    }

    /// 100 items, 15 right only on the left, 5 only on the right: +10 points; the normal
    /// approximation of the interval is 0.10 ± 1.96 · √(0.19 / 100) = [0.0146, 0.1854].
    func testPairedBootstrapBracketsTheDifferenceAndIsReproducible() throws {
        var left = Array(repeating: true, count: 60) + Array(repeating: false, count: 40)
        var right = left
        for i in 0..<15 { right[i] = false }          // b = 15
        for i in 60..<65 { right[i] = true }          // c = 5
        left.swapAt(3, 99); right.swapAt(3, 99)      // order does not matter
        let result = try XCTUnwrap(Statistics.pairedComparison([(left, right)]))
        XCTAssertEqual(result.difference, 0.10, accuracy: 1e-12)
        XCTAssertEqual(result.b, 15)
        XCTAssertEqual(result.c, 5)
        XCTAssertEqual(result.pairs, 100)
        XCTAssertEqual(result.items, 100)
        XCTAssertEqual(result.p, 0.04138946533203125, accuracy: 1e-12, "scipy binomtest(15, 20)")
        XCTAssertTrue(result.interval.contains(result.difference))
        XCTAssertEqual(result.interval.low, 0.0146, accuracy: 0.015)
        XCTAssertEqual(result.interval.high, 0.1854, accuracy: 0.015)
        XCTAssertEqual(Statistics.pairedComparison([(left, right)]), result, "the default seed makes it reproducible")
        let other = try XCTUnwrap(Statistics.pairedComparison([(left, right)], seed: 7))
        XCTAssertEqual(other.difference, result.difference)
        XCTAssertEqual(other.interval.low, result.interval.low, accuracy: 0.02)
        let wider = try XCTUnwrap(Statistics.pairedComparison([(left, right)], confidence: 0.99))
        XCTAssertTrue(wider.interval.low <= result.interval.low && wider.interval.high >= result.interval.high)
        XCTAssertNil(Statistics.pairedComparison([]))
        XCTAssertNil(Statistics.pairedComparison([(left, Array(right.dropLast()))]))
        let same = try XCTUnwrap(Statistics.pairedComparison([(left, left)]))
        XCTAssertEqual(same.interval, Interval(low: 0, high: 0))
        XCTAssertEqual(same.p, 1)
    }

    /// Two models whose gains fall on the same items move together: pooled, the interval is the
    /// one model's; with opposite gains on the same items every item's pooled difference is 0.
    func testClusterBootstrapResamplesItems() throws {
        var rng = RandomGenerator(seed: 5)
        let right = (0..<80).map { _ in rng.uniform() < 0.5 }
        let left = right.enumerated().map { $0.offset < 20 ? true : $0.element }
        let one = try XCTUnwrap(Statistics.pairedComparison([(left, right)]))
        let twice = try XCTUnwrap(Statistics.pairedComparison([(left, right), (left, right)]))
        XCTAssertEqual(twice.difference, one.difference, accuracy: 1e-12)
        XCTAssertEqual(twice.interval.low, one.interval.low, accuracy: 1e-12, "a pair per item and model moves with its item")
        XCTAssertEqual(twice.interval.high, one.interval.high, accuracy: 1e-12)
        XCTAssertEqual(twice.b, 2 * one.b)
        XCTAssertEqual(twice.pairs, 160)
        XCTAssertEqual(twice.items, 80)
        let opposite = try XCTUnwrap(Statistics.pairedComparison([(left, right), (right, left)]))
        XCTAssertEqual(opposite.difference, 0)
        XCTAssertEqual(opposite.interval, Interval(low: 0, high: 0))
        XCTAssertEqual(opposite.b, opposite.c)
        XCTAssertEqual(opposite.p, 1)
    }
}
