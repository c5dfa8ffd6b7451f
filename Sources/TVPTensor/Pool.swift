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
    let windows = PoolWindows(planes: B * C, plane: H * W,
                              rows: (0..<OH).map { poolWindow($0, stride: SH, pad: PH, kernel: KH, size: H) },
                              columns: (0..<OW).map { poolWindow($0, stride: SW, pad: PW, kernel: KW, size: W) })
    windows.forEach { plane, o, hs, ws in
        let s = src + plane * H * W
        var total: Float = 0
        for h in hs { for w in ws { total += s[h * W + w] } }
        dst[plane * OH * OW + o] = total / divisor
    }
    return out.recorded(op, [x]) { g in
        let dx = Tensor(zeros: x.shape)
        let gp = g.data, dp = dx.data
        windows.forEach { plane, o, hs, ws in
            let d = dp + plane * H * W
            let share = gp[plane * OH * OW + o] / divisor
            for h in hs { for w in ws { d[h * W + w] += share } }
        }
        return [dx]
    }
}

/// The windows of a 2-D pooling over `planes` planes of `plane` values each: output cell (i, j)
/// reads input rows `rows[i]` and columns `columns[j]`. Visited in parallel over the planes, each
/// plane's windows by one worker in output order.
struct PoolWindows {
    let planes: Int, plane: Int, rows: [Range<Int>], columns: [Range<Int>]

    /// Calls `body(plane, o, rows, columns)` for every window: `o` is its offset in the plane's
    /// output, `rows` and `columns` the input ranges it covers.
    @inline(__always)
    func forEach(_ body: (Int, Int, Range<Int>, Range<Int>) -> Void) {
        // Per plane: the values every window reads (Σ rows × Σ columns) and the plane's own.
        let reads = rows.map(\.count).reduce(0, +) * columns.map(\.count).reduce(0, +)
        let (OH, OW) = (rows.count, columns.count)
        rows.withUnsafeBufferPointer { rows in columns.withUnsafeBufferPointer { columns in
            Parallel.forRanges(planes, costPerItem: plane + reads) { r in
                for p in r {
                    for i in 0..<OH { for j in 0..<OW { body(p, i * OW + j, rows[i], columns[j]) } }
                }
            }
        } }
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
    let windows = PoolWindows(planes: B * C, plane: H * W,
                              rows: adaptiveBins(input: H, output: OH), columns: adaptiveBins(input: W, output: OW))
    let out = Tensor(uninitialized: [B, C, OH, OW])
    let src = x.data, dst = out.data
    windows.forEach { plane, o, hs, ws in
        let s = src + plane * H * W
        var total: Float = 0
        for h in hs { for w in ws { total += s[h * W + w] } }
        dst[plane * OH * OW + o] = total / Float(hs.count * ws.count)
    }
    return out.recorded(op, [x]) { g in
        let dx = Tensor(zeros: x.shape)
        let gp = g.data, dp = dx.data
        windows.forEach { plane, o, hs, ws in
            let d = dp + plane * H * W
            let share = gp[plane * OH * OW + o] / Float(hs.count * ws.count)
            for h in hs { for w in ws { d[h * W + w] += share } }
        }
        return [dx]
    }
}
