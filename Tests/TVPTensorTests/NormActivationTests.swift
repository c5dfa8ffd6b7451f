import Foundation
import TVPTensor
import XCTest

// Oracles: plain Double loops over flat arrays, written for clarity, not speed.

/// LayerNorm over the last axis of [R, D] values, biased variance.
private func referenceLayerNorm(_ x: [Float], rows: Int, width: Int, weight: [Float]?, bias: [Float]?, eps: Double) -> [Float] {
    var out = [Float](repeating: 0, count: x.count)
    for r in 0..<rows {
        let row = (0..<width).map { Double(x[r * width + $0]) }
        let mean = row.reduce(0, +) / Double(width)
        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
        for j in 0..<width {
            var y = (row[j] - mean) / (variance + eps).squareRoot()
            if let weight { y *= Double(weight[j]) }
            if let bias { y += Double(bias[j]) }
            out[r * width + j] = Float(y)
        }
    }
    return out
}

/// Softmax (or log-softmax) along `axis` of a tensor with `shape`, by explicit multi-indexing.
private func referenceSoftmax(_ x: [Float], shape: [Int], axis: Int, log: Bool) -> [Float] {
    let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
    var out = [Float](repeating: 0, count: x.count)
    for o in 0..<outer { for i in 0..<inner {
        let index = { (j: Int) in (o * n + j) * inner + i }
        let values = (0..<n).map { Double(x[index($0)]) }
        let top = values.max()!
        let total = values.map { Foundation.exp($0 - top) }.reduce(0, +)
        for j in 0..<n {
            out[index(j)] = Float(log ? values[j] - top - Foundation.log(total) : Foundation.exp(values[j] - top) / total)
        }
    } }
    return out
}

/// Runs `body` with `threads` workers, then restores the previous count.
private func runWithThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
    let saved = Parallel.threads
    Parallel.setThreads(threads)
    defer { Parallel.setThreads(saved) }
    return try body()
}

/// Forward values and input gradients (seeded with `seed`) of `f` at one thread count.
private func valuesAndGradients(threads: Int, _ inputs: [Tensor], seed: Tensor, _ f: ([Tensor]) throws -> Tensor) throws -> [[Float]] {
    try runWithThreads(threads) {
        for t in inputs { t.grad = nil }
        let out = try f(inputs)
        try out.backward(seed: seed)
        return [out.toArray()] + inputs.compactMap { $0.grad?.toArray() }
    }
}

/// Checks that the split across workers does not change a kernel's results: each output row
/// (and each affine-gradient column) is computed by exactly one worker, so results are identical.
func assertSameAcrossThreadCounts(_ name: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line,
                                  _ f: ([Tensor]) throws -> Tensor) throws {
    let probe = try withoutGrad { try f(inputs) }
    let seed = Tensor.randn(probe.shape, seed: 99)
    let one = try valuesAndGradients(threads: 1, inputs, seed: seed, f)
    let four = try valuesAndGradients(threads: 4, inputs, seed: seed, f)
    XCTAssertEqual(one.count, inputs.filter(\.requiresGrad).count + 1, name, file: file, line: line)
    XCTAssertEqual(one, four, "\(name): 1 vs 4 threads", file: file, line: line)
}

final class NormActivationTests: XCTestCase {
    // Golden values from scripts/fixtures/norm_activation.py (PyTorch 2.15 CPU, float32).
    let activationInput: [Float] = [-3.0, -1.5, -0.75, -0.1, 0.0, 0.3, 1.0, 2.5, 5.0]

    func testActivationsMatchPyTorch() throws {
        let x = try Tensor(activationInput, shape: [9])
        let geluExact: [Float] = [-0.00405022502, -0.10021086, -0.169970512, -0.0460172184, 0, 0.18537344, 0.841344714, 2.48447585, 4.99999905]
        let geluTanh: [Float] = [-0.00363743305, -0.100428432, -0.170039475, -0.0460172482, 0, 0.185370937, 0.841192007, 2.48491573, 4.99999952]
        let quickGELU: [Float] = [-0.0180713106, -0.108337805, -0.163609952, -0.0457552373, 0, 0.187484145, 0.845795751, 2.46501398, 4.99899292]
        let silu: [Float] = [-0.142277613, -0.273638278, -0.240615964, -0.0475020818, 0, 0.172332764, 0.731058598, 2.31035447, 4.96653557]
        let sigmoid: [Float] = [0.0474258736, 0.182425529, 0.320821285, 0.475020796, 0.5, 0.574442506, 0.731058598, 0.924141824, 0.993307173]
        let tanh: [Float] = [-0.995054781, -0.905148268, -0.635148942, -0.0996679962, 0, 0.291312635, 0.761594176, 0.986614287, 0.999909222]
        assertClose(TVPTensor.gelu(x).toArray(), geluExact, tolerance: 1e-6, "gelu exact")
        assertClose(TVPTensor.gelu(x, approximate: .tanh).toArray(), geluTanh, tolerance: 1e-6, "gelu tanh")
        assertClose(TVPTensor.quickGELU(x).toArray(), quickGELU, tolerance: 1e-6, "quickGELU")
        assertClose(TVPTensor.silu(x).toArray(), silu, tolerance: 1e-6, "silu")
        assertClose(TVPTensor.sigmoid(x).toArray(), sigmoid, tolerance: 1e-6, "sigmoid")
        assertClose(TVPTensor.tanh(x).toArray(), tanh, tolerance: 1e-6, "tanh")
        XCTAssertEqual(relu(x).toArray(), [0, 0, 0, 0, 0, 0.3, 1, 2.5, 5])
        XCTAssertEqual(relu6(try Tensor([-1, 0, 3, 6, 7.5], shape: [5])).toArray(), [0, 0, 3, 6, 6])
        // The stable sigmoid neither overflows nor returns NaN far out.
        XCTAssertEqual(TVPTensor.sigmoid(try Tensor([-200, 200], shape: [2])).toArray(), [0, 1])
    }

    func testActivationGradients() throws {
        let x = Tensor.randn([3, 5], std: 2, seed: 21, requiresGrad: true)
        try gradCheck("gelu", inputs: [x], eps: 1e-3) { TVPTensor.gelu($0[0]) }
        try gradCheck("gelu tanh", inputs: [x], eps: 1e-3) { TVPTensor.gelu($0[0], approximate: .tanh) }
        try gradCheck("quickGELU", inputs: [x], eps: 1e-3) { quickGELU($0[0]) }
        try gradCheck("silu", inputs: [x], eps: 1e-3) { silu($0[0]) }
        try gradCheck("sigmoid", inputs: [x], eps: 1e-3) { sigmoid($0[0]) }
        try gradCheck("tanh", inputs: [x], eps: 1e-3) { TVPTensor.tanh($0[0]) }
        // Away from the kinks at 0 and 6 (by more than eps).
        let y = try Tensor([-2.3, -0.7, 0.4, 1.9, 3.3, 5.2, 6.8, 8.1, -4.0, 2.6], shape: [2, 5], requiresGrad: true)
        try gradCheck("relu", inputs: [y]) { relu($0[0]) }
        try gradCheck("relu6", inputs: [y]) { relu6($0[0]) }
        y.grad = nil
        try relu6(y).sum().backward()
        XCTAssertEqual(y.grad?.toArray(), [0, 0, 1, 1, 1, 1, 0, 0, 0, 1])
    }

    // x [2, 5], weight [5], bias [5] and the upstream gradient, as in the fixture script.
    let normInput: [Float] = [0.5, -1.0, 2.0, 0.0, 3.5, 10.0, 10.5, 9.0, 11.0, 10.25]
    let normWeight: [Float] = [1.0, 0.5, -2.0, 1.5, 0.25]
    let normBias: [Float] = [0.1, -0.2, 0.0, 0.3, 1.0]
    let upstream: [Float] = [1.0, -0.5, 0.25, 2.0, -1.0, 0.3, 0.7, -1.2, 0.0, 0.5]

    func testLayerNormMatchesPyTorch() throws {
        let x = try Tensor(normInput, shape: [2, 5], requiresGrad: true)
        let w = try Tensor(normWeight, shape: [5], requiresGrad: true)
        let b = try Tensor(normBias, shape: [5], requiresGrad: true)
        let y = try layerNorm(x, weight: w, bias: b)
        try y.backward(seed: try Tensor(upstream, shape: [2, 5]))
        assertClose(y.toArray(), [-0.216227144, -0.832454264, -1.26490855, -0.648681402, 1.39528394,
                                  -0.126130342, 0.0638196915, 3.46733975, 2.22211361, 1.03768861], tolerance: 1e-5, "y")
        assertClose(x.grad!.toArray(), [0.148627162, -0.955004334, -0.48699066, 1.30918121, -0.0158134699,
                                        -0.779459, 0.210699081, 0.556810379, 0.597841263, -0.585887909], tolerance: 1e-5, "dx")
        assertClose(w.grad!.toArray(), [-0.384066135, 1.00180209, 2.23851705, -1.26490855, -1.50575829], tolerance: 1e-5, "dw")
        assertClose(b.grad!.toArray(), [1.29999995, 0.199999988, -0.950000048, 2, -0.5], tolerance: 1e-6, "db")
    }

    func testLayerNormMatchesReferenceLoop() throws {
        let x = Tensor.randn([3, 4, 7], std: 3, mean: 1, seed: 22)
        let w = Tensor.randn([7], seed: 23), b = Tensor.randn([7], seed: 24)
        for (weight, bias) in [(w, b), (w, nil), (nil, b), (nil, nil)] as [(Tensor?, Tensor?)] {
            let y = try layerNorm(x, weight: weight, bias: bias, eps: 1e-5)
            XCTAssertEqual(y.shape, x.shape)
            let ref = referenceLayerNorm(x.toArray(), rows: 12, width: 7, weight: weight?.toArray(), bias: bias?.toArray(), eps: 1e-5)
            assertClose(y.toArray(), ref, tolerance: 1e-5, "weight \(weight != nil) bias \(bias != nil)")
        }
    }

    func testLayerNormGradients() throws {
        let x = Tensor.randn([2, 3, 6], seed: 25, requiresGrad: true)
        let w = Tensor.randn([6], seed: 26, requiresGrad: true)
        let b = Tensor.randn([6], seed: 27, requiresGrad: true)
        try gradCheck("layerNorm", inputs: [x, w, b], eps: 1e-3) { try layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        try gradCheck("layerNorm no affine", inputs: [x], eps: 1e-3) { try layerNorm($0[0], weight: nil, bias: nil) }
        // Frozen affine parameters get no gradient; a frozen input with a trained weight gets none either.
        let frozenW = Tensor.randn([6], seed: 26), frozenB = Tensor.randn([6], seed: 27)
        try gradCheck("layerNorm frozen affine", inputs: [x, frozenW, frozenB], eps: 1e-3) { try layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        XCTAssertNil(frozenW.grad)
        XCTAssertNil(frozenB.grad)
        let frozenX = Tensor.randn([4, 6], seed: 28)
        try gradCheck("layerNorm weight only", inputs: [frozenX, w, b], eps: 1e-3) { try layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        XCTAssertNil(frozenX.grad)
    }

    func testRMSNormMatchesPyTorch() throws {
        let x = try Tensor(normInput, shape: [2, 5], requiresGrad: true)
        let w = try Tensor(normWeight, shape: [5], requiresGrad: true)
        let y = try rmsNorm(x, weight: w, eps: 1e-6)
        try y.backward(seed: try Tensor(upstream, shape: [2, 5]))
        assertClose(y.toArray(), [0.267261207, -0.267261207, -2.13808966, 0, 0.467707098,
                                  0.983124495, 0.516140401, -1.76962411, 1.62215543, 0.251925647], tolerance: 1e-5, "y")
        assertClose(x.grad!.toArray(), [0.551703513, -0.167992741, -0.198536918, 1.60356724, -0.0133630931,
                                        -0.0266763326, -0.0245692097, 0.18539682, -0.0617870726, -0.0452852622], tolerance: 1e-5, "dx")
        assertClose(w.grad!.toArray(), [0.562198579, 0.989857733, -0.794513285, 0, -1.3669771], tolerance: 1e-5, "dw")
        // Without a weight it is the plain normalization: every row has mean square 1 (up to eps).
        let plain = try rmsNorm(Tensor.randn([3, 8], std: 4, seed: 29), weight: nil, eps: 1e-6).toArray()
        for r in 0..<3 {
            XCTAssertEqual(plain[(r * 8)..<(r * 8 + 8)].map { Double($0 * $0) }.reduce(0, +) / 8, 1, accuracy: 1e-4)
        }
    }

    func testRMSNormGradients() throws {
        let x = Tensor.randn([3, 2, 5], seed: 30, requiresGrad: true)
        let w = Tensor.randn([5], seed: 31, requiresGrad: true)
        try gradCheck("rmsNorm", inputs: [x, w], eps: 1e-3) { try rmsNorm($0[0], weight: $0[1], eps: 1e-5) }
        try gradCheck("rmsNorm no weight", inputs: [x], eps: 1e-3) { try rmsNorm($0[0], weight: nil, eps: 1e-5) }
    }

    func testSoftmaxMatchesPyTorch() throws {
        let x = try Tensor([1.0, 2.0, 3.0, 100.0, -1.0, 0.0, 0.5, -2.0], shape: [2, 4])
        assertClose(try softmax(x).toArray(),
                    [1.00893489e-43, 2.74654499e-43, 7.46892081e-43, 1, 0.116715394, 0.317265332, 0.523082078, 0.0429371931],
                    tolerance: 1e-6, "softmax")
        assertClose(try logSoftmax(x).toArray(), [-99, -98, -97, 0, -2.14801693, -1.14801693, -0.64801693, -3.14801693],
                    tolerance: 1e-6, "logSoftmax")
        assertClose(try softmax(x, axis: 0).toArray(),
                    [0.880797029, 0.880797029, 0.924141824, 1, 0.119202919, 0.119202919, 0.0758581758, 5.60519386e-45],
                    tolerance: 1e-6, "softmax axis 0")
    }

    func testSoftmaxMatchesReferenceOnEveryAxis() throws {
        let shape = [2, 3, 5]
        let x = Tensor.randn(shape, std: 3, seed: 32)
        for axis in 0..<3 {
            for log in [false, true] {
                let y = log ? try logSoftmax(x, axis: axis) : try softmax(x, axis: axis)
                XCTAssertEqual(y.shape, shape)
                assertClose(y.toArray(), referenceSoftmax(x.toArray(), shape: shape, axis: axis, log: log), tolerance: 1e-5,
                            "axis \(axis) log \(log)")
                // Negative axes mean the same axis.
                let negative = log ? try logSoftmax(x, axis: axis - 3) : try softmax(x, axis: axis - 3)
                XCTAssertEqual(negative.toArray(), y.toArray())
            }
        }
    }

    func testSoftmaxGradients() throws {
        let x = Tensor.randn([2, 3, 4], seed: 33, requiresGrad: true)
        for axis in [-1, 1, 0] {
            try gradCheck("softmax axis \(axis)", inputs: [x], eps: 1e-3) { try softmax($0[0], axis: axis) }
            try gradCheck("logSoftmax axis \(axis)", inputs: [x], eps: 1e-3) { try logSoftmax($0[0], axis: axis) }
        }
    }

    /// Sizes large enough that `Parallel.forRanges` splits the work (the small tests run on one worker).
    func testLargeKernelsMatchReferenceAndAgreeAcrossThreads() throws {
        let (rows, width) = (64, 320)
        let x = Tensor.randn([rows, width], std: 2, mean: 0.5, seed: 34, requiresGrad: true)
        let w = Tensor.randn([width], seed: 35, requiresGrad: true), b = Tensor.randn([width], seed: 36, requiresGrad: true)
        let y = try runWithThreads(4) { try layerNorm(x, weight: w, bias: b) }
        assertClose(y.toArray(), referenceLayerNorm(x.toArray(), rows: rows, width: width, weight: w.toArray(), bias: b.toArray(), eps: 1e-5),
                    tolerance: 1e-4, "layerNorm large")
        let s = try runWithThreads(4) { try softmax(x) }
        assertClose(s.toArray(), referenceSoftmax(x.toArray(), shape: [rows, width], axis: 1, log: false), tolerance: 1e-6, "softmax large")
        let s0 = try runWithThreads(4) { try logSoftmax(x, axis: 0) }
        assertClose(s0.toArray(), referenceSoftmax(x.toArray(), shape: [rows, width], axis: 0, log: true), tolerance: 1e-5, "logSoftmax axis 0 large")

        try assertSameAcrossThreadCounts("layerNorm", [x, w, b]) { try layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        try assertSameAcrossThreadCounts("rmsNorm", [x, w]) { try rmsNorm($0[0], weight: $0[1], eps: 1e-6) }
        try assertSameAcrossThreadCounts("softmax", [x]) { try softmax($0[0]) }
        try assertSameAcrossThreadCounts("logSoftmax axis 0", [x]) { try logSoftmax($0[0], axis: 0) }
        try assertSameAcrossThreadCounts("gelu", [x]) { TVPTensor.gelu($0[0]) }
        try assertSameAcrossThreadCounts("silu", [x]) { silu($0[0]) }
    }

    func testErrorsNameOpAndShapes() {
        let x = Tensor(zeros: [2, 5])
        XCTAssertThrowsError(try layerNorm(x, weight: Tensor(zeros: [4]), bias: nil)) { error in
            XCTAssertTrue("\(error)".contains("layerNorm") && "\(error)".contains("[4]") && "\(error)".contains("[2, 5]"), "\(error)")
        }
        XCTAssertThrowsError(try layerNorm(x, weight: nil, bias: Tensor(zeros: [5, 1]))) { XCTAssertTrue("\($0)".contains("bias"), "\($0)") }
        XCTAssertThrowsError(try rmsNorm(Tensor(zeros: [3, 0]), weight: nil, eps: 1e-6)) { XCTAssertTrue("\($0)".contains("rmsNorm"), "\($0)") }
        XCTAssertThrowsError(try softmax(x, axis: 2)) { error in
            XCTAssertTrue("\(error)".contains("softmax") && "\(error)".contains("axis 2"), "\(error)")
        }
        XCTAssertThrowsError(try logSoftmax(x, axis: -3)) { XCTAssertTrue("\($0)".contains("logSoftmax"), "\($0)") }
    }
}
