import Foundation

// Vector norms and similarities along one axis; forward and backward side by side.
// Shapes: x [..., n, ...] with the reduced axis of size n (usually the feature width D, axis -1),
// read as R rows of n values (see `AxisRows`). Outputs drop the axis unless kept.
// FCA's feature distance is mean(l2Norm(a − b)); TSE's is cosineSimilarity against text embeddings.

/// sqrt(Σ x[j·stride]²) over `count` values, summed in index order.
@inline(__always)
func euclideanNorm(_ x: UnsafePointer<Float>, count n: Int, stride s: Int) -> Float {
    var squares: Float = 0
    for j in 0..<n { squares += x[j * s] * x[j * s] }
    return squares.squareRoot()
}

/// The Euclidean norm sqrt(Σ x²) along `axis`, as `torch.linalg.vector_norm(x, 2, dim=axis, keepdim=)`.
/// At a zero vector the gradient is 0 (PyTorch's choice of subgradient).
public func l2Norm(_ x: Tensor, axis: Int = -1, keepDims: Bool = false) throws -> Tensor {
    let op = "l2Norm"
    let rows = try AxisRows(op, x.shape, axis: axis)
    let out = Tensor(uninitialized: rows.reduced(x.shape, keepDims: keepDims))
    let px = x.data, po = out.data, n = rows.n
    // x [R, n] -> out [R]
    rows.forRows(costPerValue: 2) { range, s in
        for r in range { po[r] = euclideanNorm(px + rows.start(r), count: n, stride: s) }
    }
    let norms = out.detached()
    return out.recorded(op, [x]) { g in
        // dx = g · x / ‖x‖
        let dx = Tensor(uninitialized: x.shape)
        let px = x.data, pn = norms.data, pg = g.data, pd = dx.data
        rows.forRows(costPerValue: 2) { range, s in
            for r in range {
                let o = rows.start(r), xr = px + o, dr = pd + o
                let scale = pn[r] > 0 ? pg[r] / pn[r] : 0
                for j in 0..<n { dr[j * s] = scale * xr[j * s] }
            }
        }
        return [dx]
    }
}

/// PyTorch `F.normalize(x, p: 2, dim: axis, eps:)`: x / max(‖x‖, eps). Where the norm is below `eps`
/// the divisor is the constant eps, so the gradient there is g / eps.
public func normalize(_ x: Tensor, axis: Int = -1, eps: Float = 1e-12) throws -> Tensor {
    let op = "normalize"
    let rows = try AxisRows(op, x.shape, axis: axis)
    let out = Tensor(uninitialized: x.shape)
    let norms = Tensor(uninitialized: [rows.rows])
    let px = x.data, py = out.data, pn = norms.data, n = rows.n
    // x [R, n] -> y [R, n], norms [R] (unclamped)
    rows.forRows(costPerValue: 3) { range, s in
        for r in range {
            let o = rows.start(r), xr = px + o, yr = py + o
            let norm = euclideanNorm(xr, count: n, stride: s)
            pn[r] = norm
            let inverse = 1 / Swift.max(norm, eps)
            for j in 0..<n { yr[j * s] = xr[j * s] * inverse }
        }
    }
    let y = out.detached()
    return out.recorded(op, [x]) { g in
        // Unclamped: dx = (g − y · (g · y)) / ‖x‖;  clamped: dx = g / eps.
        let dx = Tensor(uninitialized: x.shape)
        let pg = g.data, py = y.data, pn = norms.data, pd = dx.data
        rows.forRows(costPerValue: 4) { range, s in
            for r in range {
                let o = rows.start(r), gr = pg + o, yr = py + o, dr = pd + o
                let norm = pn[r]
                if norm < eps {
                    let inverse = 1 / eps
                    for j in 0..<n { dr[j * s] = gr[j * s] * inverse }
                    continue
                }
                var dot: Float = 0
                for j in 0..<n { dot += gr[j * s] * yr[j * s] }
                let inverse = 1 / norm
                for j in 0..<n { dr[j * s] = (gr[j * s] - yr[j * s] * dot) * inverse }
            }
        }
        return [dx]
    }
}

/// PyTorch `F.cosine_similarity(a, b, dim: axis, eps:)`: Σ a·b / (max(‖a‖, eps) · max(‖b‖, eps)).
///
/// Current PyTorch (checked on 2.15) clamps each norm separately, not their product: two parallel
/// vectors of norm 1e-5 have similarity 1, not 0.01. `a` and `b` broadcast against each other
/// (e.g. features [B, D] against one embedding [D]); the axis refers to the broadcast shape, and
/// the output drops it. Gradients are exact: where a norm is clamped it acts as the constant eps.
/// (PyTorch clamps under no_grad and so still differentiates through the unclamped norm there;
/// the two agree wherever both norms are at least eps.)
public func cosineSimilarity(_ a: Tensor, _ b: Tensor, axis: Int = -1, eps: Float = 1e-8) throws -> Tensor {
    let op = "cosineSimilarity"
    var left = a, right = b
    if a.shape != b.shape {
        let shape = try Broadcast(op, a.shape, b.shape).shape
        // Expand by adding zeros: the add's backward sums the gradient back to the smaller shape.
        if a.shape != shape { left = try a + Tensor(zeros: shape) }
        if b.shape != shape { right = try b + Tensor(zeros: shape) }
    }
    let rows = try AxisRows(op, left.shape, axis: axis)
    let out = Tensor(uninitialized: rows.reduced(left.shape, keepDims: false))
    let normsA = Tensor(uninitialized: [rows.rows]), normsB = Tensor(uninitialized: [rows.rows])
    let pa = left.data, pb = right.data, po = out.data, pna = normsA.data, pnb = normsB.data, n = rows.n
    // a, b [R, n] -> out [R], ‖a‖ [R], ‖b‖ [R] (unclamped)
    rows.forRows(costPerValue: 6) { range, s in
        for r in range {
            let o = rows.start(r), ar = pa + o, br = pb + o
            var dot: Float = 0, squaresA: Float = 0, squaresB: Float = 0
            for j in 0..<n {
                let u = ar[j * s], v = br[j * s]
                dot += u * v
                squaresA += u * u
                squaresB += v * v
            }
            let normA = squaresA.squareRoot(), normB = squaresB.squareRoot()
            pna[r] = normA
            pnb[r] = normB
            po[r] = dot / (Swift.max(normA, eps) * Swift.max(normB, eps))
        }
    }
    let cosine = out.detached()
    let (leftIn, rightIn) = (left, right)
    return out.recorded(op, [left, right]) { g in
        // c = a·b / (na · nb) with na = max(‖a‖, eps):
        // da = g · (b / (na · nb) − [‖a‖ ≥ eps] · c · a / ‖a‖²), and symmetrically for b.
        let da = leftIn.requiresGrad ? Tensor(uninitialized: leftIn.shape) : nil
        let db = rightIn.requiresGrad ? Tensor(uninitialized: rightIn.shape) : nil
        let pa = leftIn.data, pb = rightIn.data, pg = g.data, pc = cosine.data, pna = normsA.data, pnb = normsB.data
        let pda = da?.data, pdb = db?.data
        rows.forRows(costPerValue: 8) { range, s in
            for r in range {
                let o = rows.start(r), ar = pa + o, br = pb + o
                let normA = pna[r], normB = pnb[r], c = pc[r], gr = pg[r]
                let cross = gr / (Swift.max(normA, eps) * Swift.max(normB, eps))
                if let pda {
                    let selfTerm = normA >= eps ? gr * c / (normA * normA) : 0
                    let dr = pda + o
                    for j in 0..<n { dr[j * s] = cross * br[j * s] - selfTerm * ar[j * s] }
                }
                if let pdb {
                    let selfTerm = normB >= eps ? gr * c / (normB * normB) : 0
                    let dr = pdb + o
                    for j in 0..<n { dr[j * s] = cross * ar[j * s] - selfTerm * br[j * s] }
                }
            }
        }
        return [da, db]
    }
}
