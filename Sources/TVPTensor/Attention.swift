import Foundation

// Scaled dot-product attention with grouped-query heads and masks; forward and backward side by side.
// Shapes: q [B, H, Nq, Dh], k [B, Hkv, Nk, Dh], v [B, Hkv, Nk, Dv], out [B, H, Nq, Dv],
// probabilities P [B, H, Nq, Nk]. H is a multiple of Hkv; the G = H / Hkv query heads h that share
// kv head h / G sit next to each other in memory, so each (b, kv head) pair is ONE GEMM with
// G·Nq rows: no expanded copy of K or V, and dK, dV sum over the group inside the GEMM.
//
// forward:  S = scale · Q Kᵀ (+ additive mask, − ∞ where masked) ; P = softmax(S) ; O = P V
// backward: dV = Pᵀ dO ; dP = dO Vᵀ ; dS = P ⊙ (dP − rowsum(dP ⊙ P)) ; dQ = scale · dS K ; dK = scale · dSᵀ Q
//
// A row whose keys are all masked has P = 0 and output 0 (PyTorch returns NaN there); its
// gradients are 0 too. Padding queries therefore stay finite and can simply be ignored by the loss.

/// Which keys a causal mask lets query `i` see when there are `Nq` queries and `Nk` keys.
public enum CausalAlignment: Sendable {
    /// Query i sees keys 0...i: PyTorch's `is_causal=True` (`tril` of an [Nq, Nk] ones matrix),
    /// the same as the usual mask when Nq == Nk.
    case topLeft
    /// Query i sees keys 0...(i + Nk − Nq): the queries are the LAST Nq positions of the key
    /// sequence, as in decoding with a KV cache (Nk = cached + new tokens). Queries with no visible
    /// key (possible when Nk < Nq) get output 0.
    case bottomRight
}

/// Padding and bias masks for `scaledDotProductAttention`. Both parts are optional and combine.
public struct AttentionMask: Sendable {
    /// Key padding: `validKeys[b * Nk + j]` says whether batch item b may attend key j ([B, Nk],
    /// row-major; true = attend). nil means every key is valid.
    public var validKeys: [Bool]?
    /// Added to the scaled scores before softmax; any shape that broadcasts to [B, H, Nq, Nk]
    /// (NumPy rules, aligned at the right). Use -infinity to mask out. Gradients flow into it when it
    /// requires grad (e.g. a learned relative position bias).
    public var additive: Tensor?

    public init(validKeys: [Bool]? = nil, additive: Tensor? = nil) {
        self.validKeys = validKeys
        self.additive = additive
    }

    /// Key padding from lengths: batch item b attends keys 0..<lengths[b] of `keys`.
    public static func keyLengths(_ lengths: [Int], keys: Int) -> AttentionMask {
        var valid = [Bool](repeating: false, count: lengths.count * keys)
        for (b, n) in lengths.enumerated() { for j in 0..<min(max(n, 0), keys) { valid[b * keys + j] = true } }
        return AttentionMask(validKeys: valid)
    }
}

/// Multi-head scaled dot-product attention, `softmax(scale · Q Kᵀ + mask) V`, like PyTorch's
/// `F.scaled_dot_product_attention` with `enable_gqa=True`.
///
/// - q: [B, H, Nq, Dh]; k: [B, Hkv, Nk, Dh]; v: [B, Hkv, Nk, Dv]; H must be a multiple of Hkv and
///   query head h uses kv head h / (H / Hkv). Nq and Nk may differ (cross-attention, KV cache).
/// - mask: key padding and/or an additive bias (see `AttentionMask`).
/// - causal: hide future keys; `causalAlignment` says what "future" means when Nq != Nk.
/// - scale: defaults to 1 / sqrt(Dh).
/// - Returns [B, H, Nq, Dv]. Rows with every key masked give 0 (not NaN) and pass no gradient.
///
/// Memory: the output and one [B, H, Nq, Nk] probability buffer (kept for backward); backward adds
/// one more [B, H, Nq, Nk] buffer and the input gradients, computed only for inputs that require grad.
public func scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask? = nil,
                                      causal: Bool = false, causalAlignment: CausalAlignment = .topLeft,
                                      scale: Float? = nil) throws -> Tensor {
    let op = "scaledDotProductAttention"
    let shapes = "q \(describe(q.shape)), k \(describe(k.shape)), v \(describe(v.shape))"
    try require(q.rank == 4 && k.rank == 4 && v.rank == 4, op, "needs q [B, H, Nq, Dh], k [B, Hkv, Nk, Dh], v [B, Hkv, Nk, Dv]; got \(shapes)")
    let (batch, heads, nq, dh) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (kvHeads, nk, dv) = (k.shape[1], k.shape[2], v.shape[3])
    try require(k.shape[0] == batch && v.shape[0] == batch, op, "batch sizes differ: \(shapes)")
    try require(k.shape[3] == dh, op, "q and k head widths differ (\(dh) vs \(k.shape[3])): \(shapes)")
    try require(v.shape[1] == kvHeads && v.shape[2] == nk, op, "k and v must agree on [B, Hkv, Nk]: \(shapes)")
    try require(kvHeads > 0 && heads % kvHeads == 0, op, "query heads \(heads) are not a multiple of kv heads \(kvHeads): \(shapes)")
    try require(dh > 0, op, "head width Dh must be positive: \(shapes)")
    let scale = scale ?? 1 / Float(dh).squareRoot()
    try require(scale.isFinite, op, "scale \(scale) is not finite")
    if let valid = mask?.validKeys {
        try require(valid.count == batch * nk, op, "key padding mask has \(valid.count) flags, expected B·Nk = \(batch)·\(nk) for \(shapes)")
    }
    // Strides of the additive mask over [B, H, Nq, Nk] (0 along broadcast axes).
    var additiveStrides = [0, 0, 0, 0]
    if let additive = mask?.additive {
        let full = [batch, heads, nq, nk]
        let padded = Array(repeating: 1, count: max(0, 4 - additive.rank)) + additive.shape
        try require(additive.rank <= 4 && zip(padded, full).allSatisfy { $0 == $1 || $0 == 1 }, op,
                    "additive mask \(describe(additive.shape)) does not broadcast to [B, H, Nq, Nk] = \(describe(full))")
        additiveStrides = Broadcast.strides(padded, full)
    }

    let group = heads / kvHeads
    let pairs = batch * kvHeads                  // one GEMM per (b, kv head), covering its G query heads
    let groupRows = group * nq                   // rows of that GEMM
    let probs = Tensor(uninitialized: [batch, heads, nq, nk])
    let out = Tensor(uninitialized: [batch, heads, nq, dv])

    // S = scale · Q Kᵀ, straight into the probability buffer.
    batchedSGEMM(false, true, count: pairs, m: groupRows, n: nk, k: dh, alpha: scale,
                 q.data, strideA: groupRows * dh, k.data, strideB: nk * dh,
                 probs.data, strideC: groupRows * nk)
    maskedSoftmaxRows(probs.data, batch: batch, heads: heads, nq: nq, nk: nk,
                      validKeys: mask?.validKeys, additive: mask?.additive?.data, additiveStrides: additiveStrides,
                      causalShift: causal ? (causalAlignment == .topLeft ? 0 : nk - nq) : nil)
    // O = P V
    batchedSGEMM(false, false, count: pairs, m: groupRows, n: dv, k: nk,
                 probs.data, strideA: groupRows * nk, v.data, strideB: nk * dv,
                 out.data, strideC: groupRows * dv)

    let additive = mask?.additive
    var inputs = [q, k, v]
    if let additive { inputs.append(additive) }
    return out.recorded(op, inputs) { g in
        let qd = q.detached(), kd = k.detached(), vd = v.detached()
        var gradV: Tensor? = nil
        if v.requiresGrad {
            // dV = Pᵀ dO, summed over the G query heads of each kv head by the GEMM's inner loop.
            let dV = Tensor(uninitialized: vd.shape)
            batchedSGEMM(true, false, count: pairs, m: nk, n: dv, k: groupRows,
                         probs.data, strideA: groupRows * nk, g.data, strideB: groupRows * dv,
                         dV.data, strideC: nk * dv)
            gradV = dV
        }
        var gradQ: Tensor? = nil, gradK: Tensor? = nil, gradMask: Tensor? = nil
        let maskNeedsGrad = additive?.requiresGrad ?? false
        if q.requiresGrad || k.requiresGrad || maskNeedsGrad {
            // dP = dO Vᵀ, then the softmax backward in place: dS = P ⊙ (dP − Σ_j dP_j P_j).
            let dS = Tensor(uninitialized: probs.shape)
            batchedSGEMM(false, true, count: pairs, m: groupRows, n: nk, k: dv,
                         g.data, strideA: groupRows * dv, vd.data, strideB: nk * dv,
                         dS.data, strideC: groupRows * nk)
            softmaxBackwardRows(probs: probs.data, grad: dS.data, rows: batch * heads * nq, width: nk)
            if q.requiresGrad {
                let dQ = Tensor(uninitialized: qd.shape)
                batchedSGEMM(false, false, count: pairs, m: groupRows, n: dh, k: nk, alpha: scale,
                             dS.data, strideA: groupRows * nk, kd.data, strideB: nk * dh,
                             dQ.data, strideC: groupRows * dh)
                gradQ = dQ
            }
            if k.requiresGrad {
                let dK = Tensor(uninitialized: kd.shape)
                batchedSGEMM(true, false, count: pairs, m: nk, n: dh, k: groupRows, alpha: scale,
                             dS.data, strideA: groupRows * nk, qd.data, strideB: groupRows * dh,
                             dK.data, strideC: nk * dh)
                gradK = dK
            }
            if let additive, maskNeedsGrad { gradMask = try dS.sum(to: additive.shape) }
        }
        var grads: [Tensor?] = [gradQ, gradK, gradV]
        if additive != nil { grads.append(gradMask) }
        return grads
    }
}

/// In place over rows of `scores` [B, H, Nq, Nk]: add the additive mask, hide padded and (when
/// `causalShift` is set) future keys, then a max-subtracted softmax. Query i sees keys
/// j < i + 1 + causalShift. A row with nothing visible becomes all zeros.
private func maskedSoftmaxRows(_ scores: UnsafeMutablePointer<Float>, batch: Int, heads: Int, nq: Int, nk: Int,
                               validKeys: [Bool]?, additive: UnsafePointer<Float>?, additiveStrides: [Int],
                               causalShift: Int?) {
    let rows = batch * heads * nq
    let (sb, sh, sq, sk) = (additiveStrides[0], additiveStrides[1], additiveStrides[2], additiveStrides[3])
    func run(_ valid: UnsafePointer<Bool>?) {
        Parallel.forRanges(rows, costPerItem: nk * 16) { range in
            for r in range {
                let b = r / (heads * nq), h = (r / nq) % heads, i = r % nq
                let s = scores + r * nk
                let limit = causalShift.map { min(nk, max(0, i + 1 + $0)) } ?? nk
                if let additive {
                    let a = additive + (b * sb + h * sh + i * sq)
                    for j in 0..<limit { s[j] += a[j * sk] }
                }
                if let valid {
                    let flags = valid + b * nk
                    for j in 0..<limit where !flags[j] { s[j] = -.infinity }
                }
                var maxScore = -Float.infinity
                for j in 0..<limit where s[j] > maxScore { maxScore = s[j] }
                if maxScore == -.infinity {
                    s.update(repeating: 0, count: nk)
                    continue
                }
                var total: Float = 0
                for j in 0..<limit {
                    let e = Foundation.exp(s[j] - maxScore)
                    s[j] = e
                    total += e
                }
                let inverse = 1 / total
                for j in 0..<limit { s[j] *= inverse }
                if limit < nk { (s + limit).update(repeating: 0, count: nk - limit) }
            }
        }
    }
    if let validKeys { validKeys.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
}

/// In place over `rows` rows of `width`: grad ← probs ⊙ (grad − Σ_j grad_j probs_j) (softmax backward).
private func softmaxBackwardRows(probs: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    Parallel.forRanges(rows, costPerItem: width * 4) { range in
        for r in range {
            let p = probs + r * width, d = grad + r * width
            var dot: Float = 0
            for j in 0..<width { dot += p[j] * d[j] }
            for j in 0..<width { d[j] = p[j] * (d[j] - dot) }
        }
    }
}

/// [B, N, H·Dh] → [B, H, N, Dh]: splits the last axis into `heads` heads and moves heads before tokens.
public func splitHeads(_ x: Tensor, heads: Int) throws -> Tensor {
    try require(x.rank == 3, "splitHeads", "needs [B, N, H·Dh], got \(describe(x.shape))")
    try require(heads > 0 && x.shape[2] % heads == 0, "splitHeads",
                "width \(x.shape[2]) of \(describe(x.shape)) does not split into \(heads) heads")
    return try x.reshaped([x.shape[0], x.shape[1], heads, x.shape[2] / heads]).permuted([0, 2, 1, 3])
}

/// [B, H, N, Dh] → [B, N, H·Dh]: the inverse of `splitHeads`.
public func mergeHeads(_ x: Tensor) throws -> Tensor {
    try require(x.rank == 4, "mergeHeads", "needs [B, H, N, Dh], got \(describe(x.shape))")
    return try x.permuted([0, 2, 1, 3]).reshaped([x.shape[0], x.shape[2], x.shape[1] * x.shape[3]])
}
