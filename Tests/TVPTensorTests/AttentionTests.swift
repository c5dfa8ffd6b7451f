import Foundation
import TVPTensor
import XCTest

/// The inputs the PyTorch fixture script builds: value i is Float(sin(a · i + b)).
private func sinePattern(_ shape: [Int], _ a: Double, _ b: Double, requiresGrad: Bool = false) -> Tensor {
    let n = shape.reduce(1, *)
    return try! Tensor((0..<n).map { Float(Foundation.sin(a * Double($0) + b)) }, shape: shape, requiresGrad: requiresGrad)
}

/// The oracle: attention by explicit loops in Float64, straight from the definition.
/// `visible(b, i, j)` combines causal and padding masks; `additive(b, h, i, j)` the float mask.
private func referenceAttention(q: Tensor, k: Tensor, v: Tensor, scale: Double,
                                visible: (Int, Int, Int) -> Bool, additive: (Int, Int, Int, Int) -> Double) -> [Float] {
    let (B, H, Nq, Dh) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (Hkv, Nk, Dv) = (k.shape[1], k.shape[2], v.shape[3])
    let G = H / Hkv
    var out = [Float](repeating: 0, count: B * H * Nq * Dv)
    for b in 0..<B { for h in 0..<H { for i in 0..<Nq {
        let hk = h / G
        var scores = [Double](repeating: -.infinity, count: Nk)
        for j in 0..<Nk where visible(b, i, j) {
            var s = 0.0
            for d in 0..<Dh { s += Double(q[b, h, i, d]) * Double(k[b, hk, j, d]) }
            scores[j] = s * scale + additive(b, h, i, j)
        }
        let m = scores.max()!
        if m == -.infinity { continue }  // fully masked row: output 0
        let e = scores.map { Foundation.exp($0 - m) }
        let total = e.reduce(0, +)
        for d in 0..<Dv {
            var acc = 0.0
            for j in 0..<Nk { acc += e[j] / total * Double(v[b, hk, j, d]) }
            out[((b * H + h) * Nq + i) * Dv + d] = Float(acc)
        }
    } } }
    return out
}

final class AttentionTests: XCTestCase {
    func testMatchesReferenceLoopsForGQACrossCausalAndPadding() throws {
        // (H, Hkv, Nq, Nk): multi-head, grouped-query, multi-query; self and cross attention.
        let configs = [(2, 2, 4, 4), (4, 2, 3, 5), (3, 1, 5, 3), (4, 1, 1, 6)]
        let B = 2, Dh = 4, Dv = 3
        for (config, (H, Hkv, Nq, Nk)) in configs.enumerated() {
            let q = Tensor.randn([B, H, Nq, Dh], seed: UInt64(10 + config))
            let k = Tensor.randn([B, Hkv, Nk, Dh], seed: UInt64(20 + config))
            let v = Tensor.randn([B, Hkv, Nk, Dv], seed: UInt64(30 + config))
            let lengths = [Nk, max(1, Nk - 2)]
            let additiveShapes: [[Int]] = [[Nq, Nk], [B, 1, 1, Nk], [B, H, Nq, Nk], [H, 1, 1]]
            for causal in [false, true] { for alignment in [CausalAlignment.topLeft, .bottomRight] {
                for padded in [false, true] { for additiveShape in [nil] + additiveShapes.map(Optional.some) {
                    if !causal && alignment == .bottomRight { continue }
                    let additive = additiveShape.map { Tensor.randn($0, seed: 99) }
                    var mask = padded ? AttentionMask.keyLengths(lengths, keys: Nk) : AttentionMask()
                    mask.additive = additive
                    let out = try scaledDotProductAttention(q: q, k: k, v: v, mask: mask, causal: causal,
                                                            causalAlignment: alignment, scale: 0.6)
                    XCTAssertEqual(out.shape, [B, H, Nq, Dv])
                    let shift = alignment == .topLeft ? 0 : Nk - Nq
                    let ref = referenceAttention(q: q, k: k, v: v, scale: 0.6, visible: { b, i, j in
                        (!causal || j <= i + shift) && (!padded || j < lengths[b])
                    }, additive: { b, h, i, j in
                        guard let additive else { return 0 }
                        // Index the broadcast mask by its own (right-aligned) axes.
                        let full = [b, h, i, j].suffix(additive.rank)
                        let idx = zip(full, additive.shape).map { $1 == 1 ? 0 : $0 }
                        var flat = 0
                        for (x, n) in zip(idx, additive.shape) { flat = flat * n + x }
                        return Double(additive.data[flat])
                    })
                    assertClose(out.toArray(), ref, tolerance: 1e-5,
                                "H\(H) Hkv\(Hkv) Nq\(Nq) Nk\(Nk) causal \(causal) \(alignment) padded \(padded) additive \(additiveShape ?? [])")
                }
            } } }
        }
    }

    /// Numbers from scripts/fixtures/attention_golden.py (PyTorch 2.15,
    /// F.scaled_dot_product_attention with a float attn_mask and enable_gqa=True).
    func testTorchGoldenMaskedGQAForwardAndBackward() throws {
        let q = sinePattern([2, 4, 3, 4], 0.37, 0.1, requiresGrad: true)
        let k = sinePattern([2, 2, 4, 4], 0.53, 0.7, requiresGrad: true)
        let v = sinePattern([2, 2, 4, 2], 0.29, -0.4, requiresGrad: true)
        let mask = AttentionMask(validKeys: [true, true, true, true, true, true, true, false],
                                 additive: sinePattern([2, 1, 3, 4], 0.71, 0.3))
        let out = try scaledDotProductAttention(q: q, k: k, v: v, mask: mask)
        try out.backward(seed: sinePattern(out.shape, 0.19, 0.5))
        assertClose(out.toArray(), [0.4362923, 0.5898981, 0.052357, 0.2583309, 0.4808407, 0.6747383, 0.4914447, 0.6998121, 0.1217327, 0.3298023, 0.6536698, 0.7490615, 0.1829338, -0.04436325, 0.5005312, 0.3111278, 0.1470243, -0.1006535, 0.1126089, -0.1636479, 0.4278378, 0.2253655, -0.0169313, -0.2395143, -0.8861673, -0.9218894, -0.9521147, -0.8726698, -0.9497415, -0.8996414, -0.8583741, -0.8331577, -0.8159724, -0.6849061, -0.9464993, -0.9255586, 0.3303984, 0.5771068, 0.8155065, 0.9154434, 0.7586786, 0.8893265, 0.4596071, 0.6632857, 0.5396556, 0.7107879, 0.575542, 0.7603602],
                    tolerance: 2e-6, "out")
        assertClose(q.grad!.toArray(), [-0.03551248, -0.03231108, -0.02024401, -0.002622245, -0.01464054, -0.02853403, -0.03459824, -0.03116915, -0.07632478, 0.001853223, 0.07952274, 0.1353723, -0.1365066, -0.06356924, 0.02681062, 0.109834, -0.1007232, -0.1151137, -0.09791865, -0.05385612, 0.006317439, 0.01125665, 0.01310719, 0.0113613, -0.0245758, -0.01560588, -0.002353938, 0.01154389, -0.0002817115, -0.0002448146, -0.0001407415, 1.946657e-06, 0.08442702, 0.04073751, -0.01412978, -0.06512006, 0.05502731, 0.05659594, 0.04263543, 0.01697637, 0.0518322, 0.1047622, 0.1289469, 0.1177503, 0.1301957, 0.02648136, -0.08449912, -0.1722943, -0.01836209, 0.003526063, 0.02444671, 0.03865954, 0.01576843, 0.03314331, 0.04142413, 0.03833876, 0.006719448, 0.01263012, 0.01507527, 0.01338398, 0.003985218, 0.0008272221, -0.002557751, -0.005240914, 0.01560169, -0.004327445, -0.02306919, -0.03548108, -0.004137313, -0.01119927, -0.01518831, -0.01500989, -0.04941425, -0.05885857, -0.05215293, -0.03113726, -0.06988374, -0.04791203, -0.01279393, 0.02583464, -0.06638707, -0.06216512, -0.04088592, -0.008388218, -0.1180303, -0.1232168, -0.09459438, -0.0400166, -0.09781236, -0.09172969, -0.06047766, -0.01263144, -0.01306641, -0.0172079, -0.0166278, -0.01148526],
                    tolerance: 2e-6, "dq")
        assertClose(k.grad!.toArray(), [-0.2508007, -0.3527966, -0.4070431, -0.4061983, 0.08097229, 0.115945, 0.1352251, 0.1362031, -0.09499176, -0.08718137, -0.0675714, -0.03881595, 0.2648202, 0.324033, 0.3393894, 0.3088111, -0.03654389, 0.04219979, 0.1152319, 0.172668, 0.09342682, 0.09303558, 0.08005241, 0.05623452, 0.07767583, 0.06732071, 0.04785406, 0.02191058, -0.1345587, -0.2025561, -0.2431384, -0.2508131, 0.001575921, 0.005393256, 0.008480637, 0.01042021, 0.01913363, 0.02178011, 0.02147875, 0.01827034, -0.02070957, -0.02717334, -0.02995932, -0.02869046, 0, 0, 0, 0, -0.0436653, -0.05879596, -0.06596887, -0.06421322, 0.01903037, 0.03108909, 0.03894004, 0.04152066, 0.02463498, 0.02770691, 0.02702884, 0.02269256, 0, 0, 0, 0],
                    tolerance: 2e-6, "dk")
        assertClose(v.grad!.toArray(), [1.32542, 1.358805, 0.9468913, 0.9572564, 1.201891, 1.207883, 1.301915, 1.275716, -0.5618395, -0.7424507, -0.4484373, -0.5977936, -0.8651301, -1.080099, -0.7949738, -0.9578066, -0.6372616, -0.3251834, -0.588264, -0.2442752, -0.07252976, 0.1697009, 0, 0, 1.921409, 1.715712, 1.462553, 1.308522, 0.9770837, 0.8745836, 0, 0],
                    tolerance: 2e-6, "dv")
    }

    /// PyTorch's is_causal aligns the mask top-left when Nq < Nk (scripts/fixtures/attention_golden.py).
    func testTorchGoldenCausalTopLeftCross() throws {
        let out = try scaledDotProductAttention(q: sinePattern([1, 2, 3, 4], 0.41, 0.2), k: sinePattern([1, 1, 5, 4], 0.23, -0.3),
                                                v: sinePattern([1, 1, 5, 2], 0.61, 0.9), causal: true, scale: 0.7)
        assertClose(out.toArray(), [0.7833269, 0.9981525, 0.83806, 0.5279149, 0.6525776, 0.6532906, 0.7833269, 0.9981525, 0.8414453, 0.4988306, 0.3116655, -0.08117554],
                    tolerance: 2e-6)
    }

    /// With a KV cache the new queries are the last Nq positions: bottom-right causal attention over
    /// the whole cache equals the last rows of full causal self-attention.
    func testBottomRightCausalEqualsLastRowsOfFullCausal() throws {
        let (B, H, Hkv, N, Dh) = (2, 4, 2, 7, 8)
        let q = Tensor.randn([B, H, N, Dh], seed: 1), k = Tensor.randn([B, Hkv, N, Dh], seed: 2), v = Tensor.randn([B, Hkv, N, Dh], seed: 3)
        let full = try scaledDotProductAttention(q: q, k: k, v: v, causal: true)
        for newTokens in [1, 3] {
            let lastQ = try slice(q, axis: 2, range: (N - newTokens)..<N)
            let cached = try scaledDotProductAttention(q: lastQ, k: k, v: v, causal: true, causalAlignment: .bottomRight)
            assertClose(cached.toArray(), try slice(full, axis: 2, range: (N - newTokens)..<N).toArray(), tolerance: 1e-6)
        }
    }

    func testFullyMaskedRowsGiveZeroAndFiniteGradients() throws {
        let q = Tensor.randn([2, 2, 3, 4], seed: 4, requiresGrad: true)
        let k = Tensor.randn([2, 1, 3, 4], seed: 5, requiresGrad: true)
        let v = Tensor.randn([2, 1, 3, 4], seed: 6, requiresGrad: true)
        // Batch 1 has no valid key at all; with bottom-right causal and Nk < Nq nothing would be visible either.
        let out = try scaledDotProductAttention(q: q, k: k, v: v, mask: .keyLengths([3, 0], keys: 3))
        XCTAssertTrue(out.isFinite)
        XCTAssertEqual(Array(out.toArray()[24...]), [Float](repeating: 0, count: 24))
        try out.sum().backward()
        for t in [q, k, v] { XCTAssertTrue(t.grad!.isFinite) }
        XCTAssertEqual(Array(q.grad!.toArray()[24...]), [Float](repeating: 0, count: 24))
        // An additive -inf everywhere in a row behaves the same way.
        let minusInf = Tensor(repeating: -.infinity, shape: [3, 3])
        let blocked = try scaledDotProductAttention(q: q, k: k, v: v, mask: AttentionMask(additive: minusInf))
        XCTAssertEqual(blocked.toArray(), [Float](repeating: 0, count: blocked.count))
        // Bottom-right causal with more queries than keys: the first rows see nothing.
        let early = try scaledDotProductAttention(q: q, k: try slice(k, axis: 2, range: 0..<1), v: try slice(v, axis: 2, range: 0..<1),
                                                  causal: true, causalAlignment: .bottomRight)
        XCTAssertTrue(early.isFinite)
        XCTAssertEqual(early[0, 0, 0, 0], 0)
        XCTAssertEqual(early[0, 0, 2, 0], v[0, 0, 0, 0], accuracy: 1e-6)
    }

    func testGradientsForGQAWithCausalPaddingAndLearnedBias() throws {
        let q = Tensor.randn([2, 4, 3, 4], seed: 7, requiresGrad: true)
        let k = Tensor.randn([2, 2, 5, 4], seed: 8, requiresGrad: true)
        let v = Tensor.randn([2, 2, 5, 3], seed: 9, requiresGrad: true)
        let bias = Tensor.randn([4, 3, 5], std: 0.5, seed: 10, requiresGrad: true)
        try gradCheck("attention GQA causal(bottomRight) + padding + bias", inputs: [q, k, v, bias]) { t in
            try scaledDotProductAttention(q: t[0], k: t[1], v: t[2],
                                          mask: AttentionMask(validKeys: [true, true, true, true, true, true, false, true, true, false],
                                                              additive: t[3]),
                                          causal: true, causalAlignment: .bottomRight)
        }
        try gradCheck("attention cross, no mask", inputs: [q, k, v]) { t in
            try scaledDotProductAttention(q: t[0], k: t[1], v: t[2], scale: 0.3)
        }
    }

    func testOnlyInputsThatRequireGradGetOne() throws {
        let q = Tensor.randn([1, 2, 3, 4], seed: 11)
        let k = Tensor.randn([1, 1, 3, 4], seed: 12)
        let v = Tensor.randn([1, 1, 3, 4], seed: 13, requiresGrad: true)
        let constantMask = Tensor.randn([3, 3], seed: 14)
        try scaledDotProductAttention(q: q, k: k, v: v, mask: AttentionMask(additive: constantMask)).sum().backward()
        XCTAssertNotNil(v.grad)
        XCTAssertNil(q.grad)
        XCTAssertNil(k.grad)
        XCTAssertNil(constantMask.grad)
        let frozen = try scaledDotProductAttention(q: q, k: k, v: v.detached())
        XCTAssertFalse(frozen.requiresGrad)
    }

    func testSplitAndMergeHeads() throws {
        let (B, N, H, Dh) = (2, 3, 4, 5)
        let x = Tensor.randn([B, N, H * Dh], seed: 15, requiresGrad: true)
        let heads = try splitHeads(x, heads: H)
        XCTAssertEqual(heads.shape, [B, H, N, Dh])
        for b in 0..<B { for n in 0..<N { for h in 0..<H { for d in 0..<Dh {
            XCTAssertEqual(heads[b, h, n, d], x[b, n, h * Dh + d])
        } } } }
        XCTAssertEqual(try mergeHeads(heads).toArray(), x.toArray())
        try gradCheck("splitHeads", inputs: [x]) { try splitHeads($0[0], heads: H) }
        let y = Tensor.randn([B, H, N, Dh], seed: 16, requiresGrad: true)
        try gradCheck("mergeHeads", inputs: [y]) { try mergeHeads($0[0]) }
    }

    func testShapeErrorsNameTheOpAndShapes() {
        let q = Tensor(zeros: [1, 3, 2, 4]), k = Tensor(zeros: [1, 2, 2, 4]), v = Tensor(zeros: [1, 2, 2, 4])
        XCTAssertThrowsError(try scaledDotProductAttention(q: q, k: k, v: v)) { error in
            XCTAssertTrue("\(error)".contains("scaledDotProductAttention") && "\(error)".contains("[1, 3, 2, 4]"), "\(error)")
        }
        let q2 = Tensor(zeros: [1, 2, 2, 4])
        XCTAssertThrowsError(try scaledDotProductAttention(q: q2, k: Tensor(zeros: [1, 2, 2, 3]), v: v)) { XCTAssertTrue("\($0)".contains("head widths")) }
        XCTAssertThrowsError(try scaledDotProductAttention(q: q2, k: k, v: v, mask: AttentionMask(validKeys: [true]))) {
            XCTAssertTrue("\($0)".contains("key padding"))
        }
        XCTAssertThrowsError(try scaledDotProductAttention(q: q2, k: k, v: v, mask: AttentionMask(additive: Tensor(zeros: [3, 2])))) {
            XCTAssertTrue("\($0)".contains("does not broadcast"))
        }
        XCTAssertThrowsError(try splitHeads(Tensor(zeros: [1, 2, 10]), heads: 3)) { XCTAssertTrue("\($0)".contains("splitHeads")) }
        XCTAssertThrowsError(try mergeHeads(Tensor(zeros: [2, 10]))) { XCTAssertTrue("\($0)".contains("mergeHeads")) }
    }
}
