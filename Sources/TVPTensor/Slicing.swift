// Layout ops that move blocks of values: concat, slice, select, pad, broadcast, gather rows.
// Forward and backward side by side; every one reduces to copying rectangular boxes (`copyBox`).

/// Row-major strides of `shape`.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var step = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { strides[i] = step; step *= shape[i] }
    return strides
}

/// Copies (or, with `accumulate`, adds) the box of size `extent` that starts at `srcOrigin` inside
/// `src` (shape `srcShape`) to the box starting at `dstOrigin` inside `dst` (shape `dstShape`).
/// All shapes have the same rank. Trailing axes that are whole in both tensors merge into one
/// contiguous run, so slicing a leading axis is a few long copies.
func copyBox(extent: [Int], from src: UnsafePointer<Float>, _ srcShape: [Int], at srcOrigin: [Int],
             to dst: UnsafeMutablePointer<Float>, _ dstShape: [Int], at dstOrigin: [Int], accumulate: Bool = false) {
    let rank = extent.count
    if extent.contains(0) { return }
    if rank == 0 {
        if accumulate { dst[0] += src[0] } else { dst[0] = src[0] }
        return
    }
    let srcStrides = contiguousStrides(srcShape), dstStrides = contiguousStrides(dstShape)
    var srcBase = 0, dstBase = 0
    for i in 0..<rank { srcBase += srcOrigin[i] * srcStrides[i]; dstBase += dstOrigin[i] * dstStrides[i] }
    // Axes runAxis..<rank form one contiguous run in both tensors.
    var runAxis = rank - 1
    var run = extent[rank - 1]
    while runAxis > 0 && extent[runAxis] == srcShape[runAxis] && extent[runAxis] == dstShape[runAxis] {
        runAxis -= 1
        run *= extent[runAxis]
    }
    let rows = extent[..<runAxis].reduce(1, *)
    var index = [Int](repeating: 0, count: runAxis)
    var s = srcBase, d = dstBase
    for _ in 0..<rows {
        if accumulate {
            let from = src + s, to = dst + d
            for j in 0..<run { to[j] += from[j] }
        } else {
            (dst + d).update(from: src + s, count: run)
        }
        var axis = runAxis - 1
        while axis >= 0 {
            index[axis] += 1
            s += srcStrides[axis]
            d += dstStrides[axis]
            if index[axis] < extent[axis] { break }
            s -= srcStrides[axis] * extent[axis]
            d -= dstStrides[axis] * extent[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Resolves a possibly negative axis against `rank`, throwing for `op` when out of range.
func resolveAxis(_ axis: Int, rank: Int, _ op: String, _ shape: [Int]) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    try require(a >= 0 && a < rank, op, "axis \(axis) is out of range for shape \(describe(shape))")
    return a
}

/// Joins tensors along `axis` (negative counts from the end). All shapes must agree on every other
/// axis. Gradients are the matching slices of the output's gradient.
public func concat(_ tensors: [Tensor], axis: Int) throws -> Tensor {
    let op = "concat"
    try require(!tensors.isEmpty, op, "needs at least one tensor")
    let first = tensors[0].shape
    let ax = try resolveAxis(axis, rank: first.count, op, first)
    for t in tensors {
        var a = t.shape, b = first
        try require(a.count == b.count, op, "ranks differ: \(tensors.map { describe($0.shape) }.joined(separator: ", "))")
        a[ax] = 0; b[ax] = 0
        try require(a == b, op, "shapes differ off axis \(axis): \(tensors.map { describe($0.shape) }.joined(separator: ", "))")
    }
    if tensors.count == 1 { return tensors[0] }
    var outShape = first
    outShape[ax] = tensors.reduce(0) { $0 + $1.shape[ax] }
    let out = Tensor(uninitialized: outShape)
    var origin = [Int](repeating: 0, count: first.count)
    var starts: [Int] = []
    for t in tensors {
        starts.append(origin[ax])
        copyBox(extent: t.shape, from: t.data, t.shape, at: [Int](repeating: 0, count: t.rank), to: out.data, outShape, at: origin)
        origin[ax] += t.shape[ax]
    }
    return out.recorded(op, tensors) { g in
        zip(tensors, starts).map { t, start -> Tensor? in
            guard t.requiresGrad else { return nil }
            let dt = Tensor(uninitialized: t.shape)
            var from = [Int](repeating: 0, count: t.rank)
            from[ax] = start
            copyBox(extent: t.shape, from: g.data, g.shape, at: from, to: dt.data, t.shape, at: [Int](repeating: 0, count: t.rank))
            return dt
        }
    }
}

/// Positions `range` of `axis` (negative counts from the end). When every axis before `axis` has
/// size 1 (always true for axis 0) the slice is contiguous and returned as a zero-copy view of
/// `x`'s storage; otherwise the values are copied. The gradient is zero outside the range.
public func slice(_ x: Tensor, axis: Int, range: Range<Int>) throws -> Tensor {
    let op = "slice"
    let ax = try resolveAxis(axis, rank: x.rank, op, x.shape)
    try require(range.lowerBound >= 0 && range.upperBound <= x.shape[ax], op,
                "range \(range.lowerBound)..<\(range.upperBound) is outside axis \(axis) of size \(x.shape[ax]) in \(describe(x.shape))")
    var outShape = x.shape
    outShape[ax] = range.count
    var origin = [Int](repeating: 0, count: x.rank)
    origin[ax] = range.lowerBound
    let out: Tensor
    if x.shape[..<ax].allSatisfy({ $0 == 1 }) {
        let inner = x.shape[(ax + 1)...].reduce(1, *)
        out = Tensor(storage: x.storage, offset: x.offset + range.lowerBound * inner, shape: outShape)
    } else {
        out = Tensor(uninitialized: outShape)
        copyBox(extent: outShape, from: x.data, x.shape, at: origin, to: out.data, outShape, at: [Int](repeating: 0, count: x.rank))
    }
    return out.recorded(op, [x]) { g in
        let dx = Tensor(zeros: x.shape)
        copyBox(extent: outShape, from: g.data, outShape, at: [Int](repeating: 0, count: x.rank), to: dx.data, x.shape, at: origin)
        return [dx]
    }
}

/// Index `index` of `axis`, with that axis removed (`x[:, index]` for axis 1). A view when the
/// slice is contiguous, as in `slice`.
public func select(_ x: Tensor, axis: Int, index: Int) throws -> Tensor {
    let ax = try resolveAxis(axis, rank: x.rank, "select", x.shape)
    try require(index >= 0 && index < x.shape[ax], "select", "index \(index) is outside axis \(axis) of size \(x.shape[ax]) in \(describe(x.shape))")
    var dropped = x.shape
    dropped.remove(at: ax)
    return try slice(x, axis: ax, range: index..<(index + 1)).reshaped(dropped)
}

/// Constant padding of the trailing axes. `padding[i]` holds the (before, after) counts for axis
/// `rank − padding.count + i`, in natural axis order (unlike `F.pad`, which lists the last axis
/// first): `pad(image [B, C, H, W], padding: [(top, bottom), (left, right)])`. New positions hold
/// `value`; the gradient is the gradient's interior.
public func pad(_ x: Tensor, padding: [(before: Int, after: Int)], value: Float = 0) throws -> Tensor {
    let op = "pad"
    try require(padding.count <= x.rank, op, "\(padding.count) (before, after) pairs for the \(x.rank) axes of \(describe(x.shape))")
    try require(padding.allSatisfy { $0.before >= 0 && $0.after >= 0 }, op,
                "padding \(padding.map { "(\($0.before), \($0.after))" }.joined(separator: ", ")) has a negative count")
    let lead = x.rank - padding.count
    var outShape = x.shape
    var origin = [Int](repeating: 0, count: x.rank)
    for (i, p) in padding.enumerated() {
        outShape[lead + i] += p.before + p.after
        origin[lead + i] = p.before
    }
    let out = Tensor(repeating: value, shape: outShape)
    copyBox(extent: x.shape, from: x.data, x.shape, at: [Int](repeating: 0, count: x.rank), to: out.data, outShape, at: origin)
    return out.recorded(op, [x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        copyBox(extent: x.shape, from: g.data, outShape, at: origin, to: dx.data, x.shape, at: [Int](repeating: 0, count: x.rank))
        return [dx]
    }
}

/// Rows `indices` of axis 0: out[i] = x[indices[i]], shape [indices.count] + x.shape[1...].
/// Indices may repeat; the backward adds each row's gradient back into its source row.
public func gatherRows(_ x: Tensor, _ indices: [Int]) throws -> Tensor {
    try require(x.rank >= 1, "gatherRows", "needs at least one axis, got \(describe(x.shape))")
    return try gatherRowsCore("gatherRows", table: x, ids: indices, idsShape: [indices.count],
                              outShape: [indices.count] + x.shape.dropFirst())
}

/// Shared kernel of `gatherRows` and `embedding`: copies rows `ids` of `table` (rows are everything
/// after axis 0) into a tensor of `outShape`; backward scatter-adds into the table's gradient.
func gatherRowsCore<I: BinaryInteger>(_ op: String, table: Tensor, ids: [I], idsShape: [Int], outShape: [Int]) throws -> Tensor {
    let rowsInTable = table.shape[0]
    let width = table.count / max(rowsInTable, 1)
    for (position, id) in ids.enumerated() where id < 0 || id >= rowsInTable {
        throw TensorError(op, "index \(id) at position \(position) of \(describe(idsShape)) is outside 0..<\(rowsInTable) (table \(describe(table.shape)))")
    }
    let out = Tensor(uninitialized: outShape)
    let src = table.data, dst = out.data
    ids.withUnsafeBufferPointer { idp in
        Parallel.forRanges(idp.count, costPerItem: width) { range in
            for p in range { (dst + p * width).update(from: src + Int(idp[p]) * width, count: width) }
        }
    }
    return out.recorded(op, [table]) { g in
        let dTable = Tensor(zeros: table.shape)
        let gp = g.data, dp = dTable.data
        // Workers own disjoint column ranges, so repeated ids never race.
        ids.withUnsafeBufferPointer { idp in
            Parallel.forRanges(width, costPerItem: idp.count) { cols in
                for p in 0..<idp.count {
                    let from = gp + p * width, to = dp + Int(idp[p]) * width
                    for c in cols { to[c] += from[c] }
                }
            }
        }
        return [dTable]
    }
}

extension Tensor {
    /// The values repeated along size-1 (or missing leading) axes to fill `target` (NumPy
    /// broadcasting; `torch.expand` followed by `contiguous`). The backward sums back to this shape.
    public func broadcast(to target: [Int]) throws -> Tensor {
        let op = "broadcast(to:)"
        if target == shape { return self }
        let bc = try Broadcast(op, shape, target)
        try require(bc.shape == target, op, "shape \(describe(shape)) does not broadcast to \(describe(target))")
        let out = Tensor(uninitialized: target)
        let src = data, dst = out.data
        if let block = bc.blockA, block > 0 {
            let reps = out.count / block
            Parallel.forRanges(reps, costPerItem: block) { r in
                for rep in r { (dst + rep * block).update(from: src, count: block) }
            }
        } else {
            bc.forEachIndex { o, ia, _ in dst[o] = src[ia] }
        }
        let x = self
        return out.recorded(op, [x]) { g in [try g.sum(to: x.shape)] }
    }
}
