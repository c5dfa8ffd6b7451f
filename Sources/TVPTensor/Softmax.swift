import Foundation

// Softmax and log-softmax along one axis; forward and backward side by side.
// Shapes: x [..., n, ...] with the softmax axis of size n. Any axis works in place: the tensor is
// read as R = outer · inner rows of n values spaced `inner` apart; for the last axis inner = 1 and
// the loops below are inlined with a constant stride of 1 (the fast, contiguous path).

/// A tensor seen as rows along one axis: shape = [outer..., n, inner...]; row r starts at `start(r)`
/// and its values are `stride` apart.
struct AxisRows {
    let axis: Int
    let outer: Int
    let n: Int
    let inner: Int

    init(_ op: String, _ shape: [Int], axis: Int) throws {
        let rank = shape.count
        let ax = axis < 0 ? rank + axis : axis
        try require(ax >= 0 && ax < rank, op, "axis \(axis) is out of range for shape \(describe(shape))")
        self.axis = ax
        outer = shape[..<ax].reduce(1, *)
        n = shape[ax]
        inner = shape[(ax + 1)...].reduce(1, *)
    }

    var rows: Int { outer * inner }
    var stride: Int { inner }

    @inline(__always) func start(_ r: Int) -> Int { inner == 1 ? r * n : (r / inner) * n * inner + r % inner }

    /// The input shape with the axis removed (or kept with size 1).
    func reduced(_ shape: [Int], keepDims: Bool) -> [Int] {
        var s = shape
        if keepDims { s[axis] = 1 } else { s.remove(at: axis) }
        return s
    }

    /// Runs `body(rows, stride)` over all rows in parallel, with the stride a literal 1 on the
    /// last-axis path so the inlined loops are contiguous.
    @inline(__always)
    func forRows(costPerValue: Int, _ body: (Range<Int>, Int) -> Void) {
        if inner == 1 {
            Parallel.forRanges(rows, costPerItem: costPerValue * n) { r in body(r, 1) }
        } else {
            Parallel.forRanges(rows, costPerItem: costPerValue * n) { r in body(r, inner) }
        }
    }
}

/// Writes softmax (or log-softmax) of one row: subtracts the row max before exponentiating.
@inline(__always)
private func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, stride s: Int, log: Bool) {
    var top = -Float.infinity
    for j in 0..<n { top = Swift.max(top, x[j * s]) }
    var sum: Float = 0
    if log {
        for j in 0..<n { sum += expf(x[j * s] - top) }
        let logSum = top + logf(sum)
        for j in 0..<n { y[j * s] = x[j * s] - logSum }
    } else {
        for j in 0..<n { let e = expf(x[j * s] - top); y[j * s] = e; sum += e }
        let inverse = 1 / sum
        for j in 0..<n { y[j * s] *= inverse }
    }
}

private func softmaxForward(_ op: String, _ x: Tensor, axis: Int, log: Bool) throws -> Tensor {
    let rows = try AxisRows(op, x.shape, axis: axis)
    let out = Tensor(uninitialized: x.shape)
    let px = x.data, py = out.data
    rows.forRows(costPerValue: 12) { range, s in
        for r in range { let o = rows.start(r); softmaxRow(px + o, py + o, n: rows.n, stride: s, log: log) }
    }
    let y = out.detached()
    return out.recorded(op, [x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        let pg = g.data, py = y.data, pd = dx.data
        rows.forRows(costPerValue: 6) { range, s in
            for r in range {
                let o = rows.start(r), gr = pg + o, yr = py + o, dr = pd + o
                if log {
                    // y = x − logsumexp(x);  dx = g − softmax · Σ g
                    var sumG: Float = 0
                    for j in 0..<rows.n { sumG += gr[j * s] }
                    for j in 0..<rows.n { dr[j * s] = gr[j * s] - expf(yr[j * s]) * sumG }
                } else {
                    // dx = y · (g − Σ g · y)
                    var dot: Float = 0
                    for j in 0..<rows.n { dot += gr[j * s] * yr[j * s] }
                    for j in 0..<rows.n { dr[j * s] = yr[j * s] * (gr[j * s] - dot) }
                }
            }
        }
        return [dx]
    }
}

/// Softmax along `axis` (default the last), numerically stable (the row max is subtracted first).
/// A row of all −∞ gives NaN, as in PyTorch.
public func softmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
    try softmaxForward("softmax", x, axis: axis, log: false)
}

/// log(softmax(x)) along `axis`, computed as x − max − log Σ exp(x − max) (no log of a rounded zero).
public func logSoftmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
    try softmaxForward("logSoftmax", x, axis: axis, log: true)
}
