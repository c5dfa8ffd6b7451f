// Vectorized loops over raw float pointers: 8 lanes (one AVX2 register) at a time, then a tail.

public typealias Float8 = SIMD8<Float>

@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }

@inline(__always) @usableFromInline
func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self) }

/// out[i] = f(a[i], b[i]) for i in 0..<n, 8 lanes at a time.
@inline(__always) @usableFromInline
func vectorLoop(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                _ f8: (Float8, Float8) -> Float8, _ f: (Float, Float) -> Float) {
    var i = 0
    while i + 8 <= n { store8(f8(load8(a + i), load8(b + i)), out + i); i += 8 }
    while i < n { out[i] = f(a[i], b[i]); i += 1 }
}

/// out[i] = f(a[i], s) for i in 0..<n.
@inline(__always) @usableFromInline
func vectorLoop(_ n: Int, _ a: UnsafePointer<Float>, scalar s: Float, _ out: UnsafeMutablePointer<Float>,
                _ f8: (Float8, Float8) -> Float8, _ f: (Float, Float) -> Float) {
    let s8 = Float8(repeating: s)
    var i = 0
    while i + 8 <= n { store8(f8(load8(a + i), s8), out + i); i += 8 }
    while i < n { out[i] = f(a[i], s); i += 1 }
}

/// The four arithmetic kernels, dispatched once per call rather than once per element.
enum Arithmetic {
    case add, sub, mul, div

    /// out = a ∘ b over n values.
    func apply(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        switch self {
        case .add: vectorLoop(n, a, b, out, +, +)
        case .sub: vectorLoop(n, a, b, out, -, -)
        case .mul: vectorLoop(n, a, b, out, *, *)
        case .div: vectorLoop(n, a, b, out, /, /)
        }
    }

    /// out = a ∘ s over n values.
    func apply(_ n: Int, _ a: UnsafePointer<Float>, scalar s: Float, _ out: UnsafeMutablePointer<Float>) {
        switch self {
        case .add: vectorLoop(n, a, scalar: s, out, +, +)
        case .sub: vectorLoop(n, a, scalar: s, out, -, -)
        case .mul: vectorLoop(n, a, scalar: s, out, *, *)
        case .div: vectorLoop(n, a, scalar: s, out, /, /)
        }
    }

    /// out = s ∘ b over n values.
    func apply(_ n: Int, scalar s: Float, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        switch self {
        case .add: vectorLoop(n, b, scalar: s, out, +, +)
        case .sub: vectorLoop(n, b, scalar: s, out, { s8, _ in Float8(repeating: s) - s8 }, { x, _ in s - x })
        case .mul: vectorLoop(n, b, scalar: s, out, *, *)
        case .div: vectorLoop(n, b, scalar: s, out, { s8, _ in Float8(repeating: s) / s8 }, { x, _ in s / x })
        }
    }

    var name: String {
        switch self { case .add: "add"; case .sub: "sub"; case .mul: "mul"; case .div: "div" }
    }
}

extension Tensor {
    /// `a ∘ b` with broadcasting, vectorized; the fast paths cover equal shapes, a repeated suffix
    /// block (bias, positional embedding) and scalars; anything else takes the general index walk.
    static func arithmetic(_ kind: Arithmetic, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        if a.shape == b.shape {
            let out = Tensor(uninitialized: a.shape)
            let pa = a.data, pb = b.data, po = out.data
            Parallel.forRanges(a.count) { r in kind.apply(r.count, pa + r.lowerBound, pb + r.lowerBound, po + r.lowerBound) }
            return out
        }
        let bc = try Broadcast(kind.name, a.shape, b.shape)
        let out = Tensor(uninitialized: bc.shape)
        let pa = a.data, pb = b.data, po = out.data
        if bc.blockB == 1, bc.blockA == out.count {
            // b is one value: a single scalar loop over everything.
            let s = pb[0]
            Parallel.forRanges(out.count) { r in kind.apply(r.count, pa + r.lowerBound, scalar: s, po + r.lowerBound) }
        } else if bc.blockA == 1, bc.blockB == out.count {
            let s = pa[0]
            Parallel.forRanges(out.count) { r in kind.apply(r.count, scalar: s, pb + r.lowerBound, po + r.lowerBound) }
        } else if let block = bc.blockB, bc.blockA == out.count, block > 0 {
            Parallel.forRanges(out.count / block, costPerItem: block) { r in
                for rep in r { kind.apply(block, pa + rep * block, pb, po + rep * block) }
            }
        } else if let block = bc.blockA, bc.blockB == out.count, block > 0 {
            Parallel.forRanges(out.count / block, costPerItem: block) { r in
                for rep in r { kind.apply(block, pa, pb + rep * block, po + rep * block) }
            }
        } else {
            bc.forEachIndex { o, ia, ib in kind.apply(1, pa + ia, pb + ib, po + o) }
        }
        return out
    }
}
