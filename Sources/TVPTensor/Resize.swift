import Foundation

// Image resizing with PyTorch `F.interpolate` semantics (size given, no scale factor), in NCHW;
// forward and backward side by side.
// Every mode is separable: output (oh, ow) = Σ_s,t wy[oh, s] · wx[ow, t] · x[iy[oh, s], ix[ow, t]], so
// each axis is a small table of taps (input index, weight) per output index. Forward resizes the
// rows first ([H, W] → [H, OW]) and then the columns; backward scatter-adds through the same taps.

/// The interpolation of `resize`.
public enum ResizeMode: String, Sendable {
    /// PyTorch "nearest": source index floor(o · in / out), clamped to the last.
    case nearest
    /// Linear in each axis (PyTorch "bilinear").
    case bilinear
    /// Keys cubic convolution with A = -0.75 and indices clamped at the borders (PyTorch "bicubic").
    case bicubic
}

/// For each output index along one axis: `taps` (input index, weight) pairs.
struct ResizeTaps {
    let taps: Int
    var index: [Int]
    var weight: [Float]

    init(taps: Int, output: Int) {
        self.taps = taps
        index = [Int](repeating: 0, count: taps * output)
        weight = [Float](repeating: 0, count: taps * output)
    }
}

/// PyTorch's `area_pixel_compute_scale` (in Float, as its CPU kernels compute it for Float32).
func resizeScale(input: Int, output: Int, alignCorners: Bool) -> Float {
    alignCorners ? (output > 1 ? Float(input - 1) / Float(output - 1) : 0) : Float(input) / Float(output)
}

/// Keys cubic convolution weights for the four taps around a fractional offset t in [0, 1).
func cubicWeights(_ t: Float, a: Float) -> (Float, Float, Float, Float) {
    func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }          // |x| <= 1
    func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }      // 1 < |x| < 2
    return (far(t + 1), near(t), near(1 - t), far(2 - t))
}

/// The taps of one axis for `mode` (PyTorch's upsample kernels, including the antialiased ones
/// that follow PIL: a filter stretched by the scale when shrinking, weights normalized to sum 1).
func resizeTaps(_ mode: ResizeMode, input: Int, output: Int, alignCorners: Bool, antialias: Bool) -> ResizeTaps {
    let scale = resizeScale(input: input, output: output, alignCorners: alignCorners)
    if antialias && mode != .nearest { return antialiasTaps(mode, input: input, output: output, scale: scale) }
    switch mode {
    case .nearest:
        var t = ResizeTaps(taps: 1, output: output)
        let s = Float(input) / Float(output)
        for o in 0..<output {
            t.index[o] = output == input ? o : output == 2 * input ? o >> 1 : min(Int(floorf(Float(o) * s)), input - 1)
            t.weight[o] = 1
        }
        return t
    case .bilinear:
        var t = ResizeTaps(taps: 2, output: output)
        for o in 0..<output {
            let src = alignCorners ? scale * Float(o) : max(scale * (Float(o) + 0.5) - 0.5, 0)
            let i0 = min(Int(floorf(src)), input - 1)
            let lambda = min(max(src - Float(i0), 0), 1)
            t.index[2 * o] = i0
            t.index[2 * o + 1] = i0 + (i0 < input - 1 ? 1 : 0)
            t.weight[2 * o] = 1 - lambda
            t.weight[2 * o + 1] = lambda
        }
        return t
    case .bicubic:
        var t = ResizeTaps(taps: 4, output: output)
        for o in 0..<output {
            let src = alignCorners ? scale * Float(o) : scale * (Float(o) + 0.5) - 0.5
            let i = min(Int(floorf(src)), input - 1)
            let w = cubicWeights(min(max(src - Float(i), 0), 1), a: -0.75)
            let weights = [w.0, w.1, w.2, w.3]
            for k in 0..<4 {
                t.index[4 * o + k] = min(max(i - 1 + k, 0), input - 1)
                t.weight[4 * o + k] = weights[k]
            }
        }
        return t
    }
}

/// Antialiased taps (PyTorch `antialias=True`, following PIL): the filter is stretched by the scale
/// when shrinking, and the weights of each output are normalized to sum 1.
func antialiasTaps(_ mode: ResizeMode, input: Int, output: Int, scale: Float) -> ResizeTaps {
    // PIL-style: support = (interp/2) · max(scale, 1); weight = filter((j - center + 0.5) / max(scale, 1)).
    let interp: Float = mode == .bilinear ? 2 : 4
    let support = scale >= 1 ? interp / 2 * scale : interp / 2
    let invScale: Float = scale >= 1 ? 1 / scale : 1
    let taps = Int(support.rounded(.up)) * 2 + 1
    var t = ResizeTaps(taps: taps, output: output)
    func filter(_ v: Float) -> Float {
        let x = abs(v)
        if mode == .bilinear { return x < 1 ? 1 - x : 0 }
        let a: Float = -0.5
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }
    for o in 0..<output {
        let center = scale * (Float(o) + 0.5)
        let lo = max(Int(center - support + 0.5), 0)
        let size = min(min(Int(center + support + 0.5), input) - lo, taps)
        var total: Float = 0
        for j in 0..<max(size, 0) {
            let w = filter((Float(j + lo) - center + 0.5) * invScale)
            t.weight[o * taps + j] = w
            total += w
        }
        for j in 0..<taps {
            t.index[o * taps + j] = j < size ? lo + j : min(lo, input - 1)
            if j < size && total != 0 { t.weight[o * taps + j] /= total }
        }
    }
    return t
}

/// PyTorch `F.interpolate(x, size: (OH, OW), mode, align_corners, antialias)` for x [B, C, H, W]:
/// half-pixel centers unless `alignCorners`; bicubic uses A = -0.75 with clamped border indices and
/// does not clamp output values; `antialias` (bilinear, bicubic) widens the filter when shrinking,
/// as PIL does. Returns [B, C, OH, OW]. Gradients flow to x in every mode (scatter-add of the weights).
public func resize(_ x: Tensor, size: (Int, Int), mode: ResizeMode, alignCorners: Bool = false,
                   antialias: Bool = false) throws -> Tensor {
    let op = "resize"
    let (B, C, H, W) = try requirePlanes(x, output: size, op)
    let (OH, OW) = size
    try require(mode != .nearest || (!alignCorners && !antialias), op,
                "alignCorners and antialias apply to bilinear and bicubic only, not nearest")
    let rows = resizeTaps(mode, input: H, output: OH, alignCorners: alignCorners, antialias: antialias)
    let cols = resizeTaps(mode, input: W, output: OW, alignCorners: alignCorners, antialias: antialias)
    let out = Tensor(uninitialized: [B, C, OH, OW])
    let src = x.data, dst = out.data
    let cost = H * OW * cols.taps + OH * OW * rows.taps
    withTapPointers(rows, cols) { ry, wy, rx, wx in
        let (TY, TX) = (rows.taps, cols.taps)
        Parallel.forEachWithScratch(B * C, costPerItem: cost, scratch: H * OW) { plane, tmp in
            let s = src + plane * H * W, d = dst + plane * OH * OW
            // Rows: tmp[h, ow] = Σ_t wx[ow, t] · x[h, ix[ow, t]].
            for h in 0..<H {
                let xs = s + h * W, ts = tmp + h * OW
                for ow in 0..<OW {
                    var v: Float = 0
                    for t in 0..<TX { v += wx[ow * TX + t] * xs[rx[ow * TX + t]] }
                    ts[ow] = v
                }
            }
            // Columns: out[oh, :] = Σ_s wy[oh, s] · tmp[iy[oh, s], :].
            for oh in 0..<OH {
                let ds = d + oh * OW
                ds.update(repeating: 0, count: OW)
                for t in 0..<TY {
                    let w = wy[oh * TY + t], ts = tmp + ry[oh * TY + t] * OW
                    if w == 0 { continue }
                    for ow in 0..<OW { ds[ow] += w * ts[ow] }
                }
            }
        }
    }
    return out.recorded(op, [x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        let gp = g.data, dp = dx.data
        withTapPointers(rows, cols) { ry, wy, rx, wx in
            let (TY, TX) = (rows.taps, cols.taps)
            Parallel.forEachWithScratch(B * C, costPerItem: cost, scratch: H * OW) { plane, tmp in
                let gs = gp + plane * OH * OW, d = dp + plane * H * W
                // Columns: tmp[iy[oh, s], :] += wy[oh, s] · g[oh, :].
                tmp.update(repeating: 0, count: H * OW)
                for oh in 0..<OH {
                    let grow = gs + oh * OW
                    for t in 0..<TY {
                        let w = wy[oh * TY + t], ts = tmp + ry[oh * TY + t] * OW
                        if w == 0 { continue }
                        for ow in 0..<OW { ts[ow] += w * grow[ow] }
                    }
                }
                // Rows: dx[h, ix[ow, t]] += wx[ow, t] · tmp[h, ow].
                d.update(repeating: 0, count: H * W)
                for h in 0..<H {
                    let xs = d + h * W, ts = tmp + h * OW
                    for ow in 0..<OW {
                        let v = ts[ow]
                        for t in 0..<TX { xs[rx[ow * TX + t]] += wx[ow * TX + t] * v }
                    }
                }
            }
        }
        return [dx]
    }
}

/// Runs `body` with raw pointers to the row and column tap tables.
private func withTapPointers(_ rows: ResizeTaps, _ cols: ResizeTaps,
                             _ body: (UnsafePointer<Int>, UnsafePointer<Float>, UnsafePointer<Int>, UnsafePointer<Float>) -> Void) {
    rows.index.withUnsafeBufferPointer { ry in rows.weight.withUnsafeBufferPointer { wy in
        cols.index.withUnsafeBufferPointer { rx in cols.weight.withUnsafeBufferPointer { wx in
            body(ry.baseAddress!, wy.baseAddress!, rx.baseAddress!, wx.baseAddress!)
        } }
    } }
}
