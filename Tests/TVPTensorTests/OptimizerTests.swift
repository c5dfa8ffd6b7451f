import Foundation
import TVPTensor
import XCTest

/// Reference values printed by scripts/fixtures/optimizers.py (torch.optim, float32, single-tensor path).
/// Every trajectory starts from `p0` and applies `grads[k]` with learning rate `lrs[k]` at step k.
enum TorchOptimizerFixtures {
    static let p0: [Float] = [0.5, -1.25, 2.0, 0.0, -0.75, 3.5]
    static let grads: [[Float]] = [
        [0.1, -0.2, 0.3, -0.4, 0.5, -0.6],
        [-0.05, 0.25, 0.125, 1.5, -0.3, 0.2],
        [0.7, 0.0, -0.9, 0.2, 0.05, -0.15],
        [-0.3, 0.45, 0.6, -1.1, 0.0, 0.35],
    ]
    static let lrs: [Float] = [0.1, 0.05, 0.2, 0.01]
    // torch 2.15.0+cu132 - learning rates per step: [0.1, 0.05, 0.2, 0.01]
    static let sgdMomentum: [[Float]] = [
        [0.49000001, -1.23000002, 1.97000003, 0.0400000028, -0.800000012, 3.55999994],
        [0.488000005, -1.2335, 1.95025003, -0.0169999972, -0.807500005, 3.5769999],
        [0.340800017, -1.24609995, 2.05914998, -0.262199998, -0.844500005, 3.66820002],
        [0.337176025, -1.25116694, 2.05805039, -0.262234002, -0.846165001, 3.66880393],
    ]
    static let sgdNesterovDecay: [[Float]] = [
        [0.480049998, -1.20962501, 1.93920004, 0.0759999976, -0.843575001, 3.60735011],
        [0.480091453, -1.22361958, 1.91252279, -0.0503721982, -0.834219873, 3.60780573],
        [0.204280421, -1.22652769, 2.17720771, -0.310983866, -0.87188977, 3.69522905],
        [0.203873321, -1.23508561, 2.16937709, -0.299956828, -0.873044312, 3.69078565],
    ]
    static let sgdDampeningDecay: [[Float]] = [
        [0.484999985, -1.21749997, 1.95000005, 0.0400000028, -0.792500019, 3.5250001],
        [0.48131749, -1.21514618, 1.92309999, -0.0176799912, -0.786058784, 3.50638771],
        [0.339288771, -1.18856609, 1.99668419, -0.168721735, -0.768027246, 3.43304777],
        [0.338132679, -1.19088185, 1.99132681, -0.162445933, -0.766885221, 3.42497444],
    ]
    static let sgdPlainDecay: [[Float]] = [
        [0.487500012, -1.22375, 1.96000004, 0.0400000028, -0.796249986, 3.54250002],
        [0.488781273, -1.23319066, 1.94885004, -0.0350999981, -0.779259384, 3.52364373],
        [0.343893468, -1.22085869, 2.10936165, -0.0747490004, -0.781466782, 3.51840734],
        [0.34672153, -1.22474825, 2.10230708, -0.0637116283, -0.781076074, 3.51314807],
    ]
    static let adamWDefaults: [[Float]] = [
        [0.399500012, -1.14874995, 1.898, 0.100000009, -0.849249959, 3.59649992],
        [0.385983407, -1.15631223, 1.85181105, 0.0726266801, -0.858400226, 3.61471248],
        [0.252556443, -1.17915821, 1.92081666, -0.027642861, -0.897105634, 3.69719434],
        [0.249793962, -1.18437421, 1.92005849, -0.0276504308, -0.898671508, 3.69730043],
    ]
    static let adamWCustom: [[Float]] = [
        [0.395000994, -1.13750041, 1.88000035, 0.0999997631, -0.842499793, 3.56500006],
        [0.382469267, -1.14284992, 1.82640362, 0.0697049052, -0.845032334, 3.5646019],
        [0.230511338, -1.15198374, 1.87972856, -0.0354794636, -0.859783173, 3.5753274],
        [0.227830887, -1.15703714, 1.87716961, -0.0347899534, -0.86013478, 3.57128429],
    ]
    // CosineAnnealingLR(base 10, T_max 4, eta_min 0), epochs 0..<10 (periodic past T_max)
    static let cosine10T4: [Double] = [10, 8.5355339059327378, 5, 1.4644660940672627, 0, 1.4644660940672622, 5.0000000000000009, 8.5355339059327413, 10.000000000000005, 8.5355339059327431]
    // CosineAnnealingLR(base 0.5, T_max 7, eta_min 0.01), steps 0..<16
    static let cosine05T7Min001: [Double] = [0.5, 0.47573737263609267, 0.40775500145538973, 0.30951762881929706, 0.20048237118070303, 0.1022449985446103, 0.034262627363907339, 0.01, 0.034262627363907311, 0.10224499854461024, 0.20048237118070295, 0.30951762881929679, 0.40775500145538968, 0.47573737263609278, 0.5, 0.47573737263609278]
}

/// Plain Double-precision SGD (torch.optim.SGD semantics): the oracle for the fast kernel.
func referenceSGD(_ p0: [Float], grads: [[Float]], lrs: [Float], momentum: Double, dampening: Double,
                  nesterov: Bool, weightDecay: Double) -> [Double] {
    var p = p0.map(Double.init)
    var buffer: [Double]? = nil
    for (g, lr) in zip(grads, lrs) {
        var d = [Double](repeating: 0, count: p.count)
        for i in 0..<p.count { d[i] = Double(g[i]) + weightDecay * p[i] }
        if momentum != 0 {
            if var b = buffer {
                for i in 0..<p.count { b[i] = momentum * b[i] + (1 - dampening) * d[i] }
                buffer = b
            } else {
                buffer = d
            }
            for i in 0..<p.count { d[i] = nesterov ? d[i] + momentum * buffer![i] : buffer![i] }
        }
        for i in 0..<p.count { p[i] -= Double(lr) * d[i] }
    }
    return p
}

/// Plain Double-precision AdamW (torch.optim.AdamW semantics): the oracle for the fast kernel.
func referenceAdamW(_ p0: [Float], grads: [[Float]], lrs: [Float], beta1: Double, beta2: Double,
                    eps: Double, weightDecay: Double) -> [Double] {
    var p = p0.map(Double.init)
    var m = [Double](repeating: 0, count: p.count), v = m
    for (k, (g, lrFloat)) in zip(grads, lrs).enumerated() {
        let lr = Double(lrFloat), t = Double(k + 1)
        for i in 0..<p.count {
            let gi = Double(g[i])
            p[i] *= 1 - lr * weightDecay
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
            let mHat = m[i] / (1 - pow(beta1, t)), vHat = v[i] / (1 - pow(beta2, t))
            p[i] -= lr * mHat / (vHat.squareRoot() + eps)
        }
    }
    return p
}

/// Asserts `XCTAssertThrowsError` and that the error is a TensorError from `op`.
func assertThrowsTensorError(_ op: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertEqual((error as? TensorError)?.op, op, "\(error)", file: file, line: line)
    }
}

final class OptimizerTests: XCTestCase {
    typealias F = TorchOptimizerFixtures

    /// Runs `optimizer` over the fixture gradients and learning rates, returning the parameter after each step.
    func trajectory(_ optimizer: Optimizer) throws -> [[Float]] {
        let p = try Tensor(F.p0, shape: [2, 3], requiresGrad: true)
        var rows: [[Float]] = []
        for (g, lr) in zip(F.grads, F.lrs) {
            p.grad = try Tensor(g, shape: [2, 3])
            try optimizer.step([p], lr: lr)
            rows.append(p.toArray())
        }
        return rows
    }

    func assertTrajectory(_ optimizer: Optimizer, _ expected: [[Float]], _ name: String,
                          file: StaticString = #filePath, line: UInt = #line) throws {
        let rows = try trajectory(optimizer)
        for (k, (row, want)) in zip(rows, expected).enumerated() {
            // float32 vs float32: a few ulps apart at most (fused multiply-adds in torch's kernels).
            assertClose(row, want, tolerance: 5e-7, "\(name) step \(k)", file: file, line: line)
        }
    }

    // MARK: SGD and AdamW against PyTorch

    func testSGDMatchesTorch() throws {
        try assertTrajectory(SGD(momentum: 0.9), F.sgdMomentum, "momentum 0.9")
        try assertTrajectory(SGD(momentum: 0.9, nesterov: true, weightDecay: 0.01), F.sgdNesterovDecay, "nesterov + decay")
        try assertTrajectory(SGD(momentum: 0.5, dampening: 0.1, weightDecay: 0.1), F.sgdDampeningDecay, "dampening + decay")
        try assertTrajectory(SGD(weightDecay: 0.05), F.sgdPlainDecay, "plain + decay")
    }

    func testAdamWMatchesTorch() throws {
        try assertTrajectory(AdamW(), F.adamWDefaults, "defaults")
        try assertTrajectory(AdamW(beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1), F.adamWCustom, "custom")
    }

    func testReferenceOraclesMatchTorch() {
        // The Double oracles used for the large-tensor tests agree with torch on the fixtures.
        let sgd = referenceSGD(F.p0, grads: F.grads, lrs: F.lrs, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01)
        assertClose(sgd.map(Float.init), F.sgdNesterovDecay[3], tolerance: 1e-6)
        let adam = referenceAdamW(F.p0, grads: F.grads, lrs: F.lrs, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1)
        assertClose(adam.map(Float.init), F.adamWCustom[3], tolerance: 1e-6)
    }

    func testLargeTensorsMatchReferenceLoops() throws {
        // 20k values: big enough that the kernels split across threads.
        let n = 20_000, steps = 3
        let p0 = Tensor.randn([n], seed: 11).toArray()
        let grads = (0..<steps).map { Tensor.randn([n], seed: 20 + UInt64($0)).toArray() }
        let lrs: [Float] = [0.05, 0.02, 0.1]
        func run(_ optimizer: Optimizer) throws -> [Float] {
            let p = try Tensor(p0, shape: [n])
            for (g, lr) in zip(grads, lrs) {
                p.grad = try Tensor(g, shape: [n])
                try optimizer.step([p], lr: lr)
            }
            return p.toArray()
        }
        for nesterov in [false, true] {
            let got = try run(SGD(momentum: 0.9, dampening: 0, nesterov: nesterov, weightDecay: 0.02))
            let want = referenceSGD(p0, grads: grads, lrs: lrs, momentum: 0.9, dampening: 0, nesterov: nesterov, weightDecay: 0.02)
            assertClose(got, want.map(Float.init), tolerance: 2e-6, "SGD nesterov \(nesterov)")
        }
        let got = try run(AdamW(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01))
        let want = referenceAdamW(p0, grads: grads, lrs: lrs, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
        assertClose(got, want.map(Float.init), tolerance: 2e-6, "AdamW")
    }

    // MARK: Protocol behaviour

    func testStateFollowsEachParameterWhateverTheOrderOrSubset() throws {
        // One optimizer over a and b, called with varying order and with b or a lacking a gradient,
        // must equal one optimizer per parameter fed the same gradients.
        for makeOptimizer in [{ try SGD(momentum: 0.9, nesterov: true) as Optimizer }, { try AdamW() as Optimizer }] {
            let shared = try makeOptimizer(), soloA = try makeOptimizer(), soloB = try makeOptimizer()
            let a = try Tensor([1, 2, 3], shape: [3]), b = try Tensor([-1, 0.5], shape: [2])
            let a2 = a.copy(), b2 = b.copy()
            let plan: [(gA: [Float]?, gB: [Float]?, reversed: Bool)] = [
                ([0.1, 0.2, 0.3], [0.5, -0.5], false),
                (nil, [0.25, 0.75], true),
                ([-0.4, 0.1, 0.0], nil, false),
                ([0.3, -0.3, 0.6], [-1, 1], true),
            ]
            for step in plan {
                a.grad = try step.gA.map { try Tensor($0, shape: [3]) }
                b.grad = try step.gB.map { try Tensor($0, shape: [2]) }
                try shared.step(step.reversed ? [b, a] : [a, b], lr: 0.1)
                if let g = step.gA { a2.grad = try Tensor(g, shape: [3]); try soloA.step([a2], lr: 0.1) }
                if let g = step.gB { b2.grad = try Tensor(g, shape: [2]); try soloB.step([b2], lr: 0.1) }
            }
            XCTAssertEqual(a.toArray(), a2.toArray())
            XCTAssertEqual(b.toArray(), b2.toArray())
        }
        let adam = try AdamW(), p = try Tensor([1], shape: [1]), idle = try Tensor([2], shape: [1])
        p.grad = try Tensor([1], shape: [1])
        try adam.step([p, idle], lr: 0.1)
        XCTAssertEqual(adam.stepCount(of: p), 1)
        XCTAssertEqual(adam.stepCount(of: idle), 0)
        XCTAssertEqual(idle.toArray(), [2])
        adam.reset()
        XCTAssertEqual(adam.stepCount(of: p), 0)
    }

    func testZeroGradDropsGradients() throws {
        let a = try Tensor([1, 2], shape: [2], requiresGrad: true), b = try Tensor([3], shape: [1], requiresGrad: true)
        let loss = try (a * a).sum(axis: 0) + b
        try loss.backward(seed: Tensor(repeating: 1, shape: loss.shape))
        XCTAssertNotNil(a.grad)
        XCTAssertNotNil(b.grad)
        try SGD().zeroGrad([a, b])
        XCTAssertNil(a.grad)
        XCTAssertNil(b.grad)
    }

    func testInvalidArgumentsThrowAndChangeNothing() throws {
        let p = try Tensor([1, 2], shape: [2]), bad = try Tensor([3, 4], shape: [2])
        p.grad = try Tensor([1, 1], shape: [2])
        for optimizer: Optimizer in [try SGD(momentum: 0.9), try AdamW()] {
            let op = "\(type(of: optimizer))"
            assertThrowsTensorError(op) { try optimizer.step([p], lr: -1) }
            assertThrowsTensorError(op) { try optimizer.step([p], lr: .nan) }
            assertThrowsTensorError(op) { try optimizer.step([p], lr: .infinity) }
            assertThrowsTensorError(op) { try optimizer.step([p, p], lr: 0.1) }
            bad.grad = try Tensor([1, 1, 1], shape: [3])
            // p comes first and is valid, but nothing may change when a later parameter is bad.
            assertThrowsTensorError(op) { try optimizer.step([p, bad], lr: 0.1) }
            XCTAssertEqual(p.toArray(), [1, 2], op)
            XCTAssertEqual(bad.toArray(), [3, 4], op)
        }
        assertThrowsTensorError("SGD") { _ = try SGD(momentum: -0.1) }
        assertThrowsTensorError("SGD") { _ = try SGD(weightDecay: -1) }
        assertThrowsTensorError("SGD") { _ = try SGD(nesterov: true) }
        assertThrowsTensorError("SGD") { _ = try SGD(momentum: 0.9, dampening: 0.1, nesterov: true) }
        assertThrowsTensorError("AdamW") { _ = try AdamW(beta1: 1) }
        assertThrowsTensorError("AdamW") { _ = try AdamW(beta2: -0.1) }
        assertThrowsTensorError("AdamW") { _ = try AdamW(eps: -1) }
        assertThrowsTensorError("AdamW") { _ = try AdamW(weightDecay: .nan) }
        // lr 0 is allowed and moves nothing.
        try SGD(momentum: 0.9).step([p], lr: 0)
        XCTAssertEqual(p.toArray(), [1, 2])
    }

    // MARK: Schedules

    func testCosineAnnealingMatchesTorch() throws {
        let perEpoch = try CosineAnnealingLR(baseLR: 10, tMax: 4)
        for (t, want) in F.cosine10T4.enumerated() {
            XCTAssertEqual(Double(perEpoch.learningRate(at: t)), want, accuracy: 1e-6 * max(1, want), "t = \(t)")
        }
        let withMin = try CosineAnnealingLR(baseLR: 0.5, tMax: 7, minLR: 0.01)
        for (t, want) in F.cosine05T7Min001.enumerated() {
            XCTAssertEqual(Double(withMin.learningRate(at: t)), want, accuracy: 1e-7, "t = \(t)")
        }
        XCTAssertEqual(withMin.learningRate(at: -3), 0.5)
    }

    func testPerEpochCosineIsTheOfficialTVPSchedule() throws {
        // 4 epochs of 3 batches: every batch of epoch e trains with lr(e) = 10·(1 + cos(πe/4))/2.
        let schedule = try PerEpochLR(CosineAnnealingLR(baseLR: 10, tMax: 4), stepsPerEpoch: 3)
        let want: [Float] = [10, 10, 10, 8.535534, 8.535534, 8.535534, 5, 5, 5, 1.4644661, 1.4644661, 1.4644661]
        for (step, lr) in want.enumerated() { XCTAssertEqual(schedule.learningRate(at: step), lr, accuracy: 1e-5, "step \(step)") }
        XCTAssertEqual(schedule.learningRate(epoch: 2), 5, accuracy: 1e-6)
        // The paper's setting, one epoch: the cosine never moves off lr 10.
        let oneEpoch = try PerEpochLR(CosineAnnealingLR(baseLR: 10, tMax: 1), stepsPerEpoch: 3125)
        XCTAssertEqual(oneEpoch.learningRate(at: 0), 10)
        XCTAssertEqual(oneEpoch.learningRate(at: 3124), 10)
    }

    func testWarmupSchedulesFollowTheirFormulas() throws {
        let cosine = try WarmupCosineLR(baseLR: 1, warmupSteps: 4, totalSteps: 12, minLR: 0.1)
        let expected: [(Int, Float)] = [(-5, 0.25), (0, 0.25), (1, 0.5), (3, 1), (4, 1),
                                        (6, Float(0.1 + 0.9 * (1 + cos(Double.pi / 4)) / 2)),
                                        (8, 0.55), (11, Float(0.1 + 0.9 * (1 + cos(Double.pi * 7 / 8)) / 2)),
                                        (12, 0.1), (100, 0.1)]
        for (t, lr) in expected { XCTAssertEqual(cosine.learningRate(at: t), lr, accuracy: 1e-7, "warmup-cosine t = \(t)") }
        let noWarmup = try WarmupCosineLR(baseLR: 10, warmupSteps: 0, totalSteps: 4)
        let plain = try CosineAnnealingLR(baseLR: 10, tMax: 4)
        for t in 0...4 { XCTAssertEqual(noWarmup.learningRate(at: t), plain.learningRate(at: t), "t = \(t)") }
        XCTAssertEqual(noWarmup.learningRate(at: 6), 0)

        let constant = try WarmupConstantLR(baseLR: 2, warmupSteps: 4)
        XCTAssertEqual((0..<7).map { constant.learningRate(at: $0) }, [0.5, 1, 1.5, 2, 2, 2, 2])
        XCTAssertEqual(try WarmupConstantLR(baseLR: 2, warmupSteps: 0).learningRate(at: 0), 2)
        XCTAssertEqual(try ConstantLR(0.3).learningRate(at: 1234), 0.3)
    }

    func testInvalidSchedulesThrow() {
        assertThrowsTensorError("ConstantLR") { _ = try ConstantLR(-1) }
        assertThrowsTensorError("ConstantLR") { _ = try ConstantLR(.infinity) }
        assertThrowsTensorError("CosineAnnealingLR") { _ = try CosineAnnealingLR(baseLR: 1, tMax: 0) }
        assertThrowsTensorError("CosineAnnealingLR") { _ = try CosineAnnealingLR(baseLR: -1, tMax: 3) }
        assertThrowsTensorError("CosineAnnealingLR") { _ = try CosineAnnealingLR(baseLR: 1, tMax: 3, minLR: -0.1) }
        assertThrowsTensorError("WarmupCosineLR") { _ = try WarmupCosineLR(baseLR: 1, warmupSteps: 5, totalSteps: 5) }
        assertThrowsTensorError("WarmupCosineLR") { _ = try WarmupCosineLR(baseLR: 1, warmupSteps: -1, totalSteps: 5) }
        assertThrowsTensorError("WarmupConstantLR") { _ = try WarmupConstantLR(baseLR: 1, warmupSteps: -2) }
        assertThrowsTensorError("PerEpochLR") { _ = try PerEpochLR(ConstantLR(1), stepsPerEpoch: 0) }
    }
}
