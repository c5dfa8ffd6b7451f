import TVPPrompting
import TVPTensor
import XCTest

/// Reference values printed by scripts/fixtures/optimizers.py (torch, float32): the official TVP
/// update on a [2, 4, 4] prompt with a 1-px frame mask, lr 10.
private enum F {
    static let tvpParam: [Float] = [-1.12583983, -1.1523602, -0.250578582, -0.433878809, 0.848710358, 0.692009151, -0.31601277, -2.11521935, 0.322274923, -1.26333475, 0.349983186, 0.30813393, 0.119841509, 1.2376579, 1.11677718, -0.247278154, -1.35265374, -1.6959312, 0.566650629, 0.793508351, 0.598839462, -1.55509508, -0.34136039, 1.85300612, 0.750189483, -0.585497558, -0.173396751, 0.183477938, 1.38936615, 1.58633423, 0.946298361, -0.843676746]
    static let tvpGrad: [Float] = [-0.613583088, 0.0315927416, -0.492676973, 0.248414755, 0.439695835, 0.112411186, 0.64079237, 0.441156268, -0.102309652, 0.792443991, -0.289667696, 0.0525074862, 0.522860467, 2.30220532, -1.46889389, -1.58668876, -0.673089921, 0.872831225, 1.05535746, 0.17784372, -0.230335474, -0.391754389, 0.543294728, -0.395157546, -0.446217179, 0.7440207, 1.52097952, 3.41050267, -1.53118432, -1.23413503, 1.81972528, -0.551528692]
    static let tvpUpdated: [Float] = [-0.12607199, -1.20383716, 0.552185714, -0.838644028, 0.132273138, 0.692009151, -0.31601277, -2.83403611, 0.488977522, -1.26333475, 0.349983186, 0.222578615, -0.732103527, -2.51353884, 3.51018238, 2.33806109, -0.255925894, -3.1181159, -1.15294111, 0.503731072, 0.974146366, -1.55509508, -0.34136039, 2.4968729, 1.47725248, -0.585497558, -0.173396751, -5.37357044, 3.88426685, 3.59722495, -2.01874876, 0.0549800992]
}

/// Elementwise agreement within `tolerance`, relative to the magnitude (absolute below 1).
private func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ message: String = "", line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count \(message)", line: line)
    let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    XCTAssertLessThanOrEqual(worst, tolerance, "max difference \(worst) \(message)", line: line)
}

final class TVPUpdateTests: XCTestCase {

    func testTVPUpdateByHand() throws {
        // g = [3, 4]: ‖g‖ = 5, unit direction [0.6, 0.8]; lr 10 moves by [6, 8] against the gradient.
        let p = try Tensor([1, -2], shape: [2], requiresGrad: true)
        p.grad = try Tensor([3, 4], shape: [2])
        try TVPUpdate().step([p], lr: 10)
        XCTAssertEqual(p.toArray(), [-5, -10])

        // The norm covers the masked-out value too: only the first value moves, still by 6.
        let q = try Tensor([1, -2], shape: [2], requiresGrad: true)
        q.grad = try Tensor([3, 4], shape: [2])
        try TVPUpdate(mask: Tensor([1, 0], shape: [2])).step([q], lr: 10)
        XCTAssertEqual(q.toArray(), [-5, -2])

        // A zero gradient leaves the prompt unchanged (the 1e-10 guard avoids 0/0).
        let z = try Tensor([0.5, 0.25], shape: [2])
        z.grad = Tensor(zeros: [2])
        try TVPUpdate().step([z], lr: 10)
        XCTAssertEqual(z.toArray(), [0.5, 0.25])
    }

    func testTVPUpdateMatchesOfficialFormula() throws {
        // The official update restated in torch on a [2, 4, 4] prompt with a 1-px frame mask.
        let mask = Tensor(repeating: 1, shape: [2, 4, 4])
        for c in 0..<2 { for y in 1..<3 { for x in 1..<3 { mask.data[c * 16 + y * 4 + x] = 0 } } }
        let p = try Tensor(F.tvpParam, shape: [2, 4, 4], requiresGrad: true)
        p.grad = try Tensor(F.tvpGrad, shape: [2, 4, 4])
        try TVPUpdate(mask: mask).step([p], lr: 10)
        assertClose(p.toArray(), F.tvpUpdated, tolerance: 1e-6)
        for c in 0..<2 { for y in 1..<3 { for x in 1..<3 {
            XCTAssertEqual(p[c, y, x], F.tvpParam[c * 16 + y * 4 + x], "centre must not move")
        } } }
    }

    func testTVPUpdateIgnoresGradientScaleAndMatchesReferenceOnLargePrompt() throws {
        // A [3, 64, 64] prompt (12k values: the norm and update run in parallel chunks). The sum of
        // B per-image gradients and their mean give the same step (the official code uses the mean).
        let shape = [3, 64, 64], n = 3 * 64 * 64
        let p0 = Tensor.randn(shape, seed: 5).toArray()
        let g = Tensor.randn(shape, seed: 6).toArray()
        let mask = Tensor(zeros: shape)
        for c in 0..<3 { for y in 0..<64 { for x in 0..<64 where y < 8 || y >= 56 || x < 8 || x >= 56 {
            mask.data[c * 4096 + y * 64 + x] = 1
        } } }
        func run(gradScale: Float) throws -> [Float] {
            let p = try Tensor(p0, shape: shape)
            p.grad = try Tensor(g.map { $0 * gradScale }, shape: shape)
            try TVPUpdate(mask: mask).step([p], lr: 2.5)
            return p.toArray()
        }
        let mean = try run(gradScale: 1), sum = try run(gradScale: 16)
        assertClose(sum, mean, tolerance: 1e-6, "sum vs mean")
        var norm: Double = 0
        for v in g { norm += Double(v) * Double(v) }
        norm = norm.squareRoot()
        let maskValues = mask.toArray()
        let want = (0..<n).map { Float(Double(p0[$0]) - 2.5 * Double(g[$0]) / (norm + 1e-10) * Double(maskValues[$0])) }
        assertClose(mean, want, tolerance: 1e-6, "reference loop")
    }

    func testInvalidArgumentsThrowAndChangeNothing() throws {
        let p = try Tensor([1, 2], shape: [2]), bad = try Tensor([3, 4], shape: [2])
        p.grad = try Tensor([1, 1], shape: [2])
        let update = try TVPUpdate()
        for lr: Float in [-1, .nan, .infinity] { XCTAssertThrowsError(try update.step([p], lr: lr)) }
        XCTAssertThrowsError(try update.step([p, p], lr: 0.1))
        bad.grad = try Tensor([1, 1, 1], shape: [3])
        XCTAssertThrowsError(try update.step([p, bad], lr: 0.1), "a later bad parameter")
        XCTAssertThrowsError(try TVPUpdate(mask: Tensor([1, 0, 1], shape: [3])).step([p], lr: 1))
        XCTAssertThrowsError(try TVPUpdate(mask: Tensor([1, 0], shape: [1, 2])).step([p], lr: 1))
        XCTAssertEqual(p.toArray(), [1, 2], "nothing changes when a step is refused")
        XCTAssertEqual(bad.toArray(), [3, 4])
        XCTAssertThrowsError(try TVPUpdate(mask: Tensor([1, .nan], shape: [2])))
        XCTAssertThrowsError(try TVPUpdate(epsilon: -1))
    }
}
