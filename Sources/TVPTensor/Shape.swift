// Layout ops: reshape is a free view; permute and transpose write a new contiguous tensor.

extension Tensor {
    /// The same values with a new shape (a view). One axis may be -1 and is inferred.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let i = newShape.firstIndex(of: -1) {
            try require(newShape.filter { $0 == -1 }.count == 1 && known > 0 && count % known == 0, "reshape",
                        "cannot infer -1 in \(describe(newShape)) from \(count) values (shape \(describe(shape)))")
            target[i] = count / known
        }
        try require(target.allSatisfy { $0 >= 0 } && target.reduce(1, *) == count, "reshape",
                    "cannot view shape \(describe(shape)) (\(count) values) as \(describe(newShape))")
        let x = self
        return Tensor(storage: storage, offset: offset, shape: target).recorded("reshape", [x]) { g in
            [try g.reshaped(x.shape)]
        }
    }

    /// Reorders axes: output axis i is input axis `order[i]`. Writes a contiguous copy.
    public func permuted(_ order: [Int]) throws -> Tensor {
        try require(order.sorted() == Array(0..<rank), "permute", "order \(order) is not a permutation of the \(rank) axes of \(describe(shape))")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = order.map { inStrides[$0] }
        let out = Tensor(uninitialized: outShape)
        let src = data, dst = out.data
        // Copy whole innermost rows when the last axis stays last; otherwise element by element.
        let inner = outShape.last ?? 1
        let innerStride = strides.last ?? 1
        let rows = count / max(inner, 1)
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        var base = 0
        for r in 0..<rows {
            let d = dst + r * inner
            if innerStride == 1 {
                d.update(from: src + base, count: inner)
            } else {
                for j in 0..<inner { d[j] = src[base + j * innerStride] }
            }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                base += strides[axis]
                if index[axis] < outShape[axis] { break }
                base -= strides[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        let x = self
        return out.recorded("permute", [x]) { g in [try g.permuted(inverse)] }
    }

    /// Swaps two axes (negative axes count from the end).
    public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
        let i = a < 0 ? rank + a : a, j = b < 0 ? rank + b : b
        try require(i >= 0 && i < rank && j >= 0 && j < rank, "transpose", "axes \(a), \(b) out of range for \(describe(shape))")
        var order = Array(0..<rank)
        order.swapAt(i, j)
        return try permuted(order)
    }
}
