import Foundation

// Elementwise arithmetic with broadcasting; forward and backward side by side.
// Shapes: any; outputs take the broadcast shape of the inputs.

extension Tensor {
    /// Applies `f` elementwise over the broadcast of `a` and `b`, in parallel for large tensors.
    static func zipMap(_ op: String, _ a: Tensor, _ b: Tensor, _ f: @escaping (Float, Float) -> Float) throws -> Tensor {
        if a.shape == b.shape {
            let out = Tensor(uninitialized: a.shape)
            let pa = a.data, pb = b.data, po = out.data
            Parallel.forRanges(a.count) { r in for i in r { po[i] = f(pa[i], pb[i]) } }
            return out
        }
        let bc = try Broadcast(op, a.shape, b.shape)
        let out = Tensor(uninitialized: bc.shape)
        let pa = a.data, pb = b.data, po = out.data
        if let block = bc.blockB, bc.blockA == out.count, block > 0 {
            Parallel.forRanges(out.count / block, costPerItem: block) { r in
                for rep in r { let base = rep * block; for j in 0..<block { po[base + j] = f(pa[base + j], pb[j]) } }
            }
        } else if let block = bc.blockA, bc.blockB == out.count, block > 0 {
            Parallel.forRanges(out.count / block, costPerItem: block) { r in
                for rep in r { let base = rep * block; for j in 0..<block { po[base + j] = f(pa[j], pb[base + j]) } }
            }
        } else {
            bc.forEachIndex { o, ia, ib in po[o] = f(pa[ia], pb[ib]) }
        }
        return out
    }

    /// Applies `f` to every value, in parallel for large tensors.
    func map(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let p = data, po = out.data
        withoutActuallyEscaping(f) { f in
            Parallel.forRanges(count) { r in for i in r { po[i] = f(p[i]) } }
        }
        return out
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        let out = try arithmetic(.add, a, b)
        return out.recorded("add", [a, b]) { g in
            [a.requiresGrad ? try g.sum(to: a.shape) : nil, b.requiresGrad ? try g.sum(to: b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        let out = try arithmetic(.sub, a, b)
        return out.recorded("sub", [a, b]) { g in
            [a.requiresGrad ? try g.sum(to: a.shape) : nil, b.requiresGrad ? try (-g).sum(to: b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        let out = try arithmetic(.mul, a, b)
        return out.recorded("mul", [a, b]) { g in
            [a.requiresGrad ? try (g * b.detached()).sum(to: a.shape) : nil,
             b.requiresGrad ? try (g * a.detached()).sum(to: b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        let out = try arithmetic(.div, a, b)
        let quotient = out.detached()  // saved without capturing `out` itself (no retain cycle)
        return out.recorded("div", [a, b]) { g in
            let bd = b.detached()
            return [a.requiresGrad ? try (g / bd).sum(to: a.shape) : nil,
                    b.requiresGrad ? try (try zipMap("div", g * quotient, bd) { x, y in -x / y }).sum(to: b.shape) : nil]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        a.map { -$0 }.recorded("neg", [a]) { g in [-g] }
    }

    /// `a * s`.
    public static func * (a: Tensor, s: Float) -> Tensor {
        a.map { $0 * s }.recorded("scale", [a]) { g in [g * s] }
    }

    public static func * (s: Float, a: Tensor) -> Tensor { a * s }

    /// `a + s`.
    public static func + (a: Tensor, s: Float) -> Tensor {
        a.map { $0 + s }.recorded("add scalar", [a]) { g in [g] }
    }

    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }

    /// Elementwise power with a constant exponent.
    public func pow(_ p: Float) -> Tensor {
        let x = self
        return map { Foundation.pow($0, p) }.recorded("pow", [x]) { g in
            [try g * x.detached().map { p * Foundation.pow($0, p - 1) }]
        }
    }

    /// Elementwise square root.
    public func sqrt() -> Tensor {
        let x = self
        let out = map { $0.squareRoot() }
        let root = out.detached()
        return out.recorded("sqrt", [x]) { g in [try g * root.map { 0.5 / $0 }] }
    }

    /// Elementwise exponential.
    public func exp() -> Tensor {
        let x = self
        let out = map { Foundation.exp($0) }
        let value = out.detached()
        return out.recorded("exp", [x]) { g in [try g * value] }
    }

    /// Elementwise natural logarithm.
    public func log() -> Tensor {
        let x = self
        return map { Foundation.log($0) }.recorded("log", [x]) { g in [try g / x.detached()] }
    }

    /// Clamps values to [low, high]; the gradient passes where the value was inside.
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        let x = self
        return map { Swift.min(Swift.max($0, low), high) }.recorded("clamp", [x]) { g in
            [try Tensor.zipMap("clamp", g, x.detached()) { gi, xi in xi >= low && xi <= high ? gi : 0 }]
        }
    }

    /// Whether every value is finite (no NaN, no ±Inf); training loops check losses with it.
    public var isFinite: Bool {
        let p = data
        for i in 0..<count where !p[i].isFinite { return false }
        return true
    }

    /// Throws a clear error if any value is NaN or infinite.
    public func checkFinite(_ what: String) throws {
        let p = data
        for i in 0..<count where !p[i].isFinite {
            throw TensorError("checkFinite", "\(what) holds \(p[i]) at flat index \(i) of shape \(describe(shape))")
        }
    }
}
