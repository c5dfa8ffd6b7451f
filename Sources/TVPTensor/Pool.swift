// Average pooling in NCHW; forward and backward side by side. Every plane [H, W] of x [B, C, H, W]
// is pooled on its own, in parallel over the B*C planes.

/// PyTorch `F.avg_pool2d(x, kernel, stride, padding)` with `count_include_pad=True` and
/// `ceil_mode=False`: every window is divided by KH*KW, zero padding included. `stride` defaults
/// to the kernel. Padding must be at most half the kernel, as in PyTorch. Returns [B, C, OH, OW]
/// with OH = (H + 2*PH - KH) / SH + 1.
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws -> Tensor {
    let op = "avgPool2d"
    let (KH, KW) = kernel, (SH, SW) = stride ?? kernel, (PH, PW) = padding
    try require(x.rank == 4, op, "input must be [B, C, H, W], got \(describe(x.shape))")
    try require(KH >= 1 && KW >= 1 && SH >= 1 && SW >= 1, op, "kernel \(kernel) and stride \((SH, SW)) must be positive")
    try require(PH >= 0 && PW >= 0 && PH <= KH / 2 && PW <= KW / 2, op,
                "padding \(padding) must be between 0 and half the kernel \(kernel)")
    let (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    try require(H + 2 * PH >= KH && W + 2 * PW >= KW, op, "kernel \(kernel) is larger than the padded input \(describe(x.shape)) with padding \(padding)")
    let OH = (H + 2 * PH - KH) / SH + 1, OW = (W + 2 * PW - KW) / SW + 1
    let divisor = Float(KH * KW)
    let out = Tensor(uninitialized: [B, C, OH, OW])
    let src = x.data, dst = out.data
    Parallel.forRanges(B * C, costPerItem: OH * OW * KH * KW) { r in
        for plane in r {
            let s = src + plane * H * W, d = dst + plane * OH * OW
            for oh in 0..<OH {
                let hs = poolWindow(oh, stride: SH, pad: PH, kernel: KH, size: H)
                for ow in 0..<OW {
                    let ws = poolWindow(ow, stride: SW, pad: PW, kernel: KW, size: W)
                    var total: Float = 0
                    for h in hs { for w in ws { total += s[h * W + w] } }
                    d[oh * OW + ow] = total / divisor
                }
            }
        }
    }
    return out.recorded(op, [x]) { g in
        let dx = Tensor(zeros: x.shape)
        let gp = g.data, dp = dx.data
        Parallel.forRanges(B * C, costPerItem: OH * OW * KH * KW) { r in
            for plane in r {
                let gs = gp + plane * OH * OW, d = dp + plane * H * W
                for oh in 0..<OH {
                    let hs = poolWindow(oh, stride: SH, pad: PH, kernel: KH, size: H)
                    for ow in 0..<OW {
                        let ws = poolWindow(ow, stride: SW, pad: PW, kernel: KW, size: W)
                        let share = gs[oh * OW + ow] / divisor
                        for h in hs { for w in ws { d[h * W + w] += share } }
                    }
                }
            }
        }
        return [dx]
    }
}

/// The input rows (or columns) that output row (or column) `o` of a pooling window covers: the
/// window's `kernel` positions from `o * stride - pad`, cut to the input's `size`.
@inline(__always)
func poolWindow(_ o: Int, stride: Int, pad: Int, kernel: Int, size: Int) -> Range<Int> {
    let start = max(o * stride - pad, 0), end = min(o * stride - pad + kernel, size)
    return start..<max(end, start)
}

/// Checks x [B, C, H, W] with non-empty planes and a positive output `size` for a plane-to-plane
/// op; returns (B, C, H, W).
func requirePlanes(_ x: Tensor, output size: (Int, Int), _ op: String) throws -> (Int, Int, Int, Int) {
    try require(x.rank == 4, op, "input must be [B, C, H, W], got \(describe(x.shape))")
    try require(size.0 >= 1 && size.1 >= 1, op, "output size \(size) must be positive")
    try require(x.shape[2] >= 1 && x.shape[3] >= 1, op, "input \(describe(x.shape)) has an empty plane")
    return (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
}

/// The input bins of PyTorch's adaptive pooling: output index i reads [floor(i*in/out), ceil((i+1)*in/out)).
func adaptiveBins(input: Int, output: Int) -> [Range<Int>] {
    (0..<output).map { i in (i * input / output)..<(((i + 1) * input + output - 1) / output) }
}

/// PyTorch `F.adaptive_avg_pool2d(x, outputSize)`: output cell (i, j) averages rows
/// [floor(i*H/OH), ceil((i+1)*H/OH)) and columns [floor(j*W/OW), ceil((j+1)*W/OW)).
/// `outputSize: (1, 1)` is global average pooling. Returns [B, C, OH, OW].
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    let op = "adaptiveAvgPool2d"
    let (B, C, H, W) = try requirePlanes(x, output: outputSize, op)
    let (OH, OW) = outputSize
    let rows = adaptiveBins(input: H, output: OH), cols = adaptiveBins(input: W, output: OW)
    let out = Tensor(uninitialized: [B, C, OH, OW])
    let src = x.data, dst = out.data
    rows.withUnsafeBufferPointer { rows in cols.withUnsafeBufferPointer { cols in
        Parallel.forRanges(B * C, costPerItem: H * W + OH * OW) { r in
            for plane in r {
                let s = src + plane * H * W, d = dst + plane * OH * OW
                for i in 0..<OH { for j in 0..<OW {
                    var total: Float = 0
                    for h in rows[i] { for w in cols[j] { total += s[h * W + w] } }
                    d[i * OW + j] = total / Float(rows[i].count * cols[j].count)
                } }
            }
        }
    } }
    return out.recorded(op, [x]) { g in
        let dx = Tensor(zeros: x.shape)
        let gp = g.data, dp = dx.data
        rows.withUnsafeBufferPointer { rows in cols.withUnsafeBufferPointer { cols in
            Parallel.forRanges(B * C, costPerItem: H * W + OH * OW) { r in
                for plane in r {
                    let gs = gp + plane * OH * OW, d = dp + plane * H * W
                    for i in 0..<OH { for j in 0..<OW {
                        let share = gs[i * OW + j] / Float(rows[i].count * cols[j].count)
                        for h in rows[i] { for w in cols[j] { d[h * W + w] += share } }
                    } }
                }
            }
        } }
        return [dx]
    }
}
