import Foundation

// Elementwise activations as free functions (like PyTorch's F.*); forward and backward side by side.
// Shapes: any; the output has the input's shape. Each backward is the exact derivative, evaluated
// from the saved input (or the saved output where that is cheaper: sigmoid, tanh).

/// out[i] = f(x[i]) with a pointer loop, in parallel for large tensors. `cost` is the rough float
/// operations per value, so cheap maps stay on one thread.
@inline(__always)
private func mapValues(_ x: Tensor, cost: Int, _ f: (Float) -> Float) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let px = x.data, py = out.data
    Parallel.forRanges(x.count, costPerItem: cost) { r in for i in r { py[i] = f(px[i]) } }
    return out
}

/// out = f(x) eight lanes at a time, in parallel for large tensors.
@inline(__always)
private func mapVectors(_ x: Tensor, cost: Int, _ f: (Float8) -> Float8) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let px = x.data, py = out.data
    Parallel.forRanges(x.count, costPerItem: cost) { r in vectorMap(r.count, px + r.lowerBound, py + r.lowerBound, f) }
    return out
}

/// dx = g · derivative(saved) eight lanes at a time, in parallel for large tensors.
@inline(__always)
private func chainVectors(_ g: Tensor, _ saved: Tensor, cost: Int, _ derivative: (Float8) -> Float8) -> Tensor {
    let dx = Tensor(uninitialized: g.shape)
    let pg = g.data, ps = saved.data, pd = dx.data
    Parallel.forRanges(g.count, costPerItem: cost) { r in
        vectorChain(r.count, pg + r.lowerBound, ps + r.lowerBound, pd + r.lowerBound, derivative)
    }
    return dx
}

/// dx[i] = g[i] · derivative(saved[i]), where `saved` is the op's input or output.
@inline(__always)
private func chainRule(_ g: Tensor, _ saved: Tensor, cost: Int, _ derivative: (Float) -> Float) -> Tensor {
    let dx = Tensor(uninitialized: g.shape)
    let pg = g.data, ps = saved.data, pd = dx.data
    Parallel.forRanges(g.count, costPerItem: cost) { r in for i in r { pd[i] = pg[i] * derivative(ps[i]) } }
    return dx
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
    case .none:
        // d/dx = Φ(x) + x · φ(x)
        return mapValues(x, cost: 24) { v in 0.5 * v * (1 + erff(v * invSqrt2)) }.recorded("gelu", [x]) { g in
            [chainRule(g, x, cost: 32) { v in 0.5 * (1 + erff(v * invSqrt2)) + v * invSqrt2Pi * expf(-0.5 * v * v) }]
        }
    case .tanh:
        // u = √(2/π)(x + c·x³), t = tanh(u);  d/dx = 0.5(1 + t) + 0.5 · x · (1 − t²) · √(2/π)(1 + 3c·x²)
        return mapValues(x, cost: 24) { v in
            0.5 * v * (1 + tanhf(sqrt2OverPi * (v + geluCubic * v * v * v)))
        }.recorded("gelu(tanh)", [x]) { g in
            [chainRule(g, x, cost: 32) { v in
                let t = tanhf(sqrt2OverPi * (v + geluCubic * v * v * v))
                return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * sqrt2OverPi * (1 + 3 * geluCubic * v * v)
            }]
        }
    }
}

/// OpenAI CLIP's QuickGELU: x · sigmoid(1.702 · x).
public func quickGELU(_ x: Tensor) -> Tensor {
    // s = σ(1.702x);  d/dx = s + 1.702 · x · s · (1 − s)
    mapVectors(x, cost: 16) { v in v * logistic8(1.702 * v) }.recorded("quickGELU", [x]) { g in
        [chainVectors(g, x, cost: 20) { v in let s = logistic8(1.702 * v); return s + 1.702 * v * s * (1 - s) }]
    }
}

/// SiLU (swish): x · sigmoid(x), the LLaMA MLP gate.
public func silu(_ x: Tensor) -> Tensor {
    // s = σ(x);  d/dx = s · (1 + x · (1 − s))
    mapVectors(x, cost: 16) { v in v * logistic8(v) }.recorded("silu", [x]) { g in
        [chainVectors(g, x, cost: 20) { v in let s = logistic8(v); return s * (1 + v * (1 - s)) }]
    }
}

/// max(x, 0). The gradient at exactly 0 is 0, as in PyTorch.
public func relu(_ x: Tensor) -> Tensor {
    mapValues(x, cost: 1) { v in v > 0 ? v : 0 }.recorded("relu", [x]) { g in
        [chainRule(g, x, cost: 1) { v in v > 0 ? 1 : 0 }]
    }
}

/// min(max(x, 0), 6). The gradient is 1 strictly inside (0, 6) and 0 elsewhere, as in PyTorch.
public func relu6(_ x: Tensor) -> Tensor {
    mapValues(x, cost: 2) { v in Swift.min(Swift.max(v, 0), 6) }.recorded("relu6", [x]) { g in
        [chainRule(g, x, cost: 2) { v in v > 0 && v < 6 ? 1 : 0 }]
    }
}

/// The logistic function 1 / (1 + e^−x), computed without overflow for large |x|.
public func sigmoid(_ x: Tensor) -> Tensor {
    // y = σ(x);  d/dx = y · (1 − y), from the saved output.
    let out = mapVectors(x, cost: 12) { v in logistic8(v) }
    let y = out.detached()
    return out.recorded("sigmoid", [x]) { g in [chainRule(g, y, cost: 2) { s in s * (1 - s) }] }
}

/// Hyperbolic tangent.
public func tanh(_ x: Tensor) -> Tensor {
    // y = tanh(x);  d/dx = 1 − y², from the saved output.
    let out = mapValues(x, cost: 16) { v in tanhf(v) }
    let y = out.detached()
    return out.recorded("tanh", [x]) { g in [chainRule(g, y, cost: 2) { t in 1 - t * t }] }
}
