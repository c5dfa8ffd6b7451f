/// NumPy broadcasting for binary ops: shapes align at the right; a size-1 (or missing) axis repeats.
struct Broadcast {
    let shape: [Int]
    /// Strides of each operand over the output's axes, 0 where the operand repeats.
    let stridesA: [Int]
    let stridesB: [Int]
    /// When the smaller operand is one contiguous block repeated (a shape suffix), its length.
    let blockA: Int?
    let blockB: Int?

    init(_ op: String, _ a: [Int], _ b: [Int]) throws {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        var out = [Int](repeating: 0, count: rank)
        for i in 0..<rank {
            guard pa[i] == pb[i] || pa[i] == 1 || pb[i] == 1 else {
                throw TensorError(op, "shapes \(describe(a)) and \(describe(b)) do not broadcast (axis \(i - rank) is \(pa[i]) vs \(pb[i]))")
            }
            out[i] = pa[i] == 1 ? pb[i] : pa[i]
        }
        shape = out
        stridesA = Broadcast.strides(pa, out)
        stridesB = Broadcast.strides(pb, out)
        blockA = Broadcast.suffixBlock(pa, out)
        blockB = Broadcast.suffixBlock(pb, out)
    }

    static func strides(_ s: [Int], _ out: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: s.count)
        var step = 1
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            strides[i] = s[i] == 1 && out[i] != 1 ? 0 : step
            step *= s[i]
        }
        return strides
    }

    /// If `s` equals `out` on a trailing run of axes and is 1 on all leading ones, the run's size.
    static func suffixBlock(_ s: [Int], _ out: [Int]) -> Int? {
        var i = s.count
        while i > 0 && s[i - 1] == out[i - 1] { i -= 1 }
        guard s[..<i].allSatisfy({ $0 == 1 }) else { return nil }
        return s[i...].reduce(1, *)
    }

    /// Calls `body(outIndex, aIndex, bIndex)` for every output element (the slow general path).
    func forEachIndex(_ body: (Int, Int, Int) -> Void) {
        let total = shape.reduce(1, *)
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var ia = 0, ib = 0
        for o in 0..<total {
            body(o, ia, ib)
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                ia += stridesA[axis]
                ib += stridesB[axis]
                if index[axis] < shape[axis] { break }
                ia -= stridesA[axis] * shape[axis]
                ib -= stridesB[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

extension Tensor {
    /// Sums this tensor down to `target`, the shape it was broadcast from (backward of broadcasting).
    public func sum(to target: [Int]) throws -> Tensor {
        if target == shape { return self }
        let b = try Broadcast("sum(to:)", target, shape)
        try require(b.shape == shape, "sum(to:)", "shape \(describe(shape)) is not a broadcast of \(describe(target))")
        let out = Tensor(zeros: target)
        let src = data, dst = out.data
        if let block = b.blockA {
            // target is a repeated suffix block: add each repetition.
            let reps = count / max(block, 1)
            for r in 0..<reps {
                let s = src + r * block
                for j in 0..<block { dst[j] += s[j] }
            }
        } else {
            b.forEachIndex { o, ia, _ in dst[ia] += src[o] }
        }
        return out
    }
}
