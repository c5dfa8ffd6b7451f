import Foundation

// Elementwise activations as free functions (like PyTorch's F.*); forward and backward side by side.
// Shapes: any; the output has the input's shape. Each backward is the exact derivative, evaluated
// from the saved input.

/// An activation computed eight lanes at a time: its value and its derivative at the input. As a
/// type (not a closure) it is specialized into the loops below, so each kernel compiles to straight
/// vector code with no call per value.
protocol VectorActivation {
    static var name: String { get }
    /// Rough float operations per value, so cheap maps stay on one thread.
    static var cost: Int { get }
    static func value(_ x: Float8) -> Float8
    static func derivative(_ x: Float8) -> Float8
}

/// y = A(x), recording dx = g · A′(x) for backward.
private func activate<A: VectorActivation>(_ x: Tensor, _: A.Type) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let px = x.data, py = out.data
    Parallel.forRanges(x.count, costPerItem: A.cost) { r in vectorMap(r.count, px + r.lowerBound, py + r.lowerBound, A.value) }
    return out.recorded(A.name, [x]) { g in
        let dx = Tensor(uninitialized: g.shape)
        let pg = g.data, ps = x.data, pd = dx.data
        Parallel.forRanges(g.count, costPerItem: A.cost + 4) { r in
            vectorChain(r.count, pg + r.lowerBound, ps + r.lowerBound, pd + r.lowerBound, A.derivative)
        }
        return [dx]
    }
}

/// Which GELU formula to use, as in PyTorch's `F.gelu(x, approximate=...)`.
public enum GELUApproximation: Sendable {
    /// Exact: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (CLIP ViT, BERT).
    case none
    /// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))) (GPT-2 "gelu_new", "gelu_pytorch_tanh").
    case tanh
}

private let invSqrt2: Float = 0.70710678118654752
private let invSqrt2Pi: Float = 0.39894228040143268
private let sqrt2OverPi: Float = 0.79788456080286536
private let geluCubic: Float = 0.044715

/// GELU, exact (erf) or with the tanh approximation.
public func gelu(_ x: Tensor, approximate: GELUApproximation = .none) -> Tensor {
    switch approximate {
    case .none: return activate(x, GELU.self)
    case .tanh: return activate(x, GELUTanh.self)
    }
}

/// Applies a scalar libm-based function lane by lane (erf and tanh have no vector form here).
@inline(__always)
private func lanes(_ x: Float8, _ f: (Float) -> Float) -> Float8 {
    var r = Float8()
    for i in 0..<8 { r[i] = f(x[i]) }
    return r
}

/// x · Φ(x);  d/dx = Φ(x) + x · φ(x)
private enum GELU: VectorActivation {
    static let name = "gelu", cost = 24
    @inline(__always) static func value(_ x: Float8) -> Float8 { lanes(x) { v in 0.5 * v * (1 + erff(v * invSqrt2)) } }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 {
        lanes(x) { v in 0.5 * (1 + erff(v * invSqrt2)) + v * invSqrt2Pi * expf(-0.5 * v * v) }
    }
}

/// u = √(2/π)(x + c·x³), t = tanh(u);  d/dx = 0.5(1 + t) + 0.5 · x · (1 − t²) · √(2/π)(1 + 3c·x²)
private enum GELUTanh: VectorActivation {
    static let name = "gelu(tanh)", cost = 24
    @inline(__always) static func value(_ x: Float8) -> Float8 { lanes(x) { v in 0.5 * v * (1 + tanhf(sqrt2OverPi * (v + geluCubic * v * v * v))) } }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 {
        lanes(x) { v in
            let t = tanhf(sqrt2OverPi * (v + geluCubic * v * v * v))
            return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * sqrt2OverPi * (1 + 3 * geluCubic * v * v)
        }
    }
}

/// OpenAI CLIP's QuickGELU: x · sigmoid(1.702 · x).
public func quickGELU(_ x: Tensor) -> Tensor { activate(x, QuickGELU.self) }

/// s = σ(1.702x);  d/dx = s + 1.702 · x · s · (1 − s)
private enum QuickGELU: VectorActivation {
    static let name = "quickGELU", cost = 16
    @inline(__always) static func value(_ x: Float8) -> Float8 { x * logistic8(1.702 * x) }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 { let s = logistic8(1.702 * x); return s + 1.702 * x * s * (1 - s) }
}

/// SiLU (swish): x · sigmoid(x), the LLaMA MLP gate.
public func silu(_ x: Tensor) -> Tensor { activate(x, SiLU.self) }

/// s = σ(x);  d/dx = s · (1 + x · (1 − s))
private enum SiLU: VectorActivation {
    static let name = "silu", cost = 16
    @inline(__always) static func value(_ x: Float8) -> Float8 { x * logistic8(x) }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 { let s = logistic8(x); return s * (1 + x * (1 - s)) }
}

/// max(x, 0). The gradient at exactly 0 is 0, as in PyTorch.
public func relu(_ x: Tensor) -> Tensor { activate(x, ReLU.self) }

private enum ReLU: VectorActivation {
    static let name = "relu", cost = 1
    @inline(__always) static func value(_ x: Float8) -> Float8 { x.replacing(with: 0, where: x .<= 0) }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 { Float8(repeating: 0).replacing(with: 1, where: x .> 0) }
}

/// min(max(x, 0), 6). The gradient is 1 strictly inside (0, 6) and 0 elsewhere, as in PyTorch.
public func relu6(_ x: Tensor) -> Tensor { activate(x, ReLU6.self) }

private enum ReLU6: VectorActivation {
    static let name = "relu6", cost = 2
    @inline(__always) static func value(_ x: Float8) -> Float8 { x.replacing(with: 0, where: x .<= 0).replacing(with: 6, where: x .> 6) }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 { Float8(repeating: 0).replacing(with: 1, where: (x .> 0) .& (x .< 6)) }
}

/// The logistic function 1 / (1 + e^−x), computed without overflow for large |x|.
public func sigmoid(_ x: Tensor) -> Tensor { activate(x, Sigmoid.self) }

/// y = σ(x);  d/dx = y · (1 − y)
private enum Sigmoid: VectorActivation {
    static let name = "sigmoid", cost = 12
    @inline(__always) static func value(_ x: Float8) -> Float8 { logistic8(x) }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 { let s = logistic8(x); return s * (1 - s) }
}

/// Hyperbolic tangent.
public func tanh(_ x: Tensor) -> Tensor { activate(x, Tanh.self) }

/// y = tanh(x);  d/dx = 1 − y²
private enum Tanh: VectorActivation {
    static let name = "tanh", cost = 16
    @inline(__always) static func value(_ x: Float8) -> Float8 { lanes(x, tanhf) }
    @inline(__always) static func derivative(_ x: Float8) -> Float8 { let t = lanes(x, tanhf); return 1 - t * t }
}
