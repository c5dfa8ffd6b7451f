import Foundation
import TVPTensor
import XCTest

/// Oracle: per-row cross-entropy −log softmax(logits)[target] in Double; nil for ignored rows.
private func referenceCrossEntropy(_ logits: [Float], classes: Int, targets: [Int], ignoreIndex: Int) -> [Double?] {
    targets.enumerated().map { row, target in
        if target == ignoreIndex { return nil }
        let values = (0..<classes).map { Double(logits[row * classes + $0]) }
        let top = values.max()!
        return top + Foundation.log(values.map { Foundation.exp($0 - top) }.reduce(0, +)) - values[target]
    }
}

final class LossTests: XCTestCase {
    // Inputs and golden values from scripts/fixtures/loss.py (PyTorch 2.15 CPU, float32).
    let logitValues: [Float] = [2.0, -1.0, 0.5, 0.0, 1.0,
                                0.1, 0.2, 0.3, 0.4, 0.5,
                                -3.0, 4.0, 1.0, 0.0, 2.5,
                                30.0, 0.0, -30.0, 5.0, 1.0]
    let targets = [0, -100, 4, 3]

    func testCrossEntropyMatchesPyTorchWithIgnoreIndex() throws {
        let logits = try Tensor(logitValues, shape: [4, 5], requiresGrad: true)
        XCTAssertEqual(try crossEntropy(logits, targets: targets).item, 9.11024761, accuracy: 1e-5)
        XCTAssertEqual(try crossEntropy(logits, targets: targets, reduction: .sum).item, 27.3307419, accuracy: 1e-5)
        let perRow = try crossEntropy(logits, targets: targets, reduction: .none)
        XCTAssertEqual(perRow.shape, [4])
        assertClose(perRow.toArray(), [0.574438035, 0, 1.75630343, 25], tolerance: 1e-6)
        // Int32 targets give the same loss, and the gradient of the mean matches PyTorch.
        try crossEntropy(logits, targets: targets.map { Int32($0) }).backward()
        assertClose(logits.grad!.toArray(), [-0.145659611, 0.0093437247, 0.0418756679, 0.0253988765, 0.0690413043,
                                             0, 0, 0, 0, 0,
                                             0.000235237341, 0.257969022, 0.0128435213, 0.00472486857, -0.275772661,
                                             0.333333343, 3.11920764e-14, 2.91883696e-27, -0.333333343, 8.47888586e-14],
                    tolerance: 1e-6, "dlogits")
    }

    func testCrossEntropyMatchesReferenceLoop() throws {
        let logits = Tensor.randn([2, 3, 7], std: 4, seed: 41)
        let rowTargets = [3, 0, 6, -1, 2, 5]
        let ref = referenceCrossEntropy(logits.toArray(), classes: 7, targets: rowTargets, ignoreIndex: -1)
        let perRow = try crossEntropy(logits, targets: rowTargets, ignoreIndex: -1, reduction: .none)
        XCTAssertEqual(perRow.shape, [2, 3])
        assertClose(perRow.toArray(), ref.map { Float($0 ?? 0) }, tolerance: 1e-5)
        let counted = ref.compactMap { $0 }
        XCTAssertEqual(Double(try crossEntropy(logits, targets: rowTargets, ignoreIndex: -1).item),
                       counted.reduce(0, +) / Double(counted.count), accuracy: 1e-5)
    }

    func testCrossEntropyGradients() throws {
        let logits = Tensor.randn([5, 6], seed: 42, requiresGrad: true)
        let rowTargets = [1, 5, -100, 0, 3]
        for reduction in [LossReduction.mean, .sum, .none] {
            try gradCheck("crossEntropy \(reduction)", inputs: [logits], eps: 1e-3) {
                try crossEntropy($0[0], targets: rowTargets, reduction: reduction)
            }
        }
        // An ignore index inside the class range skips exactly those rows.
        try gradCheck("crossEntropy ignoreIndex 0", inputs: [logits], eps: 1e-3) {
            try crossEntropy($0[0], targets: [1, 0, 2, 0, 3], ignoreIndex: 0)
        }
    }

    func testCrossEntropyAllIgnoredAndBadTargets() throws {
        let logits = Tensor.randn([2, 3], seed: 43, requiresGrad: true)
        let mean = try crossEntropy(logits, targets: [-100, -100])
        XCTAssertTrue(mean.item.isNaN, "mean over zero counted rows is NaN, as in PyTorch")
        XCTAssertEqual(try crossEntropy(logits, targets: [-100, -100], reduction: .sum).item, 0)
        try mean.backward()
        XCTAssertEqual(logits.grad?.toArray(), [0, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try crossEntropy(logits, targets: [0, 3])) { error in
            XCTAssertTrue("\(error)".contains("crossEntropy") && "\(error)".contains("target 3 at row 1"), "\(error)")
        }
        XCTAssertThrowsError(try crossEntropy(logits, targets: [Int32(-2), 0])) { error in
            XCTAssertTrue("\(error)".contains("target -2 at row 0"), "\(error)")
        }
        XCTAssertThrowsError(try crossEntropy(logits, targets: [0])) { XCTAssertTrue("\($0)".contains("1 targets"), "\($0)") }
        XCTAssertThrowsError(try crossEntropy(Tensor(zeros: [3]), targets: [0])) { XCTAssertTrue("\($0)".contains("[3]"), "\($0)") }
    }

    let a: [Float] = [1.0, 2.0, -1.0, 0.5, 0.0, -3.0, 4.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    let b: [Float] = [0.5, -1.0, 2.0, 3.0, 1.0, -2.0, 3.0, 0.0, -1.0, -1.0, -1.0, -1.0]

    func testCosineSimilarityMatchesPyTorch() throws {
        let ta = try Tensor(a, shape: [3, 4], requiresGrad: true), tb = try Tensor(b, shape: [3, 4], requiresGrad: true)
        let c = try cosineSimilarity(ta, tb)
        XCTAssertEqual(c.shape, [3])
        assertClose(c.toArray(), [-0.211925179, 0.943456292, -1], tolerance: 1e-6, "cosine")
        try c.backward(seed: try Tensor([1.0, -0.5, 2.0], shape: [3]))
        assertClose(ta.grad!.toArray(), [0.0868893191, -0.0381465405, 0.178017154, 0.334841788, -0.0262071211, -0.00201592594,
                                         -0.00604779273, 0.0181433912, 0, 0, 0, 0], tolerance: 1e-6, "da")
        assertClose(tb.grad!.toArray(), [0.113398559, 0.197053239, -0.0762187093, 0.0975971222, 0.0336948633, 0.011231631,
                                         -0.00374388695, -0.0262071192, 0, 0, 0, 0], tolerance: 1e-6, "db")
        assertClose(try cosineSimilarity(ta, try Tensor([1.0, 0.0, -1.0, 2.0], shape: [4])).toArray(),
                    [0.489897907, -0.160128146, 0.408248276], tolerance: 1e-6, "broadcast")
        assertClose(try cosineSimilarity(ta, tb, axis: 0).toArray(), [-0.44721359, 0.198029473, 0.466569424, -0.0690065622],
                    tolerance: 1e-6, "axis 0")
        // Each norm is clamped to eps separately (a clamped product would give 0.01 here).
        let tiny = try Tensor([1e-5, 0], shape: [1, 2])
        XCTAssertEqual(try cosineSimilarity(tiny, tiny).item, 1, accuracy: 1e-6)
        XCTAssertEqual(try cosineSimilarity(try Tensor([1e-9, 0], shape: [1, 2]), try Tensor([3, 4], shape: [1, 2])).item,
                       0.0600000024, accuracy: 1e-6)
    }

    func testCosineSimilarityGradients() throws {
        let x = Tensor.randn([3, 5], seed: 44, requiresGrad: true), y = Tensor.randn([3, 5], seed: 45, requiresGrad: true)
        try gradCheck("cosineSimilarity", inputs: [x, y], eps: 1e-3) { try cosineSimilarity($0[0], $0[1]) }
        try gradCheck("cosineSimilarity axis 0", inputs: [x, y], eps: 1e-3) { try cosineSimilarity($0[0], $0[1], axis: 0) }
        let guide = Tensor.randn([5], seed: 46, requiresGrad: true)
        try gradCheck("cosineSimilarity broadcast", inputs: [x, guide], eps: 1e-3) { try cosineSimilarity($0[0], $0[1]) }
        // Inside the clamp the norm is the constant eps: the result is linear in the tiny vector.
        let tiny = try Tensor([2e-9, -1e-9, 3e-9], shape: [1, 3], requiresGrad: true)
        let other = try Tensor([1, 2, 2], shape: [1, 3])
        try cosineSimilarity(tiny, other).sum().backward()
        assertClose(tiny.grad!.toArray().map { $0 * 1e-8 }, [1.0 / 3, 2.0 / 3, 2.0 / 3], tolerance: 1e-6, "clamped gradient")
    }

    func testNormalizeAndL2Norm() throws {
        let ta = try Tensor(a, shape: [3, 4])
        assertClose(try normalize(ta).toArray(), [0.400000006, 0.800000012, -0.400000006, 0.200000003, 0, -0.588348389,
                                                  0.784464538, 0.196116135, 0.5, 0.5, 0.5, 0.5], tolerance: 1e-6, "normalize")
        assertClose(try l2Norm(ta).toArray(), [2.5, 5.09901953, 4], tolerance: 1e-6, "l2Norm")
        XCTAssertEqual(try l2Norm(ta, axis: 0, keepDims: true).shape, [1, 4])
        let columnSquares: [Float] = [1 + 0 + 4, 4 + 9 + 4, 1 + 16 + 4, 0.25 + 1 + 4]
        assertClose(try l2Norm(ta, axis: 0).toArray(), columnSquares.map { $0.squareRoot() }, tolerance: 1e-6, "l2Norm axis 0")
        // A zero vector: norm 0 with gradient 0; normalize leaves it 0 with gradient g / eps.
        let zero = Tensor(zeros: [1, 3], requiresGrad: true)
        try l2Norm(zero).sum().backward()
        XCTAssertEqual(zero.grad?.toArray(), [0, 0, 0])
        XCTAssertEqual(try normalize(zero).toArray(), [0, 0, 0])
    }

    func testNormalizeAndL2NormGradients() throws {
        let x = Tensor.randn([2, 3, 4], seed: 47, requiresGrad: true)
        for axis in [-1, 1] {
            try gradCheck("normalize axis \(axis)", inputs: [x], eps: 1e-3) { try normalize($0[0], axis: axis) }
            try gradCheck("l2Norm axis \(axis)", inputs: [x], eps: 1e-3) { try l2Norm($0[0], axis: axis) }
        }
        // FCA's distance: mean over rows of the L2 norm of feature differences.
        let clean = Tensor.randn([2, 3, 4], seed: 48)
        try gradCheck("mean l2Norm of differences", inputs: [x], eps: 1e-3) { try l2Norm($0[0] - clean).mean() }
    }

    func testMSELoss() throws {
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true), y = try Tensor([0, 2, 5, 3], shape: [2, 2])
        XCTAssertEqual(try mseLoss(x, y).item, 1.5)
        XCTAssertEqual(try mseLoss(x, y, reduction: .sum).item, 6)
        XCTAssertEqual(try mseLoss(x, y, reduction: .none).toArray(), [1, 0, 4, 1])
        let p = Tensor.randn([3, 4], seed: 49, requiresGrad: true), q = Tensor.randn([3, 4], seed: 50, requiresGrad: true)
        for reduction in [LossReduction.mean, .sum, .none] {
            try gradCheck("mseLoss \(reduction)", inputs: [p, q], eps: 1e-3) { try mseLoss($0[0], $0[1], reduction: reduction) }
        }
        XCTAssertThrowsError(try mseLoss(x, Tensor(zeros: [4]))) { XCTAssertTrue("\($0)".contains("mseLoss"), "\($0)") }
    }

    /// Sizes large enough that `Parallel.forRanges` splits the work.
    func testLargeLossKernelsAgreeAcrossThreads() throws {
        let logits = Tensor.randn([96, 200], std: 3, seed: 51, requiresGrad: true)
        let rowTargets = (0..<96).map { $0 % 7 == 0 ? -100 : ($0 * 37) % 200 }
        let ref = referenceCrossEntropy(logits.toArray(), classes: 200, targets: rowTargets, ignoreIndex: -100)
        assertClose(try crossEntropy(logits, targets: rowTargets, reduction: .none).toArray(), ref.map { Float($0 ?? 0) }, tolerance: 1e-5)
        try assertSameAcrossThreadCounts("crossEntropy", [logits]) { try crossEntropy($0[0], targets: rowTargets) }
        let other = Tensor.randn([96, 200], seed: 52, requiresGrad: true)
        try assertSameAcrossThreadCounts("cosineSimilarity", [logits, other]) { try cosineSimilarity($0[0], $0[1]) }
        try assertSameAcrossThreadCounts("cosineSimilarity axis 0", [logits, other]) { try cosineSimilarity($0[0], $0[1], axis: 0) }
        try assertSameAcrossThreadCounts("normalize", [logits]) { try normalize($0[0]) }
        try assertSameAcrossThreadCounts("l2Norm", [logits]) { try l2Norm($0[0]) }
        try assertSameAcrossThreadCounts("mseLoss", [logits, other]) { try mseLoss($0[0], $0[1], reduction: .none) }
    }

    func testAxisAndShapeErrors() {
        let x = Tensor(zeros: [2, 3])
        XCTAssertThrowsError(try l2Norm(x, axis: 2)) { XCTAssertTrue("\($0)".contains("l2Norm") && "\($0)".contains("[2, 3]"), "\($0)") }
        XCTAssertThrowsError(try normalize(x, axis: -3)) { XCTAssertTrue("\($0)".contains("normalize"), "\($0)") }
        XCTAssertThrowsError(try cosineSimilarity(x, Tensor(zeros: [4]))) { error in
            XCTAssertTrue("\(error)".contains("cosineSimilarity") && "\(error)".contains("[4]"), "\(error)")
        }
    }
}
