// Sum and mean reductions, over everything or over one axis; forward and backward side by side.

extension Tensor {
    /// The sum of all values, as a scalar tensor (accumulated in Float64).
    public func sum() -> Tensor {
        var s = 0.0
        let p = data
        for i in 0..<count { s += Double(p[i]) }
        let x = self
        return Tensor(scalar: Float(s)).recorded("sum", [x]) { g in [Tensor(repeating: g.item, shape: x.shape)] }
    }

    /// The mean of all values, as a scalar tensor.
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Sums over `axis` (negative counts from the end); `keepDims` keeps it with size 1.
    public func sum(axis: Int, keepDims: Bool = false) throws -> Tensor {
        let ax = axis < 0 ? rank + axis : axis
        try require(ax >= 0 && ax < rank, "sum", "axis \(axis) out of range for \(describe(shape))")
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        var kept = shape
        kept[ax] = 1
        let out = Tensor(zeros: kept)
        let src = data, dst = out.data
        Parallel.forRanges(outer, costPerItem: n * inner) { r in
            for o in r {
                let d = dst + o * inner
                for j in 0..<n {
                    let s = src + (o * n + j) * inner
                    for i in 0..<inner { d[i] += s[i] }
                }
            }
        }
        let x = self
        out.recorded("sum(axis)", [x]) { g in
            // Broadcast back along the reduced axis.
            [try g.reshaped(kept) + Tensor(zeros: x.shape)]
        }
        if keepDims { return out }
        var dropped = shape
        dropped.remove(at: ax)
        return try out.reshaped(dropped)
    }

    /// Mean over `axis`.
    public func mean(axis: Int, keepDims: Bool = false) throws -> Tensor {
        let ax = axis < 0 ? rank + axis : axis
        try require(ax >= 0 && ax < rank, "mean", "axis \(axis) out of range for \(describe(shape))")
        return try sum(axis: axis, keepDims: keepDims) * (1 / Float(Swift.max(shape[ax], 1)))
    }
}
