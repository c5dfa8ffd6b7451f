import TVPTensor
import XCTest

/// Plain triple loop: the oracle for every GEMM path.
func referenceGEMM(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var s: Double = 0
        for p in 0..<k {
            let av = transA ? a[p * m + i] : a[i * k + p]
            let bv = transB ? b[j * k + p] : b[p * n + j]
            s += Double(av) * Double(bv)
        }
        c[i * n + j] = Float(s)
    } }
    return c
}

final class CoreTests: XCTestCase {
    func testMatmulMatchesReferenceForAllTransposes() throws {
        for transA in [false, true] { for transB in [false, true] {
            let (m, n, k) = (5, 7, 3)
            let a = Tensor.randn(transA ? [2, k, m] : [2, m, k], seed: 1)
            let b = Tensor.randn(transB ? [2, n, k] : [2, k, n], seed: 2)
            let c = try matmul(a, b, transA: transA, transB: transB)
            XCTAssertEqual(c.shape, [2, m, n])
            for batch in 0..<2 {
                let ref = referenceGEMM(Array(a.toArray()[(batch * m * k)..<((batch + 1) * m * k)]),
                                        Array(b.toArray()[(batch * n * k)..<((batch + 1) * n * k)]),
                                        m: m, n: n, k: k, transA: transA, transB: transB)
                assertClose(Array(c.toArray()[(batch * m * n)..<((batch + 1) * m * n)]), ref, tolerance: 1e-5)
            }
        } }
    }

    func testMatrixVectorShapesMatchReference() throws {
        // m == 1 and n == 1 take the sgemv path; check every transpose combination and beta.
        for (m, n) in [(1, 7), (5, 1), (1, 1)] { for transA in [false, true] { for transB in [false, true] {
            let k = 6
            let a = Tensor.randn([m * k], seed: 31), b = Tensor.randn([k * n], seed: 32)
            let c = Tensor.randn([m * n], seed: 33)
            let before = c.toArray()
            sgemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a.data, b.data, beta: 2, c.data)
            let product = referenceGEMM(a.toArray(), b.toArray(), m: m, n: n, k: k, transA: transA, transB: transB)
            assertClose(c.toArray(), zip(product, before).map { 0.5 * $0 + 2 * $1 }, tolerance: 1e-5, "m \(m) n \(n) tA \(transA) tB \(transB)")
        } } }
    }

    func testMatmulGradients() throws {
        for transA in [false, true] { for transB in [false, true] { for shared in [false, true] {
            let a = Tensor.randn(transA ? [2, 3, 4] : [2, 4, 3], seed: 3, requiresGrad: true)
            let b = Tensor.randn(shared ? (transB ? [5, 3] : [3, 5]) : (transB ? [2, 5, 3] : [2, 3, 5]), seed: 4, requiresGrad: true)
            try gradCheck("matmul tA=\(transA) tB=\(transB) shared=\(shared)", inputs: [a, b]) {
                try matmul($0[0], $0[1], transA: transA, transB: transB)
            }
        } } }
    }

    func testLinearGradientsAndFrozenWeights() throws {
        let x = Tensor.randn([2, 3, 4], seed: 5, requiresGrad: true)
        let w = Tensor.randn([6, 4], seed: 6, requiresGrad: true)
        let b = Tensor.randn([6], seed: 7, requiresGrad: true)
        try gradCheck("linear", inputs: [x, w, b]) { try linear($0[0], $0[1], $0[2]) }
        // Frozen weight: no gradient is made for it.
        let frozen = Tensor.randn([6, 4], seed: 6)
        x.grad = nil
        try linear(x, frozen).sum().backward()
        XCTAssertNil(frozen.grad)
        XCTAssertNotNil(x.grad)
    }

    func testBroadcastArithmeticGradients() throws {
        let a = Tensor.randn([2, 3, 4], seed: 8, requiresGrad: true)
        let b = Tensor.randn([4], seed: 9, requiresGrad: true)
        let c = Tensor.randn([2, 1, 4], seed: 10, requiresGrad: true)
        try gradCheck("add/mul/sub broadcast", inputs: [a, b, c]) { t in try (t[0] * t[1] - t[2]) + t[0] }
        let d = Tensor.uniform([3, 1], low: 1, high: 2, seed: 11, requiresGrad: true)
        try gradCheck("div broadcast", inputs: [a, d], eps: 1e-3) { t in try t[0] / t[1] }
    }

    func testUnaryGradients() throws {
        let x = Tensor.uniform([3, 4], low: 0.5, high: 2, seed: 12, requiresGrad: true)
        try gradCheck("exp/log/sqrt/pow", inputs: [x], eps: 1e-3) { t in
            try (t[0].exp() + t[0].log()) * t[0].sqrt() + t[0].pow(3) * 0.5
        }
    }

    func testScalarOpsNegAndClampGradients() throws {
        let x = try Tensor([-2, -0.5, 0.3, 0.9, 1.7, 2.5], shape: [2, 3], requiresGrad: true)
        try gradCheck("neg/scale/add scalar", inputs: [x]) { t in -(t[0] * 3 + 1.5) - 2 }
        // Values kept away from the clamp bounds so finite differences do not straddle a kink.
        try gradCheck("clamp", inputs: [x], eps: 1e-3) { t in t[0].clamp(min: -1, max: 2) }
        x.grad = nil
        try x.clamp(min: -1, max: 2).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [0, 1, 1, 1, 1, 0])
    }

    /// Every broadcasting fast path (equal shapes, repeated suffix block on either side, scalar
    /// block) against the general index walk, as the plain reference twin.
    func testBroadcastFastPathsMatchTheGeneralWalk() throws {
        func reference(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> [Float] {
            let rank = max(a.rank, b.rank)
            let sa = Array(repeating: 1, count: rank - a.rank) + a.shape, sb = Array(repeating: 1, count: rank - b.rank) + b.shape
            let out = zip(sa, sb).map { max($0, $1) }
            var result: [Float] = []
            for flat in 0..<out.reduce(1, *) {
                var rest = flat, ia = 0, ib = 0, stepA = 1, stepB = 1
                for axis in stride(from: rank - 1, through: 0, by: -1) {
                    let i = rest % out[axis]; rest /= out[axis]
                    ia += (sa[axis] == 1 ? 0 : i) * stepA; stepA *= sa[axis]
                    ib += (sb[axis] == 1 ? 0 : i) * stepB; stepB *= sb[axis]
                }
                result.append(f(a.data[ia], b.data[ib]))
            }
            return result
        }
        let shapes: [([Int], [Int])] = [([4, 3, 5], [4, 3, 5]), ([4, 3, 5], [5]), ([5], [4, 3, 5]), ([4, 3, 5], [3, 5]),
                                        ([4, 3, 5], [1]), ([1], [4, 3, 5]), ([4, 1, 5], [3, 1]), ([2, 3, 1], [1, 3, 4]), ([40, 1000], [1000])]
        for (sa, sb) in shapes {
            let a = Tensor.randn(sa, seed: 21), b = Tensor.uniform(sb, low: 0.5, high: 2, seed: 22)
            assertClose(try (a + b).toArray(), reference(a, b, +), tolerance: 0, "add \(sa) \(sb)")
            assertClose(try (a - b).toArray(), reference(a, b, -), tolerance: 0, "sub \(sa) \(sb)")
            assertClose(try (a * b).toArray(), reference(a, b, *), tolerance: 0, "mul \(sa) \(sb)")
            assertClose(try (a / b).toArray(), reference(a, b, /), tolerance: 1e-7, "div \(sa) \(sb)")
        }
    }

    func testReductionsAndLayoutGradients() throws {
        let x = Tensor.randn([2, 3, 4], seed: 13, requiresGrad: true)
        try gradCheck("sum(axis)/mean(axis)", inputs: [x]) { t in try t[0].sum(axis: 1) + t[0].mean(axis: 1) }
        try gradCheck("permute/transposed/reshape", inputs: [x]) { t in
            try t[0].permuted([2, 0, 1]).reshaped([4, 6]).transposed()
        }
        let s = try x.sum(axis: -1, keepDims: true)
        XCTAssertEqual(s.shape, [2, 3, 1])
        XCTAssertEqual(Double(x.mean().item), Double(x.toArray().reduce(0, +)) / 24, accuracy: 1e-5)
    }

    func testPermuteMatchesIndexing() throws {
        let x = try Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let p = try x.permuted([1, 2, 0])
        XCTAssertEqual(p.shape, [3, 4, 2])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { XCTAssertEqual(p[j, k, i], x[i, j, k]) } } }
    }

    func testShapeErrorsNameOpAndShapes() {
        let a = Tensor(zeros: [2, 3]), b = Tensor(zeros: [4, 5])
        XCTAssertThrowsError(try matmul(a, b)) { error in
            XCTAssertTrue("\(error)".contains("matmul") && "\(error)".contains("[2, 3]") && "\(error)".contains("[4, 5]"), "\(error)")
        }
        XCTAssertThrowsError(try a + b) { XCTAssertTrue("\($0)".contains("add")) }
        XCTAssertThrowsError(try a.reshaped([7])) { XCTAssertTrue("\($0)".contains("reshape")) }
        XCTAssertThrowsError(try Tensor([1, 2, 3], shape: [2, 2]))
    }

    func testNoGradRecordsNothing() throws {
        let x = Tensor.randn([3], seed: 14, requiresGrad: true)
        let y = try withoutGrad { try x * x }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.producer)
        XCTAssertTrue((try x * x).requiresGrad)
    }

    func testGradientAccumulatesOverReuse() throws {
        let x = try Tensor([1, 2, 3], shape: [3], requiresGrad: true)
        try (x * x + x).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [3, 5, 7])
    }

    func testFiniteCheck() throws {
        let t = try Tensor([1, .nan], shape: [2])
        XCTAssertFalse(t.isFinite)
        XCTAssertThrowsError(try t.checkFinite("loss")) { XCTAssertTrue("\($0)".contains("loss")) }
    }

    func testBufferPoolReusesBlocks() {
        BufferPool.shared.trim()
        var seen = Set<UnsafeMutablePointer<Float>>()
        for _ in 0..<3 { seen.insert(Tensor(zeros: [1234]).data) }
        XCTAssertEqual(seen.count, 1, "a freed block of the same size is reused")
    }
}
