import Foundation

// Losses; forward and backward side by side.
// Shapes: logits [..., V] read as R = count / V rows (R tokens or samples over a vocabulary or
// class set of V); targets [R]. Saved for backward: logsumexp [R] only, so the backward streams
// the logits once more instead of keeping a softmax copy of [R, V] alive.

/// How a loss over many rows is reduced, as PyTorch's `reduction=`.
public enum LossReduction: Sendable {
    /// The average over the counted rows (for cross-entropy: rows whose target is not ignored).
    case mean
    /// The sum over rows.
    case sum
    /// One loss per row, in the rows' shape.
    case none
}

/// PyTorch `F.cross_entropy(logits, targets, ignore_index=, reduction=)` for class-index targets.
///
/// `logits` is [..., V]; `targets` holds one class index per row (count / V of them). Rows whose
/// target equals `ignoreIndex` add nothing and get a zero gradient. `.mean` divides by the number of
/// counted rows; when every row is ignored it returns NaN (as PyTorch does) while `.sum` returns 0
/// and the gradient is zero either way. `.none` returns [...] with 0 at ignored rows.
/// Throws if a target is neither `ignoreIndex` nor in 0..<V, naming the row and value.
public func crossEntropy(_ logits: Tensor, targets: [Int], ignoreIndex: Int = -100,
                         reduction: LossReduction = .mean) throws -> Tensor {
    let op = "crossEntropy"
    try require(logits.rank >= 2 && logits.dim(-1) > 0, op,
                "logits \(describe(logits.shape)) must be [rows, classes] (or [..., classes]) with at least one class")
    let V = logits.dim(-1), R = logits.count / V
    try require(targets.count == R, op, "\(targets.count) targets for logits \(describe(logits.shape)), which hold \(R) rows")
    var counted = 0
    for (row, t) in targets.enumerated() where t != ignoreIndex {
        try require(t >= 0 && t < V, op, "target \(t) at row \(row) is outside 0..<\(V) for logits \(describe(logits.shape)) (ignoreIndex is \(ignoreIndex))")
        counted += 1
    }
    // logits [R, V] -> logsumexp [R], rowLoss [R] = logsumexp − logits[target]
    let logSumExp = Tensor(uninitialized: [R]), rowLoss = Tensor(uninitialized: [R])
    let px = logits.data, pl = logSumExp.data, pr = rowLoss.data
    targets.withUnsafeBufferPointer { target in
        Parallel.forRanges(R, costPerItem: 12 * V) { rows in
            for r in rows {
                let xr = px + r * V
                var top = -Float.infinity
                for j in 0..<V { top = Swift.max(top, xr[j]) }
                var sum: Float = 0
                for j in 0..<V { sum += expf(xr[j] - top) }
                let lse = top + logf(sum)
                pl[r] = lse
                pr[r] = target[r] == ignoreIndex ? 0 : lse - xr[target[r]]
            }
        }
    }
    let out: Tensor
    switch reduction {
    case .none:
        out = try rowLoss.reshaped(Array(logits.shape.dropLast()))
    case .sum, .mean:
        var total = 0.0
        for r in 0..<R { total += Double(pr[r]) }
        out = Tensor(scalar: reduction == .sum ? Float(total) : Float(total / Double(counted)))
    }
    return out.recorded(op, [logits]) { g in
        // dlogits[r] = scale[r] · (softmax(logits[r]) − onehot(target[r])), zero for ignored rows.
        let dx = Tensor(uninitialized: logits.shape)
        let px = logits.data, pl = logSumExp.data, pg = g.data, pd = dx.data
        let uniformScale: Float? = switch reduction {
        case .mean: counted > 0 ? pg[0] / Float(counted) : 0
        case .sum: pg[0]
        case .none: nil
        }
        targets.withUnsafeBufferPointer { target in
            Parallel.forRanges(R, costPerItem: 10 * V) { rows in
                for r in rows {
                    let xr = px + r * V, dr = pd + r * V
                    if target[r] == ignoreIndex { dr.update(repeating: 0, count: V); continue }
                    let scale = uniformScale ?? pg[r], lse = pl[r]
                    for j in 0..<V { dr[j] = scale * expf(xr[j] - lse) }
                    dr[target[r]] -= scale
                }
            }
        }
        return [dx]
    }
}

/// `crossEntropy` with Int32 targets (token ids as tokenizers and safetensors store them).
public func crossEntropy(_ logits: Tensor, targets: [Int32], ignoreIndex: Int = -100,
                         reduction: LossReduction = .mean) throws -> Tensor {
    try crossEntropy(logits, targets: targets.map { Int($0) }, ignoreIndex: ignoreIndex, reduction: reduction)
}

/// PyTorch `F.mse_loss(input, target, reduction=)`: (input − target)², reduced. Both must have the
/// same shape (no broadcasting, which PyTorch only warns about). Gradients flow to both.
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: LossReduction = .mean) throws -> Tensor {
    let op = "mseLoss"
    try require(input.shape == target.shape, op, "input \(describe(input.shape)) and target \(describe(target.shape)) must have the same shape")
    let n = input.count
    let pa = input.data, pb = target.data
    let out: Tensor
    if reduction == .none {
        out = Tensor(uninitialized: input.shape)
        let po = out.data
        Parallel.forRanges(n, costPerItem: 2) { r in for i in r { let d = pa[i] - pb[i]; po[i] = d * d } }
    } else {
        var total = 0.0
        for i in 0..<n { let d = Double(pa[i]) - Double(pb[i]); total += d * d }
        out = Tensor(scalar: Float(reduction == .sum ? total : total / Double(n)))
    }
    return out.recorded(op, [input, target]) { g in
        // d/dinput = 2 (input − target) · scale;  d/dtarget = −d/dinput
        let grad = Tensor(uninitialized: input.shape)
        let pa = input.data, pb = target.data, pg = g.data, pd = grad.data
        if reduction == .none {
            Parallel.forRanges(n, costPerItem: 3) { r in for i in r { pd[i] = 2 * (pa[i] - pb[i]) * pg[i] } }
        } else {
            let scale = 2 * pg[0] / Float(reduction == .sum ? 1 : Swift.max(n, 1))
            Parallel.forRanges(n, costPerItem: 2) { r in for i in r { pd[i] = scale * (pa[i] - pb[i]) } }
        }
        return [input.requiresGrad ? grad : nil, target.requiresGrad ? -grad : nil]
    }
}
