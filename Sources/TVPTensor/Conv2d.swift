// 2-D convolution in NCHW with PyTorch semantics; forward and backward side by side.
// Shapes: x [B, C, H, W], weight [O, C/G, KH, KW], bias [O], out [B, O, OH, OW] with
//   OH = (H + top + bottom - KH) / SH + 1,  OW = (W + left + right - KW) / SW + 1,  L = OH * OW.
// Three kernels share one geometry:
//   - patchify (G == 1, kernel == stride, no padding; ViT patch embedding): the patches of the
//     whole batch form one [B*L, C*KH*KW] matrix and the product is one large GEMM;
//   - depthwise (G == C == O): direct pointer loops, parallel over the B*C planes;
//   - general: im2col + one sgemm per group per image, with one column buffer reused for the whole
//     batch; a 1x1 stride-1 unpadded kernel reads the image as its own column matrix (plain GEMM).
// The plain 7-loop reference twin is `referenceConv2d` in the tests.

/// Zero padding of the four sides of an image.
public struct Padding2D: Equatable, Sendable {
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top
        self.bottom = bottom
        self.left = left
        self.right = right
    }

    /// `h` rows above and below, `w` columns left and right: PyTorch's `padding=(h, w)`.
    public init(_ h: Int, _ w: Int) { self.init(top: h, bottom: h, left: w, right: w) }

    public static let zero = Padding2D(0, 0)

    /// TensorFlow "SAME" padding for an `height` x `width` input: the output has ceil(size / stride)
    /// positions and any odd padding goes after (bottom, right), as EfficientNet-Lite expects.
    public static func same(height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                            dilation: (Int, Int) = (1, 1)) -> Padding2D {
        let h = samePadding(inputSize: height, kernel: kernel.0, stride: stride.0, dilation: dilation.0)
        let w = samePadding(inputSize: width, kernel: kernel.1, stride: stride.1, dilation: dilation.1)
        return Padding2D(top: h.before, bottom: h.after, left: w.before, right: w.after)
    }
}

/// TensorFlow "SAME" padding along one axis: out = ceil(in / stride), total = max((out - 1) * stride +
/// (kernel - 1) * dilation + 1 - in, 0), before = total / 2, after = total - before.
public func samePadding(inputSize: Int, kernel: Int, stride: Int, dilation: Int = 1) -> (before: Int, after: Int) {
    let s = max(stride, 1)
    let out = (inputSize + s - 1) / s
    let total = max((out - 1) * s + (kernel - 1) * dilation + 1 - inputSize, 0)
    return (total / 2, total - total / 2)
}

/// The output positions `o` in `0..<outSize` whose input index `o * stride - pad + k` lies in `0..<inSize`.
@inline(__always)
func validOutputRange(k: Int, pad: Int, stride: Int, inSize: Int, outSize: Int) -> Range<Int> {
    let lo = pad - k <= 0 ? 0 : (pad - k + stride - 1) / stride
    let last = inSize - 1 + pad - k
    let hi = last < 0 ? 0 : last / stride + 1
    let l = min(lo, outSize)
    return l..<min(max(hi, l), outSize)
}

/// Sizes of one convolution, checked once.
struct ConvGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let outChannels: Int, groups: Int, kernelH: Int, kernelW: Int
    let strideH: Int, strideW: Int
    let pad: Padding2D
    let outH: Int, outW: Int

    var inPlane: Int { height * width }
    var outArea: Int { outH * outW }
    /// Input and output channels of one group.
    var groupChannels: Int { channels / groups }
    var groupOutChannels: Int { outChannels / groups }
    /// Rows of the column matrix of one group: Cg * KH * KW.
    var groupColRows: Int { groupChannels * kernelH * kernelW }

    var isDepthwise: Bool { groups == channels && groups == outChannels && groups > 1 }
    var isPatchify: Bool {
        groups == 1 && kernelH == strideH && kernelW == strideW && pad == .zero
            && (kernelH > 1 || kernelW > 1)
    }
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && pad == .zero }
}

// MARK: im2col / col2im (general path)

/// col[(c, kh, kw), (oh, ow)] = x[c, oh*SH - top + kh, ow*SW - left + kw], zero outside the image.
/// x is one image [C, H, W]; col is [C*KH*KW, L].
func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let rows = g.channels * g.kernelH * g.kernelW
    let (H, W, OH, OW, KH, KW, SH, SW) = (g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW, g.strideH, g.strideW)
    let top = g.pad.top, left = g.pad.left
    Parallel.forRanges(rows, costPerItem: g.outArea) { r in
        for row in r {
            let kw = row % KW, kh = (row / KW) % KH, c = row / (KW * KH)
            let src = x + c * H * W
            let dst = col + row * OH * OW
            let ow = validOutputRange(k: kw, pad: left, stride: SW, inSize: W, outSize: OW)
            let oh = validOutputRange(k: kh, pad: top, stride: SH, inSize: H, outSize: OH)
            dst.update(repeating: 0, count: oh.lowerBound * OW)
            for y in oh {
                let d = dst + y * OW
                let base = (y * SH - top + kh) * W - left + kw
                for i in 0..<ow.lowerBound { d[i] = 0 }
                if SW == 1 {
                    for i in ow { d[i] = src[base + i] }
                } else {
                    for i in ow { d[i] = src[base + i * SW] }
                }
                for i in ow.upperBound..<OW { d[i] = 0 }
            }
            (dst + oh.upperBound * OW).update(repeating: 0, count: (OH - oh.upperBound) * OW)
        }
    }
}

/// The adjoint of `im2col`: dx[c, ih, iw] += dcol[(c, kh, kw), (oh, ow)] (parallel over channels).
func col2im(_ dcol: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (H, W, OH, OW, KH, KW, SH, SW) = (g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW, g.strideH, g.strideW)
    let top = g.pad.top, left = g.pad.left
    Parallel.forRanges(g.channels, costPerItem: KH * KW * g.outArea) { r in
        for c in r {
            let d = dx + c * H * W
            for kh in 0..<KH {
                let oh = validOutputRange(k: kh, pad: top, stride: SH, inSize: H, outSize: OH)
                for kw in 0..<KW {
                    let ow = validOutputRange(k: kw, pad: left, stride: SW, inSize: W, outSize: OW)
                    let src = dcol + ((c * KH + kh) * KW + kw) * OH * OW
                    for y in oh {
                        let s = src + y * OW
                        let base = (y * SH - top + kh) * W - left + kw
                        for i in ow { d[base + i * SW] += s[i] }
                    }
                }
            }
        }
    }
}

// MARK: patchify (kernel == stride, no padding)

/// P[(b, oh, ow), (c, kh, kw)] = x[b, c, oh*KH + kh, ow*KW + kw]; P is [B*L, C*KH*KW].
func gatherPatches(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (C, H, W, OH, OW, KH, KW) = (g.channels, g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW)
    let patch = C * KH * KW
    Parallel.forRanges(g.batch * OH, costPerItem: OW * patch) { r in
        for bh in r {
            let b = bh / OH, oh = bh % OH
            for c in 0..<C { for kh in 0..<KH {
                let src = x + ((b * C + c) * H + oh * KH + kh) * W
                let dst = p + bh * OW * patch + (c * KH + kh) * KW
                for ow in 0..<OW { (dst + ow * patch).update(from: src + ow * KW, count: KW) }
            } }
        }
    }
}

/// The adjoint of `gatherPatches` (patches do not overlap, so it is a plain copy back); pixels past
/// the last whole patch get zero.
func scatterPatches(_ p: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (C, H, W, OH, OW, KH, KW) = (g.channels, g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW)
    let patch = C * KH * KW
    if OH * KH != H || OW * KW != W { dx.update(repeating: 0, count: g.batch * C * H * W) }
    Parallel.forRanges(g.batch * OH, costPerItem: OW * patch) { r in
        for bh in r {
            let b = bh / OH, oh = bh % OH
            for c in 0..<C { for kh in 0..<KH {
                let dst = dx + ((b * C + c) * H + oh * KH + kh) * W
                let src = p + bh * OW * patch + (c * KH + kh) * KW
                for ow in 0..<OW { (dst + ow * KW).update(from: src + ow * patch, count: KW) }
            } }
        }
    }
}

/// dst[b, j, i] = src[b, i, j] for `batch` matrices of `rows` x `cols`.
func transposeBatched(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, batch: Int, rows: Int, cols: Int) {
    Parallel.forRanges(batch * cols, costPerItem: rows) { r in
        for bj in r {
            let b = bj / cols, j = bj % cols
            let s = src + b * rows * cols + j, d = dst + bj * rows
            for i in 0..<rows { d[i] = s[i * cols] }
        }
    }
}

// MARK: depthwise (G == C == O)

/// out[b, c] = bias[c] + Σ_kh,kw w[c, kh, kw] · x[b, c, oh*SH - top + kh, ow*SW - left + kw].
func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (C, H, W, OH, OW, KH, KW, SH, SW) = (g.channels, g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW, g.strideH, g.strideW)
    let top = g.pad.top, left = g.pad.left
    Parallel.forRanges(g.batch * C, costPerItem: g.outArea * KH * KW) { r in
        for bc in r {
            let c = bc % C
            let src = x + bc * H * W, dst = out + bc * OH * OW, wc = w + c * KH * KW
            dst.update(repeating: bias?[c] ?? 0, count: OH * OW)
            for kh in 0..<KH {
                let oh = validOutputRange(k: kh, pad: top, stride: SH, inSize: H, outSize: OH)
                for kw in 0..<KW {
                    let ow = validOutputRange(k: kw, pad: left, stride: SW, inSize: W, outSize: OW)
                    let wv = wc[kh * KW + kw]
                    for y in oh {
                        let d = dst + y * OW
                        let base = (y * SH - top + kh) * W - left + kw
                        if SW == 1 {
                            for i in ow { d[i] += wv * src[base + i] }
                        } else {
                            for i in ow { d[i] += wv * src[base + i * SW] }
                        }
                    }
                }
            }
        }
    }
}

/// dx[b, c, ih, iw] = Σ w[c, kh, kw] · g[b, c, oh, ow] over the taps that read (ih, iw).
func depthwiseInputGrad(_ grad: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (C, H, W, OH, OW, KH, KW, SH, SW) = (g.channels, g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW, g.strideH, g.strideW)
    let top = g.pad.top, left = g.pad.left
    Parallel.forRanges(g.batch * C, costPerItem: g.outArea * KH * KW) { r in
        for bc in r {
            let c = bc % C
            let d = dx + bc * H * W, src = grad + bc * OH * OW, wc = w + c * KH * KW
            d.update(repeating: 0, count: H * W)
            for kh in 0..<KH {
                let oh = validOutputRange(k: kh, pad: top, stride: SH, inSize: H, outSize: OH)
                for kw in 0..<KW {
                    let ow = validOutputRange(k: kw, pad: left, stride: SW, inSize: W, outSize: OW)
                    let wv = wc[kh * KW + kw]
                    for y in oh {
                        let s = src + y * OW
                        let base = (y * SH - top + kh) * W - left + kw
                        for i in ow { d[base + i * SW] += wv * s[i] }
                    }
                }
            }
        }
    }
}

/// dw[c, kh, kw] = Σ_b,oh,ow g[b, c, oh, ow] · x[b, c, oh*SH - top + kh, ow*SW - left + kw].
func depthwiseWeightGrad(_ grad: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (B, C, H, W, OH, OW, KH, KW, SH, SW) = (g.batch, g.channels, g.height, g.width, g.outH, g.outW, g.kernelH, g.kernelW, g.strideH, g.strideW)
    let top = g.pad.top, left = g.pad.left
    Parallel.forRanges(C, costPerItem: B * g.outArea * KH * KW) { r in
        for c in r {
            for kh in 0..<KH {
                let oh = validOutputRange(k: kh, pad: top, stride: SH, inSize: H, outSize: OH)
                for kw in 0..<KW {
                    let ow = validOutputRange(k: kw, pad: left, stride: SW, inSize: W, outSize: OW)
                    var total = 0.0
                    for b in 0..<B {
                        let src = x + (b * C + c) * H * W, gp = grad + (b * C + c) * OH * OW
                        for y in oh {
                            let s = gp + y * OW
                            let base = (y * SH - top + kh) * W - left + kw
                            var rowSum: Float = 0
                            for i in ow { rowSum += s[i] * src[base + i * SW] }
                            total += Double(rowSum)
                        }
                    }
                    dw[(c * KH + kh) * KW + kw] = Float(total)
                }
            }
        }
    }
}

/// db[o] = Σ_b,l g[b, o, l].
func convBiasGrad(_ grad: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>, batch: Int, channels: Int, area: Int) {
    Parallel.forRanges(channels, costPerItem: batch * area) { r in
        for o in r {
            var total = 0.0
            for b in 0..<batch {
                let s = grad + (b * channels + o) * area
                var rowSum: Float = 0
                for i in 0..<area { rowSum += s[i] }
                total += Double(rowSum)
            }
            db[o] = Float(total)
        }
    }
}

// MARK: conv2d

/// PyTorch `F.conv2d` over NCHW: x [B, C, H, W], weight [O, C/groups, KH, KW], bias [O] (optional),
/// zero `padding` (may be asymmetric, e.g. `Padding2D.same(...)`), `stride` (SH, SW).
/// Returns [B, O, OH, OW]. Gradients for x, weight and bias are computed only where required.
public func conv2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: Padding2D = .zero, groups: Int = 1) throws -> Tensor {
    let op = "conv2d"
    try require(x.rank == 4, op, "input must be [B, C, H, W], got \(describe(x.shape))")
    try require(weight.rank == 4, op, "weight must be [O, C/groups, KH, KW], got \(describe(weight.shape))")
    let (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (O, KH, KW) = (weight.shape[0], weight.shape[2], weight.shape[3])
    try require(groups >= 1 && C % groups == 0 && O % groups == 0, op,
                "groups \(groups) must divide input channels (\(C)) and output channels (\(O)); input \(describe(x.shape)), weight \(describe(weight.shape))")
    try require(weight.shape[1] == C / groups, op,
                "weight \(describe(weight.shape)) expects \(weight.shape[1] * groups) input channels with groups \(groups), input \(describe(x.shape)) has \(C)")
    if let bias { try require(bias.shape == [O], op, "bias \(describe(bias.shape)) does not match weight \(describe(weight.shape)) (need [\(O)])") }
    try require(stride.0 >= 1 && stride.1 >= 1, op, "stride \(stride) must be positive")
    try require(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0, op,
                "padding \(padding) must not be negative")
    try require(KH >= 1 && KW >= 1 && H + padding.top + padding.bottom >= KH && W + padding.left + padding.right >= KW, op,
                "kernel \(KH)x\(KW) (weight \(describe(weight.shape))) is larger than the padded input \(describe(x.shape)) with \(padding)")
    let g = ConvGeometry(batch: B, channels: C, height: H, width: W, outChannels: O, groups: groups, kernelH: KH, kernelW: KW,
                         strideH: stride.0, strideW: stride.1, pad: padding,
                         outH: (H + padding.top + padding.bottom - KH) / stride.0 + 1,
                         outW: (W + padding.left + padding.right - KW) / stride.1 + 1)
    let out = Tensor(uninitialized: [B, O, g.outH, g.outW])
    if g.isDepthwise {
        depthwiseForward(x.data, weight.data, bias?.data, out.data, g)
    } else if g.isPatchify {
        patchifyForward(x.data, weight.data, bias?.data, out.data, g)
    } else {
        generalForward(x.data, weight.data, bias?.data, out.data, g)
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return out.recorded(op, inputs) { grad in
        let xd = x.detached(), wd = weight.detached()
        let dx: Tensor? = x.requiresGrad ? Tensor(uninitialized: x.shape) : nil
        let dw: Tensor? = weight.requiresGrad ? Tensor(uninitialized: weight.shape) : nil
        if g.isDepthwise {
            if let dx { depthwiseInputGrad(grad.data, wd.data, dx.data, g) }
            if let dw { depthwiseWeightGrad(grad.data, xd.data, dw.data, g) }
        } else if g.isPatchify {
            patchifyBackward(grad.data, xd.data, wd.data, dx?.data, dw?.data, g)
        } else {
            generalBackward(grad.data, xd.data, wd.data, dx?.data, dw?.data, g)
        }
        var grads: [Tensor?] = [dx, dw]
        if let bias {
            if bias.requiresGrad {
                let db = Tensor(uninitialized: [O])
                convBiasGrad(grad.data, db.data, batch: B, channels: O, area: g.outArea)
                grads.append(db)
            } else { grads.append(nil) }
        }
        return grads
    }
}

/// `conv2d` with symmetric padding `(h, w)`, PyTorch's `padding=(h, w)`.
public func conv2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int), groups: Int = 1) throws -> Tensor {
    try conv2d(x, weight, bias, stride: stride, padding: Padding2D(padding.0, padding.1), groups: groups)
}

/// Fills each output plane out[b, o] with bias[o], or zero.
func fillBias(_ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?, planes: Int, channels: Int, area: Int) {
    Parallel.forRanges(planes, costPerItem: area) { r in
        for p in r { (out + p * area).update(repeating: bias?[p % channels] ?? 0, count: area) }
    }
}

/// out[b, g-block] = W_g [Og, Cg*KH*KW] · col_g [Cg*KH*KW, L] (+ bias), one image at a time.
func generalForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                    _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let L = g.outArea, K = g.groupColRows, Og = g.groupOutChannels
    fillBias(out, bias, planes: g.batch * g.outChannels, channels: g.outChannels, area: L)
    let colBuffer: Tensor? = g.isPointwise ? nil : Tensor(uninitialized: [g.groups * K * L])
    for b in 0..<g.batch {
        let xb = x + b * g.channels * g.inPlane
        let col: UnsafePointer<Float>
        if let colBuffer { im2col(xb, colBuffer.data, g); col = UnsafePointer(colBuffer.data) } else { col = xb }
        let ob = out + b * g.outChannels * L
        for grp in 0..<g.groups {
            sgemm(false, false, m: Og, n: L, k: K, w + grp * Og * K, col + grp * K * L, beta: 1, ob + grp * Og * L)
        }
    }
}

/// dcol_g = W_gᵀ · g_g then col2im into dx; dW_g += g_g · col_gᵀ summed over the batch.
func generalBackward(_ grad: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                     _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?, _ g: ConvGeometry) {
    let L = g.outArea, K = g.groupColRows, Og = g.groupOutChannels
    let pointwise = g.isPointwise
    let colBuffer: Tensor? = dw != nil && !pointwise ? Tensor(uninitialized: [g.groups * K * L]) : nil
    let dcolBuffer: Tensor? = dx != nil && !pointwise ? Tensor(uninitialized: [g.groups * K * L]) : nil
    for b in 0..<g.batch {
        let gb = grad + b * g.outChannels * L
        if let dx {
            let dxb = dx + b * g.channels * g.inPlane
            // A pointwise kernel's column matrix is the image itself: write dcol straight into dx.
            let dcol = dcolBuffer?.data ?? dxb
            for grp in 0..<g.groups {
                sgemm(true, false, m: K, n: L, k: Og, w + grp * Og * K, gb + grp * Og * L, dcol + grp * K * L)
            }
            if dcolBuffer != nil {
                dxb.update(repeating: 0, count: g.channels * g.inPlane)
                col2im(dcol, dxb, g)
            }
        }
        if let dw {
            let xb = x + b * g.channels * g.inPlane
            let col: UnsafePointer<Float>
            if let colBuffer { im2col(xb, colBuffer.data, g); col = UnsafePointer(colBuffer.data) } else { col = xb }
            for grp in 0..<g.groups {
                sgemm(false, true, m: Og, n: K, k: L, gb + grp * Og * L, col + grp * K * L,
                      beta: b == 0 ? 0 : 1, dw + grp * Og * K)
            }
        }
    }
}

/// Patch embedding: P [B*L, C*KH*KW] · Wᵀ → [B*L, O] → transposed to [B, O, L] (+ bias).
func patchifyForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                     _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let L = g.outArea, K = g.groupColRows, O = g.outChannels, rows = g.batch * L
    let patches = Tensor(uninitialized: [rows, K])
    gatherPatches(x, patches.data, g)
    let tokens = Tensor(uninitialized: [rows, O])
    sgemm(false, true, m: rows, n: O, k: K, patches.data, w, tokens.data)
    let t = tokens.data
    Parallel.forRanges(g.batch * O, costPerItem: L) { r in
        for bo in r {
            let b = bo / O, o = bo % O
            let s = t + b * L * O + o, d = out + bo * L
            let add = bias?[o] ?? 0
            for l in 0..<L { d[l] = s[l * O] + add }
        }
    }
}

/// gT [B*L, O] = g transposed; dP = gT · W scattered back to dx; dW = gTᵀ · P.
func patchifyBackward(_ grad: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                      _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?, _ g: ConvGeometry) {
    let L = g.outArea, K = g.groupColRows, O = g.outChannels, rows = g.batch * L
    let gradTokens = Tensor(uninitialized: [rows, O])
    transposeBatched(grad, gradTokens.data, batch: g.batch, rows: O, cols: L)
    let patches = Tensor(uninitialized: [rows, K])
    if let dx {
        sgemm(false, false, m: rows, n: K, k: O, gradTokens.data, w, patches.data)
        scatterPatches(patches.data, dx, g)
    }
    if let dw {
        gatherPatches(x, patches.data, g)
        sgemm(true, false, m: O, n: K, k: rows, gradTokens.data, patches.data, dw)
    }
}
