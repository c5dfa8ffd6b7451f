// Batch normalization with frozen running statistics (inference form), and folding it into the
// convolution before it; forward and backward side by side.
// Shapes: x [B, C, ...] (channels on axis 1, e.g. NCHW), weight/bias/mean/var [C].
//   scale[c] = weight[c] / sqrt(var[c] + eps),  shift[c] = bias[c] - mean[c] * scale[c]
//   out[b, c, i] = x[b, c, i] * scale[c] + shift[c]

/// Checks that a per-channel vector is [C].
private func requireChannelVector(_ t: Tensor?, _ name: String, _ channels: Int, _ op: String, _ x: [Int]) throws {
    guard let t else { return }
    try require(t.shape == [channels], op, "\(name) \(describe(t.shape)) must be [\(channels)] for input \(describe(x))")
}

/// Per-channel scale and shift of a frozen batch norm, in Float64 before rounding.
private func batchNormAffine(channels: Int, weight: Tensor?, bias: Tensor?, mean: Tensor, variance: Tensor,
                             eps: Float) -> (scale: [Float], shift: [Float], invStd: [Float]) {
    var scale = [Float](repeating: 0, count: channels), shift = scale, invStd = scale
    for c in 0..<channels {
        let inv = 1 / (Double(variance.data[c]) + Double(eps)).squareRoot()
        let s = Double(weight?.data[c] ?? 1) * inv
        invStd[c] = Float(inv)
        scale[c] = Float(s)
        shift[c] = Float(Double(bias?.data[c] ?? 0) - Double(mean.data[c]) * s)
    }
    return (scale, shift, invStd)
}

/// PyTorch `F.batch_norm(x, runningMean, runningVar, weight, bias, training: false, eps)`: a
/// per-channel affine map over x [B, C, ...]. `weight`/`bias` may be nil (affine = false).
/// Gradients flow to x, weight and bias where required; the running statistics are constants.
public func batchNormInference(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                               eps: Float = 1e-5) throws -> Tensor {
    let op = "batchNormInference"
    try require(x.rank >= 2, op, "input must be [B, C, ...], got \(describe(x.shape))")
    let B = x.shape[0], C = x.shape[1], inner = x.shape[2...].reduce(1, *)
    try requireChannelVector(weight, "weight", C, op, x.shape)
    try requireChannelVector(bias, "bias", C, op, x.shape)
    try requireChannelVector(runningMean, "runningMean", C, op, x.shape)
    try requireChannelVector(runningVar, "runningVar", C, op, x.shape)
    try require(eps >= 0, op, "eps \(eps) must not be negative")
    let (scale, shift, invStd) = batchNormAffine(channels: C, weight: weight, bias: bias, mean: runningMean,
                                                 variance: runningVar, eps: eps)
    let out = Tensor(uninitialized: x.shape)
    let src = x.data, dst = out.data
    scale.withUnsafeBufferPointer { sc in shift.withUnsafeBufferPointer { sh in
        Parallel.forRanges(B * C, costPerItem: inner) { r in
            for bc in r {
                let s = sc[bc % C], t = sh[bc % C]
                let xs = src + bc * inner, d = dst + bc * inner
                for i in 0..<inner { d[i] = xs[i] * s + t }
            }
        }
    } }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return out.recorded(op, inputs) { g in
        var grads: [Tensor?] = []
        let gp = g.data
        if x.requiresGrad {
            let dx = Tensor(uninitialized: x.shape)
            let d = dx.data
            scale.withUnsafeBufferPointer { sc in
                Parallel.forRanges(B * C, costPerItem: inner) { r in
                    for bc in r {
                        let s = sc[bc % C], gs = gp + bc * inner, ds = d + bc * inner
                        for i in 0..<inner { ds[i] = gs[i] * s }
                    }
                }
            }
            grads.append(dx)
        } else { grads.append(nil) }
        // dweight[c] = Σ g · (x - mean) / sqrt(var + eps);  dbias[c] = Σ g.
        let needWeight = weight?.requiresGrad ?? false, needBias = bias?.requiresGrad ?? false
        if needWeight || needBias {
            let xd = x.detached(), mean = runningMean.detached()
            var sumG = [Double](repeating: 0, count: C), sumGX = sumG
            for b in 0..<B { for c in 0..<C {
                let gs = gp + (b * C + c) * inner, xs = xd.data + (b * C + c) * inner
                let m = mean.data[c]
                var sg: Float = 0, sgx: Float = 0
                for i in 0..<inner { sg += gs[i]; sgx += gs[i] * (xs[i] - m) }
                sumG[c] += Double(sg)
                sumGX[c] += Double(sgx)
            } }
            if weight != nil {
                grads.append(needWeight ? try Tensor((0..<C).map { Float(sumGX[$0]) * invStd[$0] }, shape: [C]) : nil)
            }
            if bias != nil {
                grads.append(needBias ? try Tensor(sumG.map { Float($0) }, shape: [C]) : nil)
            }
        } else {
            if weight != nil { grads.append(nil) }
            if bias != nil { grads.append(nil) }
        }
        return grads
    }
}

/// Folds a frozen batch norm into the convolution (or linear layer) before it:
/// conv(x, W', b') == batchNorm(conv(x, W, b)) with W'[o, ...] = W[o, ...] · s[o] and
/// b'[o] = (b[o] - mean[o]) · s[o] + bnBias[o], where s = bnWeight / sqrt(variance + eps).
/// `convWeight` is [O, ...]; a nil `convBias` counts as zero, nil `bnWeight`/`bnBias` as 1/0.
/// Returns new leaf tensors (no gradient is recorded: folding is a load-time transform).
public func foldBatchNorm(convWeight: Tensor, convBias: Tensor?, bnWeight: Tensor?, bnBias: Tensor?,
                          mean: Tensor, variance: Tensor, eps: Float = 1e-5) throws -> (weight: Tensor, bias: Tensor) {
    let op = "foldBatchNorm"
    try require(convWeight.rank >= 1, op, "convolution weight must be [O, ...], got \(describe(convWeight.shape))")
    let O = convWeight.shape[0], perChannel = convWeight.count / max(O, 1)
    try requireChannelVector(convBias, "convBias", O, op, convWeight.shape)
    try requireChannelVector(bnWeight, "bnWeight", O, op, convWeight.shape)
    try requireChannelVector(bnBias, "bnBias", O, op, convWeight.shape)
    try requireChannelVector(mean, "mean", O, op, convWeight.shape)
    try requireChannelVector(variance, "variance", O, op, convWeight.shape)
    let (scale, shift, _) = batchNormAffine(channels: O, weight: bnWeight, bias: bnBias, mean: mean, variance: variance, eps: eps)
    let weight = Tensor(uninitialized: convWeight.shape), bias = Tensor(uninitialized: [O])
    for o in 0..<O {
        let s = convWeight.data + o * perChannel, d = weight.data + o * perChannel
        for i in 0..<perChannel { d[i] = s[i] * scale[o] }
        // (b - mean) · s + bnBias = b · s + shift
        bias.data[o] = (convBias?.data[o] ?? 0) * scale[o] + shift[o]
    }
    return (weight, bias)
}
