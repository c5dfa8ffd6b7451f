import Foundation

// Normalization over the last axis; forward and backward side by side (llm.c layernorm_forward/backward).
// Shapes: x [..., D] is read as R = count / D rows of D values; weight, bias [D].
// Saved for backward: mean [R] and rstd [R] (one over the standard deviation), not the normalized x.

/// Checks x [..., D] and optional [D] affine parameters; returns (D, R).
private func checkRowsAndAffine(_ op: String, _ x: Tensor, _ params: [(String, Tensor?)]) throws -> (Int, Int) {
    try require(x.rank >= 1 && x.dim(-1) > 0, op, "input \(describe(x.shape)) needs a non-empty last axis to normalize over")
    let width = x.dim(-1)
    for (name, p) in params {
        guard let p else { continue }
        try require(p.shape == [width], op, "\(name) \(describe(p.shape)) does not match input \(describe(x.shape)); expected [\(width)]")
    }
    return (width, x.count / width)
}

/// Sums over rows for the affine gradients: dweight[j] = Σ_r g[r, j] · n[r, j] and dbias[j] = Σ_r g[r, j],
/// where n = (x − shift[r]) · rstd[r] is recomputed. Parallel over columns, so no two workers write
/// the same value; each worker streams its column block of every row.
private func affineGradients(_ g: Tensor, _ x: Tensor, shift: UnsafePointer<Float>?, rstd: UnsafePointer<Float>,
                             width D: Int, rows R: Int, weight: Bool, bias: Bool) -> (Tensor?, Tensor?) {
    let dw = weight ? Tensor(zeros: [D]) : nil, db = bias ? Tensor(zeros: [D]) : nil
    let pg = g.data, px = x.data, pdw = dw?.data, pdb = db?.data
    Parallel.forRanges(D, costPerItem: 4 * R) { cols in
        for r in 0..<R {
            let gr = pg + r * D, xr = px + r * D
            let m = shift?[r] ?? 0, rs = rstd[r]
            if let pdw { for j in cols { pdw[j] += gr[j] * (xr[j] - m) * rs } }
            if let pdb { for j in cols { pdb[j] += gr[j] } }
        }
    }
    return (dw, db)
}

/// PyTorch `F.layer_norm(x, [D], weight, bias, eps)` over the last axis:
/// y = (x − mean) / sqrt(var + eps) · weight + bias, with the biased variance (divided by D).
/// `weight` and `bias` ([D]) are optional. Gradients flow to x, weight and bias where they require them.
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) throws -> Tensor {
    let op = "layerNorm"
    let (D, R) = try checkRowsAndAffine(op, x, [("weight", weight), ("bias", bias)])
    let out = Tensor(uninitialized: x.shape)
    let mean = Tensor(uninitialized: [R]), rstd = Tensor(uninitialized: [R])
    let px = x.data, py = out.data, pm = mean.data, ps = rstd.data
    let pw = weight?.data, pb = bias?.data
    // x [R, D] -> y [R, D], mean [R], rstd [R]
    Parallel.forRanges(R, costPerItem: 5 * D) { rows in
        for r in rows {
            let xr = px + r * D, yr = py + r * D
            var sum: Float = 0
            for j in 0..<D { sum += xr[j] }
            let m = sum / Float(D)
            var squares: Float = 0
            for j in 0..<D { let d = xr[j] - m; squares += d * d }
            let rs = 1 / (squares / Float(D) + eps).squareRoot()
            pm[r] = m
            ps[r] = rs
            for j in 0..<D { yr[j] = (xr[j] - m) * rs }
            if let pw { for j in 0..<D { yr[j] *= pw[j] } }
            if let pb { for j in 0..<D { yr[j] += pb[j] } }
        }
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    return out.recorded(op, inputs) { g in
        var dx: Tensor? = nil
        if x.requiresGrad {
            // dnorm = g · weight;  dx = rstd · (dnorm − mean(dnorm) − norm · mean(dnorm · norm))
            let dxT = Tensor(uninitialized: x.shape)
            let scale = weight ?? Tensor(repeating: 1, shape: [D])
            let pg = g.data, pd = dxT.data, px = x.data, pm = mean.data, ps = rstd.data, pw = scale.data
            Parallel.forRanges(R, costPerItem: 8 * D) { rows in
                for r in rows {
                    let xr = px + r * D, gr = pg + r * D, dr = pd + r * D
                    let m = pm[r], rs = ps[r]
                    var sumDnorm: Float = 0, sumDnormNorm: Float = 0
                    for j in 0..<D {
                        let dnorm = gr[j] * pw[j]
                        sumDnorm += dnorm
                        sumDnormNorm += dnorm * (xr[j] - m) * rs
                    }
                    let meanDnorm = sumDnorm / Float(D), meanDnormNorm = sumDnormNorm / Float(D)
                    for j in 0..<D {
                        let dnorm = gr[j] * pw[j]
                        dr[j] = rs * (dnorm - meanDnorm - (xr[j] - m) * rs * meanDnormNorm)
                    }
                }
            }
            dx = dxT
        }
        let (dw, db) = affineGradients(g, x, shift: mean.data, rstd: rstd.data, width: D, rows: R,
                                       weight: weight?.requiresGrad ?? false, bias: bias?.requiresGrad ?? false)
        var grads: [Tensor?] = [dx]
        if weight != nil { grads.append(dw) }
        if bias != nil { grads.append(db) }
        return grads
    }
}

/// LLaMA `RMSNorm` over the last axis: y = x · rsqrt(mean(x²) + eps) · weight (no mean subtraction,
/// no bias). `weight` ([D]) is optional. `eps` has no default on purpose: pass the model config's
/// `rms_norm_eps` (1e-5 for SmolLM2 and Llama 2, 1e-6 for the first LLaMA).
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) throws -> Tensor {
    let op = "rmsNorm"
    let (D, R) = try checkRowsAndAffine(op, x, [("weight", weight)])
    let out = Tensor(uninitialized: x.shape)
    let rstd = Tensor(uninitialized: [R])
    let px = x.data, py = out.data, ps = rstd.data, pw = weight?.data
    // x [R, D] -> y [R, D], rstd [R]
    Parallel.forRanges(R, costPerItem: 4 * D) { rows in
        for r in rows {
            let xr = px + r * D, yr = py + r * D
            var squares: Float = 0
            for j in 0..<D { squares += xr[j] * xr[j] }
            let rs = 1 / (squares / Float(D) + eps).squareRoot()
            ps[r] = rs
            if let pw { for j in 0..<D { yr[j] = xr[j] * rs * pw[j] } } else { for j in 0..<D { yr[j] = xr[j] * rs } }
        }
    }
    let inputs = [x] + [weight].compactMap { $0 }
    return out.recorded(op, inputs) { g in
        var dx: Tensor? = nil
        if x.requiresGrad {
            // dnorm = g · weight;  dx = rstd · (dnorm − norm · mean(dnorm · norm)),  norm = x · rstd
            let dxT = Tensor(uninitialized: x.shape)
            let scale = weight ?? Tensor(repeating: 1, shape: [D])
            let pg = g.data, pd = dxT.data, px = x.data, ps = rstd.data, pw = scale.data
            Parallel.forRanges(R, costPerItem: 6 * D) { rows in
                for r in rows {
                    let xr = px + r * D, gr = pg + r * D, dr = pd + r * D
                    let rs = ps[r]
                    var sumDnormNorm: Float = 0
                    for j in 0..<D { sumDnormNorm += gr[j] * pw[j] * xr[j] * rs }
                    let meanDnormNorm = sumDnormNorm / Float(D)
                    for j in 0..<D {
                        let dnorm = gr[j] * pw[j]
                        dr[j] = rs * (dnorm - xr[j] * rs * meanDnormNorm)
                    }
                }
            }
            dx = dxT
        }
        var grads: [Tensor?] = [dx]
        if let weight {
            grads.append(affineGradients(g, x, shift: nil, rstd: rstd.data, width: D, rows: R,
                                         weight: weight.requiresGrad, bias: false).0)
        }
        return grads
    }
}
