import TVPTensor
import XCTest

/// The oracle for every conv2d path: the direct 7-loop convolution (b, o, oh, ow, c, kh, kw) in Float64.
func referenceConv2d(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, stride: (Int, Int), padding: Padding2D, groups: Int) -> [Float] {
    let (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (O, Cg, KH, KW) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let OH = (H + padding.top + padding.bottom - KH) / stride.0 + 1
    let OW = (W + padding.left + padding.right - KW) / stride.1 + 1
    let Og = O / groups
    let xv = x.toArray(), wv = w.toArray(), bv = bias?.toArray()
    var out = [Float](repeating: 0, count: B * O * OH * OW)
    for b in 0..<B { for o in 0..<O { for oh in 0..<OH { for ow in 0..<OW {
        var s = Double(bv?[o] ?? 0)
        let group = o / Og
        for c in 0..<Cg { for kh in 0..<KH { for kw in 0..<KW {
            let ih = oh * stride.0 - padding.top + kh, iw = ow * stride.1 - padding.left + kw
            if ih < 0 || ih >= H || iw < 0 || iw >= W { continue }
            let ic = group * Cg + c
            s += Double(xv[((b * C + ic) * H + ih) * W + iw]) * Double(wv[((o * Cg + c) * KH + kh) * KW + kw])
        } } }
        out[((b * O + o) * OH + oh) * OW + ow] = Float(s)
    } } } }
    return out
}

/// The closed-form pattern of scripts/fixtures/conv_resize.py: value(i) = ((i + salt) * 37 % 23 - 11) / 8.
func pattern(_ shape: [Int], salt: Int = 0) -> Tensor {
    let n = shape.reduce(1, *)
    return try! Tensor((0..<n).map { Float(((($0 + salt) * 37) % 23) - 11) / 8 }, shape: shape)
}

final class ConvTests: XCTestCase {
    /// (name, x shape, weight shape, stride, padding, groups, bias); covers every kernel path.
    let cases: [(String, [Int], [Int], (Int, Int), Padding2D, Int, Bool)] = [
        ("general 3x3 pad 1", [2, 3, 6, 5], [4, 3, 3, 3], (1, 1), Padding2D(1, 1), 1, true),
        ("general stride (2,1) asymmetric pad", [1, 3, 7, 6], [5, 3, 3, 2], (2, 1), Padding2D(top: 0, bottom: 2, left: 1, right: 0), 1, false),
        ("groups 2 stride 2", [2, 4, 7, 7], [6, 2, 3, 3], (2, 2), Padding2D(1, 0), 2, true),
        ("pointwise 1x1", [2, 5, 4, 3], [3, 5, 1, 1], (1, 1), .zero, 1, true),
        ("pointwise groups 2", [1, 4, 3, 3], [6, 2, 1, 1], (1, 1), .zero, 2, false),
        ("1x1 stride 2", [1, 3, 5, 5], [2, 3, 1, 1], (2, 2), .zero, 1, true),
        ("patchify 4x4 stride 4, leftover pixels", [2, 3, 10, 9], [5, 3, 4, 4], (4, 4), .zero, 1, true),
        ("patchify 2x3 stride (2,3)", [1, 2, 4, 6], [3, 2, 2, 3], (2, 3), .zero, 1, false),
        ("depthwise 3x3 stride 2 same", [2, 5, 7, 8], [5, 1, 3, 3], (2, 2), Padding2D.same(height: 7, width: 8, kernel: (3, 3), stride: (2, 2)), 5, true),
        ("depthwise 5x5 pad 2", [1, 3, 6, 6], [3, 1, 5, 5], (1, 1), Padding2D(2, 2), 3, false),
        ("depthwise 3x2 stride (1,2) asymmetric", [1, 4, 5, 7], [4, 1, 3, 2], (1, 2), Padding2D(top: 1, bottom: 0, left: 0, right: 1), 4, true),
    ]

    func testConvMatchesDirectLoopOnEveryPath() throws {
        for (i, (name, xs, ws, stride, padding, groups, hasBias)) in cases.enumerated() {
            let x = Tensor.randn(xs, seed: UInt64(10 + i))
            let w = Tensor.randn(ws, seed: UInt64(40 + i))
            let b = hasBias ? Tensor.randn([ws[0]], seed: UInt64(70 + i)) : nil
            let y = try conv2d(x, w, b, stride: stride, padding: padding, groups: groups)
            let ref = referenceConv2d(x, w, b, stride: stride, padding: padding, groups: groups)
            let oh = (xs[2] + padding.top + padding.bottom - ws[2]) / stride.0 + 1
            let ow = (xs[3] + padding.left + padding.right - ws[3]) / stride.1 + 1
            XCTAssertEqual(y.shape, [xs[0], ws[0], oh, ow], name)
            assertClose(y.toArray(), ref, tolerance: 1e-5, name)
        }
    }

    func testConvGradientsOnEveryPath() throws {
        for (i, (name, xs, ws, stride, padding, groups, hasBias)) in cases.enumerated() {
            let x = Tensor.randn(xs, seed: UInt64(100 + i), requiresGrad: true)
            let w = Tensor.randn(ws, seed: UInt64(130 + i), requiresGrad: true)
            var inputs = [x, w]
            if hasBias { inputs.append(Tensor.randn([ws[0]], seed: UInt64(160 + i), requiresGrad: true)) }
            try gradCheck("conv2d \(name)", inputs: inputs) { t in
                try conv2d(t[0], t[1], t.count > 2 ? t[2] : nil, stride: stride, padding: padding, groups: groups)
            }
        }
    }

    func testFrozenWeightGetsNoGradient() throws {
        for (xs, ws, groups) in [([1, 3, 5, 5], [4, 3, 3, 3], 1), ([1, 3, 5, 5], [3, 1, 3, 3], 3), ([1, 2, 4, 4], [3, 2, 2, 2], 1)] {
            let x = Tensor.randn(xs, seed: 1, requiresGrad: true)
            let w = Tensor.randn(ws, seed: 2), b = Tensor.randn([ws[0]], seed: 3)
            let stride = ws[2] == 2 ? (2, 2) : (1, 1)
            try conv2d(x, w, b, stride: stride, groups: groups).sum().backward()
            XCTAssertNil(w.grad)
            XCTAssertNil(b.grad)
            XCTAssertEqual(x.grad?.shape, xs)
        }
    }

    func testSymmetricPaddingOverloadMatchesPadding2D() throws {
        let x = Tensor.randn([1, 2, 5, 6], seed: 4), w = Tensor.randn([3, 2, 3, 3], seed: 5)
        let a = try conv2d(x, w, nil, stride: (2, 1), padding: (1, 2))
        let b = try conv2d(x, w, nil, stride: (2, 1), padding: Padding2D(top: 1, bottom: 1, left: 2, right: 2))
        XCTAssertEqual(a.toArray(), b.toArray())
        XCTAssertEqual(a.shape, [1, 3, 3, 8])
    }

    /// Golden values from PyTorch (scripts/fixtures/conv_resize.py): F.conv2d(x, w, b, stride=(2, 1),
    /// padding=(1, 1), groups=2) with x [1, 4, 5, 6], w [6, 2, 3, 3] and b [6] from `pattern`.
    func testConvMatchesTorchGolden() throws {
        let golden: [Float] = [-0.34375, 3, -2.90625, -0.546875, 4.328125, 0.078125, -2.453125, -2.3125, 8.5625, -5.359375, -0.59375, 2.34375, 5.046875, -3.015625, -3.453125, 7.609375, -2.171875, 1.4375, -1.5625, 1.859375, -4.15625, -1.546875, 3.21875, -0.953125, -3.984375, -3.859375, 7.390625, -6.15625, -1.375, 1.453125, 3.59375, -4.328125, -4.515625, 6.796875, -3.09375, 0.53125, 0.09375, 3.59375, -2.53125, 0.328125, 4.984375, 0.890625, -2.640625, -1.09375, 7.296875, -0.84375, 0.71875, 0.203125, 5.015625, 1.1875, -1.984375, 6.34375, 1.375, 1.78125, 1.859375, -1.09375, -1.21875, 4.046875, -1.46875, 1.96875, -3.28125, 1.484375, 1.625, 0.6875, -3.125, -0.03125, 1.40625, -2.578125, 1.6875, -3.03125, 2.3125, 0.359375, 0.9375, -1.96875, -1.84375, 2.953125, -2.671875, 0.515625, -4.546875, -3.078125, 2.109375, -2.40625, -1.171875, -1.375, 2.765625, -4.703125, 4.484375, -3.9375, -1.578125, 1.546875, 2.890625, -0.328125, -3.1875, 6.171875, -2.796875, 5.171875, -2.578125, 0.984375, 2.953125, 3.125, 1.140625, -2.359375, 4.84375, -2.875, 6.203125, -2.6875, -0.078125, 3.09375]
        let y = try conv2d(pattern([1, 4, 5, 6]), pattern([6, 2, 3, 3], salt: 5), pattern([6], salt: 11),
                           stride: (2, 1), padding: (1, 1), groups: 2)
        XCTAssertEqual(y.shape, [1, 6, 3, 6])
        assertClose(y.toArray(), golden, tolerance: 1e-6)
    }

    func testSamePaddingMatchesTensorFlow() {
        // out = ceil(in / stride); total = max((out - 1) * stride + (k - 1) * d + 1 - in, 0); odd padding goes after.
        XCTAssertTrue(samePadding(inputSize: 224, kernel: 3, stride: 2) == (0, 1))
        XCTAssertTrue(samePadding(inputSize: 225, kernel: 3, stride: 2) == (1, 1))
        XCTAssertTrue(samePadding(inputSize: 112, kernel: 5, stride: 2) == (1, 2))
        XCTAssertTrue(samePadding(inputSize: 7, kernel: 5, stride: 1) == (2, 2))
        XCTAssertTrue(samePadding(inputSize: 10, kernel: 3, stride: 1, dilation: 2) == (2, 2))
        XCTAssertTrue(samePadding(inputSize: 8, kernel: 1, stride: 2) == (0, 0))
        XCTAssertTrue(samePadding(inputSize: 9, kernel: 2, stride: 3) == (0, 0))
        XCTAssertEqual(Padding2D.same(height: 224, width: 225, kernel: (3, 3), stride: (2, 2)),
                       Padding2D(top: 0, bottom: 1, left: 1, right: 1))
        // SAME keeps ceil(in / stride) outputs.
        let y = try? conv2d(Tensor(zeros: [1, 1, 9, 9]), Tensor(zeros: [1, 1, 3, 3]), stride: (2, 2),
                            padding: .same(height: 9, width: 9, kernel: (3, 3), stride: (2, 2)))
        XCTAssertEqual(y?.shape, [1, 1, 5, 5])
    }

    func testConvShapeErrorsNameOpAndShapes() {
        let x = Tensor(zeros: [1, 4, 5, 5])
        XCTAssertThrowsError(try conv2d(x, Tensor(zeros: [3, 3, 3, 3]))) { e in
            XCTAssertTrue("\(e)".contains("conv2d") && "\(e)".contains("[3, 3, 3, 3]") && "\(e)".contains("[1, 4, 5, 5]"), "\(e)")
        }
        XCTAssertThrowsError(try conv2d(x, Tensor(zeros: [3, 2, 3, 3]), groups: 2)) { XCTAssertTrue("\($0)".contains("groups")) }
        XCTAssertThrowsError(try conv2d(x, Tensor(zeros: [2, 4, 3, 3]), Tensor(zeros: [3]))) { XCTAssertTrue("\($0)".contains("bias")) }
        XCTAssertThrowsError(try conv2d(x, Tensor(zeros: [2, 4, 7, 7]))) { XCTAssertTrue("\($0)".contains("larger")) }
        XCTAssertThrowsError(try conv2d(x, Tensor(zeros: [2, 4, 3, 3]), stride: (0, 1)))
        XCTAssertThrowsError(try conv2d(Tensor(zeros: [4, 5, 5]), Tensor(zeros: [2, 4, 3, 3])))
    }

    // MARK: batch norm

    func batchNormParameters(_ c: Int, seed: UInt64) -> (Tensor, Tensor, Tensor, Tensor) {
        (Tensor.uniform([c], low: 0.5, high: 1.5, seed: seed, requiresGrad: true), Tensor.randn([c], seed: seed + 1, requiresGrad: true),
         Tensor.randn([c], seed: seed + 2), Tensor.uniform([c], low: 0.2, high: 2, seed: seed + 3))
    }

    func testBatchNormInferenceMatchesFormula() throws {
        let x = Tensor.randn([2, 3, 4, 5], seed: 20)
        let (w, b, m, v) = batchNormParameters(3, seed: 21)
        let eps: Float = 1e-3
        let y = try batchNormInference(x, weight: w, bias: b, runningMean: m, runningVar: v, eps: eps)
        var ref = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let c = (i / 20) % 3
            let norm = (Double(x.data[i]) - Double(m.data[c])) / (Double(v.data[c]) + Double(eps)).squareRoot()
            ref[i] = Float(norm * Double(w.data[c]) + Double(b.data[c]))
        }
        assertClose(y.toArray(), ref, tolerance: 1e-5)
        // affine = false, and a [B, C] input.
        let x2 = Tensor.randn([4, 3], seed: 22)
        let y2 = try batchNormInference(x2, weight: nil, bias: nil, runningMean: m, runningVar: v, eps: eps)
        for i in 0..<12 {
            let c = i % 3
            XCTAssertEqual(y2.data[i], (x2.data[i] - m.data[c]) / (v.data[c] + eps).squareRoot(), accuracy: 1e-5)
        }
    }

    func testBatchNormGradients() throws {
        let x = Tensor.randn([2, 3, 3, 2], seed: 23, requiresGrad: true)
        let (w, b, m, v) = batchNormParameters(3, seed: 24)
        try gradCheck("batchNormInference", inputs: [x, w, b]) { t in
            try batchNormInference(t[0], weight: t[1], bias: t[2], runningMean: m, runningVar: v)
        }
        XCTAssertThrowsError(try batchNormInference(x, weight: w, bias: b, runningMean: Tensor(zeros: [4]), runningVar: v)) {
            XCTAssertTrue("\($0)".contains("batchNormInference") && "\($0)".contains("[4]"))
        }
    }

    func testFoldedBatchNormEqualsConvThenBatchNorm() throws {
        for (ws, groups, hasBias) in [([4, 3, 3, 3], 1, true), ([5, 1, 3, 3], 5, false)] {
            let cin = ws[1] * groups
            let x = Tensor.randn([2, cin, 6, 5], seed: 30)
            let w = Tensor.randn(ws, seed: 31), cb = hasBias ? Tensor.randn([ws[0]], seed: 32) : nil
            let (bw, bb, m, v) = batchNormParameters(ws[0], seed: 33)
            let padding = Padding2D(top: 0, bottom: 1, left: 1, right: 1)
            let reference = try batchNormInference(try conv2d(x, w, cb, stride: (2, 2), padding: padding, groups: groups),
                                                   weight: bw, bias: bb, runningMean: m, runningVar: v, eps: 1e-3)
            let folded = try foldBatchNorm(convWeight: w, convBias: cb, bnWeight: bw, bnBias: bb, mean: m, variance: v, eps: 1e-3)
            XCTAssertEqual(folded.weight.shape, ws)
            XCTAssertEqual(folded.bias.shape, [ws[0]])
            let y = try conv2d(x, folded.weight, folded.bias, stride: (2, 2), padding: padding, groups: groups)
            assertClose(y.toArray(), reference.toArray(), tolerance: 1e-5)
        }
    }
}
