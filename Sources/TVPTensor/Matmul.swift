import CBLAS

// Matrix products on cblas_sgemm; forward and backward side by side.
// Shapes: A [..., M, K] (or [..., K, M] with transA), B [..., K, N] (or [..., N, K] with transB).
// B may also be a plain 2-D matrix shared by every batch, which runs as one large GEMM.

/// C[M, N] = alpha · op(A) · op(B) + beta · C, row-major, one call. The plain reference twin is
/// `referenceGEMM` in the tests.
@inlinable
public func sgemm(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
    Profile.gemm(flops: 2 * Double(m) * Double(n) * Double(k)) {
        blasGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a, b, beta: beta, c)
    }
}

/// `sgemm` without the profile's accounting.
@inlinable
func blasGEMM(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, beta: Float, _ c: UnsafeMutablePointer<Float>) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 { c.update(repeating: 0, count: m * n) } else { for i in 0..<(m * n) { c[i] *= beta } }
        return
    }
    // One row or one column: a matrix-vector product, which OpenBLAS's sgemv runs several times
    // faster than sgemm (a decode step of a language model is all such products).
    if m == 1 {
        // c[N] = op(B)ᵀ·a, with B stored [N, K] (transB) or [K, N].
        cblas_sgemv(CblasRowMajor, transB ? CblasNoTrans : CblasTrans, Int32(transB ? n : k), Int32(transB ? k : n),
                    alpha, b, Int32(transB ? k : n), a, 1, beta, c, 1)
        return
    }
    if n == 1 {
        // c[M] = op(A)·b, with A stored [M, K] or [K, M] (transA); b is contiguous either way.
        cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(transA ? k : m), Int32(transA ? m : k),
                    alpha, a, Int32(transA ? m : k), b, 1, beta, c, 1)
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(transA ? m : k), b, Int32(transB ? k : n),
                beta, c, Int32(n))
}

/// Runs `count` independent GEMMs with strides between them. Batches of small products (attention
/// heads) run in parallel across the workers; large ones run one after another with all BLAS threads.
/// OpenBLAS itself runs a product of at most 65,536·4 multiply-adds (its GEMM_MULTITHREAD_THRESHOLD)
/// on the calling thread, so those need no change of its thread count; products between that and
/// 2²¹ run with OpenBLAS pinned to one thread for the duration (see `Parallel`).
public func batchedSGEMM(_ transA: Bool, _ transB: Bool, count: Int, m: Int, n: Int, k: Int, alpha: Float = 1,
                         _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int,
                         beta: Float = 0, _ c: UnsafeMutablePointer<Float>, strideC: Int) {
    Profile.gemm(flops: 2 * Double(count) * Double(m * n * k)) {
        batchedGEMMs(transA, transB, count: count, m: m, n: n, k: k, alpha: alpha, a, strideA: strideA, b, strideB: strideB,
                     beta: beta, c, strideC: strideC)
    }
}

private func batchedGEMMs(_ transA: Bool, _ transB: Bool, count: Int, m: Int, n: Int, k: Int, alpha: Float,
                          _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int,
                          beta: Float, _ c: UnsafeMutablePointer<Float>, strideC: Int) {
    let work = m * n * k
    let one = { (i: Int) in
        sgemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a + i * strideA, b + i * strideB, beta: beta, c + i * strideC)
    }
    if count > 1 && work <= 65_536 * 4 {
        Parallel.forRanges(count, costPerItem: 2 * work) { r in for i in r { one(i) } }
    } else if count > 1 && work < 1 << 21 {
        Parallel.forEachWithSerialBLAS(count, one)
    } else {
        for i in 0..<count { one(i) }
    }
}

/// Matrix product with optional transposes and a leading batch. B's batch must equal A's, or B
/// must be 2-D (shared). Gradients flow to A and B where they require them.
public func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false, alpha: Float = 1) throws -> Tensor {
    let op = "matmul"
    try require(a.rank >= 2 && b.rank >= 2, op, "needs matrices, got \(describe(a.shape)) and \(describe(b.shape))")
    let m = transA ? a.dim(-1) : a.dim(-2), k = transA ? a.dim(-2) : a.dim(-1)
    let kb = transB ? b.dim(-1) : b.dim(-2), n = transB ? b.dim(-2) : b.dim(-1)
    try require(k == kb, op, "inner sizes differ: \(describe(a.shape))\(transA ? "ᵀ" : "") × \(describe(b.shape))\(transB ? "ᵀ" : "") (\(k) vs \(kb))")
    let batchShape = Array(a.shape.dropLast(2))
    let sharedB = b.rank == 2
    try require(sharedB || Array(b.shape.dropLast(2)) == batchShape, op,
                "batch axes differ: \(describe(a.shape)) × \(describe(b.shape)); B must be 2-D or share A's batch")
    let batch = batchShape.reduce(1, *)
    let out = Tensor(uninitialized: batchShape + [m, n])
    if sharedB && !transA {
        sgemm(false, transB, m: batch * m, n: n, k: k, alpha: alpha, a.data, b.data, out.data)
    } else {
        batchedSGEMM(transA, transB, count: batch, m: m, n: n, k: k, alpha: alpha, a.data, strideA: m * k,
                     b.data, strideB: sharedB ? 0 : k * n, out.data, strideC: m * n)
    }
    return out.recorded(op, [a, b]) { g in
        let ad = a.detached(), bd = b.detached()
        // dA = g · op(B)ᵀ  (or its transpose when A was transposed)
        let da: Tensor? = !a.requiresGrad ? nil : transA
            ? try matmul(g, bd, transA: false, transB: !transB, alpha: alpha).transposed()
            : try matmul(g, bd, transA: false, transB: !transB, alpha: alpha)
        var db: Tensor? = nil
        if b.requiresGrad {
            if sharedB {
                // Fold the batch into rows: dB = op(A)ᵀ · g over all batch*M rows.
                let rows = batch * m
                let g2 = try g.reshaped([rows, n])
                let a2 = transA ? try ad.transposed().reshaped([rows, k]) : try ad.reshaped([rows, k])
                db = transB ? try matmul(g2, a2, transA: true, alpha: alpha) : try matmul(a2, g2, transA: true, alpha: alpha)
            } else {
                db = transB ? try matmul(g, ad, transA: true, transB: transA, alpha: alpha)
                            : try matmul(ad, g, transA: !transA, transB: false, alpha: alpha)
            }
        }
        return [da, db]
    }
}

/// PyTorch `nn.Linear`: y = x · Wᵀ + b with W [out, in], b [out], x [..., in].
/// With a frozen W the backward is one GEMM (dx); dW and db are computed only when required.
public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) throws -> Tensor {
    let op = "linear"
    try require(weight.rank == 2, op, "weight must be [out, in], got \(describe(weight.shape))")
    try require(x.rank >= 1 && x.dim(-1) == weight.dim(1), op,
                "input \(describe(x.shape)) has \(x.shape.last ?? 0) features, weight \(describe(weight.shape)) expects \(weight.dim(1))")
    if let bias { try require(bias.shape == [weight.dim(0)], op, "bias \(describe(bias.shape)) does not match weight \(describe(weight.shape))") }
    let rows = x.count / max(weight.dim(1), 1), nOut = weight.dim(0), nIn = weight.dim(1)
    let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [nOut])
    if let bias {
        for r in 0..<rows { (out.data + r * nOut).update(from: bias.data, count: nOut) }
        sgemm(false, true, m: rows, n: nOut, k: nIn, x.data, weight.data, beta: 1, out.data)
    } else {
        sgemm(false, true, m: rows, n: nOut, k: nIn, x.data, weight.data, out.data)
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return out.recorded(op, inputs) { g in
        var grads: [Tensor?] = []
        if x.requiresGrad {
            let dx = Tensor(uninitialized: x.shape)
            sgemm(false, false, m: rows, n: nIn, k: nOut, g.data, weight.data, dx.data)
            grads.append(dx)
        } else { grads.append(nil) }
        if weight.requiresGrad {
            let dw = Tensor(uninitialized: weight.shape)
            sgemm(true, false, m: nOut, n: nIn, k: rows, g.data, x.data, dw.data)
            grads.append(dw)
        } else { grads.append(nil) }
        if let bias {
            grads.append(bias.requiresGrad ? try g.reshaped([rows, nOut]).sum(to: [nOut]) : nil)
        }
        return grads
    }
}
