import TVPData
import TVPTensor
import XCTest

final class TransformSamplingTests: XCTestCase {
    func testShuffledIndicesArePermutationsFixedBySeedAndEpoch() {
        let a = Sampling.shuffledIndices(count: 50, seed: 42, epoch: 0)
        XCTAssertEqual(a.sorted(), Array(0..<50))
        XCTAssertEqual(a, Sampling.shuffledIndices(count: 50, seed: 42, epoch: 0))
        XCTAssertNotEqual(a, Sampling.shuffledIndices(count: 50, seed: 42, epoch: 1))
        XCTAssertNotEqual(a, Sampling.shuffledIndices(count: 50, seed: 43, epoch: 0))
        XCTAssertEqual(Sampling.shuffledIndices(count: 0, seed: 1), [])
        XCTAssertEqual(Sampling.shuffledIndices(count: 1, seed: 1), [0])
    }

    func testShuffleIsUniformOverPermutations() {
        // 6000 shuffles of three items: each of the six orders about 1000 times (σ ≈ 29).
        var counts: [[Int]: Int] = [:]
        var rng = RandomGenerator(seed: 9)
        for _ in 0..<6000 {
            var items = [0, 1, 2]
            Sampling.shuffle(&items, using: &rng)
            counts[items, default: 0] += 1
        }
        XCTAssertEqual(counts.count, 6)
        for (order, n) in counts { XCTAssertTrue((880...1120).contains(n), "\(order): \(n)") }
    }

    /// Labels 0, 1, 2 with 7, 4 and 10 members, interleaved.
    let labels: [Int] = (0..<21).map { i in i < 12 ? [0, 1, 2][i % 3] : (i < 15 ? 0 : 2) }

    func testKPerClassWithReplacementFollowsTheOfficialRule() throws {
        let chosen = try Sampling.perClass(labels: labels, amount: .count(6), replacement: true, seed: 42)
        XCTAssertEqual(chosen.count, 18)
        for c in 0..<3 { XCTAssertEqual(chosen.filter { labels[$0] == c }.count, 6) }
        XCTAssertEqual(chosen, try Sampling.perClass(labels: labels, amount: .count(6), replacement: true, seed: 42))
        XCTAssertNotEqual(chosen, try Sampling.perClass(labels: labels, amount: .count(6), replacement: true, seed: 7))
        // With replacement, more than a class holds is fine (class 1 has 4) and repeats appear.
        let many = try Sampling.perClass(labels: labels, amount: .count(30), replacement: true, seed: 1)
        XCTAssertLessThan(Set(many.filter { labels[$0] == 1 }).count, 30)
        XCTAssertEqual(Set(many.filter { labels[$0] == 1 }), Set([1, 4, 7, 10]))
        // Unshuffled: classes in ascending label order.
        let ordered = try Sampling.perClass(labels: labels, amount: .count(2), replacement: true, seed: 3, shuffled: false)
        XCTAssertEqual(ordered.map { labels[$0] }, [0, 0, 1, 1, 2, 2])
    }

    func testWithoutReplacementDrawsDistinctMembers() throws {
        let all = try Sampling.perClass(labels: labels, amount: .count(4), replacement: false, seed: 5)
        XCTAssertEqual(Set(all).count, 12)
        XCTAssertEqual(Set(all.filter { labels[$0] == 1 }), Set([1, 4, 7, 10]))
        assertThrows(try Sampling.perClass(labels: labels, amount: .count(5), replacement: false, seed: 5),
                     containing: ["class 1 has 4 examples", "5"])
        // Every member of a class of 10 is reachable.
        var seen = Set<Int>()
        for seed in 0..<60 { seen.formUnion(try Sampling.perClass(labels: labels, amount: .count(1), replacement: false, seed: UInt64(seed))) }
        XCTAssertEqual(seen, Set(0..<21))
    }

    func testFractionPerClassTakesIntOfFractionTimesClassSize() throws {
        // int(0.5 · 7) = 3, int(0.5 · 4) = 2, int(0.5 · 10) = 5.
        for replacement in [true, false] {
            let half = try Sampling.perClass(labels: labels, amount: .fraction(0.5), replacement: replacement, seed: 2)
            XCTAssertEqual([0, 1, 2].map { c in half.filter { labels[$0] == c }.count }, [3, 2, 5])
        }
        assertThrows(try Sampling.perClass(labels: labels, amount: .fraction(1.5), replacement: true, seed: 2), containing: ["outside [0, 1]"])
        assertThrows(try Sampling.perClass(labels: [0, -1], amount: .count(1), replacement: true, seed: 2), containing: ["negative"])
    }

    func testBatchesAndLoading() throws {
        XCTAssertEqual(try Sampling.batches(Array(0..<7), size: 3), [[0, 1, 2], [3, 4, 5], [6]])
        XCTAssertEqual(try Sampling.batches(Array(0..<7), size: 3, dropLast: true), [[0, 1, 2], [3, 4, 5]])
        assertThrows(try Sampling.batches([1], size: 0), containing: ["positive"])
        // The indices feed LabeledImageBatches directly.
        let images = Tensor(uninitialized: [21, 1, 2, 2])
        for i in 0..<21 { for p in 0..<4 { images.data[i * 4 + p] = Float(i) } }
        let set = try ImageClassificationSet(images: images, labels: labels, classNames: ["a", "b", "c"])
        let pick = try Sampling.perClass(labels: set.labels, amount: .count(2), replacement: false, seed: 8)
        let (batch, batchLabels) = try set.load(pick)
        XCTAssertEqual(batchLabels, pick.map { labels[$0] })
        XCTAssertEqual((0..<pick.count).map { batch.data[$0 * 4] }, pick.map(Float.init))
    }
}
