import Foundation

// Optimizers: the only code that writes into a tensor after it was made. Each step reads
// `param.grad`, updates `param`'s storage in place, and keeps whatever running state it needs per
// parameter. State is keyed by the parameter's ObjectIdentifier and also holds the parameter
// itself, so the identity cannot be recycled for another tensor while the state lives: state can
// never move from one parameter to another, whatever order or subset `step` is called with.
// Scalar coefficients are computed in Double (as PyTorch computes them in Python) and rounded to
// Float once; the per-value loops are plain pointer loops the compiler vectorizes.

/// Updates parameters in place from their accumulated gradients.
public protocol Optimizer {
    /// Updates, in place, every parameter in `params` that has a `grad`, with learning rate `lr`.
    /// Parameters without a gradient are skipped and their state is left untouched.
    /// Throws (before changing anything) for a negative or non-finite `lr`, a parameter listed
    /// twice, or a gradient whose shape differs from its parameter's.
    func step(_ params: [Tensor], lr: Float) throws
    /// Drops the gradients of `params` (sets `grad` to nil, like PyTorch's `set_to_none=True`), so
    /// the next `backward()` starts accumulating from zero.
    func zeroGrad(_ params: [Tensor])
    /// The running state `param` has gathered (copies; empty for a stateless update or before its first step).
    func state(of param: Tensor) -> OptimizerState
    /// Makes `state` (from `state(of:)` of an optimizer with the same settings) the running state of
    /// `param`, so the next step continues as if the steps that gathered it had run here. Throws for
    /// tensors this optimizer does not keep or of another shape than `param`.
    func restore(_ state: OptimizerState, of param: Tensor) throws
}

/// One parameter's running optimizer state: the steps it has taken and named tensors (Adam's
/// moments, SGD's momentum buffer), each of the parameter's shape.
public struct OptimizerState: Sendable, Equatable {
    public var steps: Int
    public var tensors: [String: Tensor]

    public init(steps: Int = 0, tensors: [String: Tensor] = [:]) {
        self.steps = steps
        self.tensors = tensors
    }

    public static func == (a: OptimizerState, b: OptimizerState) -> Bool {
        a.steps == b.steps && a.tensors.keys.sorted() == b.tensors.keys.sorted()
            && a.tensors.allSatisfy { key, value in b.tensors[key].map { $0.shape == value.shape && $0.toArray() == value.toArray() } ?? false }
    }

    /// Checks that the state holds exactly `names`, each of `param`'s shape.
    public func require(_ op: String, names: Set<String>, of param: Tensor) throws {
        try TVPTensor.require(Set(tensors.keys) == names, op,
                              "the state holds \(tensors.keys.sorted()), expected \(names.sorted())")
        for (name, tensor) in tensors {
            try TVPTensor.require(tensor.shape == param.shape, op,
                                  "state '\(name)' has shape \(describe(tensor.shape)), the parameter \(describe(param.shape))")
        }
    }
}

extension Optimizer {
    public func zeroGrad(_ params: [Tensor]) {
        for param in params { param.grad = nil }
    }
}

/// The parameters of one step that have a gradient, after checking everything the step needs.
public func parametersWithGradients(_ op: String, _ params: [Tensor], lr: Float) throws -> [(param: Tensor, grad: Tensor)] {
    try require(lr.isFinite && lr >= 0, op, "learning rate must be finite and >= 0, got \(lr)")
    var seen = Set<ObjectIdentifier>()
    var updates: [(param: Tensor, grad: Tensor)] = []
    for (i, param) in params.enumerated() {
        try require(seen.insert(ObjectIdentifier(param)).inserted, op,
                    "parameter \(i) (shape \(describe(param.shape))) is listed more than once")
        guard let grad = param.grad else { continue }
        try require(grad.shape == param.shape, op,
                    "parameter \(i) has shape \(describe(param.shape)) but its gradient has shape \(describe(grad.shape))")
        updates.append((param, grad))
    }
    return updates
}

/// Validates a hyper-parameter given at construction.
public func requireHyperparameter(_ op: String, _ name: String, _ value: Double, _ valid: Bool, _ expected: String) throws {
    try require(value.isFinite && valid, op, "\(name) must be \(expected), got \(value)")
}

// MARK: - TVP update

// MARK: - SGD

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and (coupled) weight
/// decay, with the semantics of `torch.optim.SGD` (maximize off):
///
///     d ← g + weightDecay · p                          (if weightDecay ≠ 0)
///     b ← d on a parameter's first step, else momentum · b + (1 − dampening) · d   (if momentum ≠ 0)
///     d ← d + momentum · b if nesterov, else b         (if momentum ≠ 0)
///     p ← p − lr · d
public final class SGD: Optimizer {
    public let momentum: Double
    public let dampening: Double
    public let nesterov: Bool
    public let weightDecay: Double

    /// Momentum buffers, one per parameter that has taken a step, with the parameter they belong to.
    private var buffers: [ObjectIdentifier: (param: Tensor, buffer: Tensor)] = [:]

    /// Throws like PyTorch: for negative `momentum` or `weightDecay`, a non-finite value, or
    /// `nesterov` without positive `momentum` and zero `dampening`.
    public init(momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) throws {
        try requireHyperparameter("SGD", "momentum", momentum, momentum >= 0, "finite and >= 0")
        try requireHyperparameter("SGD", "dampening", dampening, true, "finite")
        try requireHyperparameter("SGD", "weightDecay", weightDecay, weightDecay >= 0, "finite and >= 0")
        try require(!nesterov || (momentum > 0 && dampening == 0), "SGD",
                    "Nesterov momentum requires momentum > 0 and dampening 0 (got momentum \(momentum), dampening \(dampening))")
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    /// Forgets all momentum buffers (the next step of every parameter is its first).
    public func reset() { buffers = [:] }

    /// The momentum buffer (`momentum`), once a step with momentum has made it.
    public func state(of param: Tensor) -> OptimizerState {
        guard let buffer = buffers[ObjectIdentifier(param)]?.buffer else { return OptimizerState() }
        return OptimizerState(steps: 0, tensors: ["momentum": buffer.copy()])
    }

    public func restore(_ state: OptimizerState, of param: Tensor) throws {
        guard let buffer = state.tensors["momentum"] else {
            try state.require("SGD.restore", names: [], of: param)
            buffers[ObjectIdentifier(param)] = nil
            return
        }
        try state.require("SGD.restore", names: ["momentum"], of: param)
        buffers[ObjectIdentifier(param)] = (param, buffer.copy())
    }

    public func step(_ params: [Tensor], lr: Float) throws {
        let updates = try parametersWithGradients("SGD", params, lr: lr)
        let decay = Float(weightDecay), mu = Float(momentum), keep = Float(1 - dampening)
        let hasDecay = weightDecay != 0, nesterov = self.nesterov
        for (param, grad) in updates {
            let p = param.data, g = grad.data, count = param.count
            guard momentum != 0 else {
                Parallel.forRanges(count, costPerItem: 4) { r in
                    for i in r {
                        let d = hasDecay ? g[i] + decay * p[i] : g[i]
                        p[i] = p[i] - lr * d
                    }
                }
                continue
            }
            let key = ObjectIdentifier(param)
            let first = buffers[key] == nil
            let buffer = buffers[key]?.buffer ?? Tensor(uninitialized: param.shape)
            buffers[key] = (param, buffer)
            let b = buffer.data
            Parallel.forRanges(count, costPerItem: 6) { r in
                for i in r {
                    let d = hasDecay ? g[i] + decay * p[i] : g[i]
                    let bi = first ? d : b[i] * mu + keep * d
                    b[i] = bi
                    p[i] = p[i] - lr * (nesterov ? d + mu * bi : bi)
                }
            }
        }
    }
}

// MARK: - AdamW

/// Adam with decoupled weight decay and bias correction, with the semantics of
/// `torch.optim.AdamW` (amsgrad and maximize off). For a parameter's step t = 1, 2, …:
///
///     p ← p · (1 − lr · weightDecay)
///     m ← m + (1 − β₁) · (g − m)                       (m, v start at 0)
///     v ← β₂ · v + (1 − β₂) · g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class AdamW: Optimizer {
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    public let weightDecay: Double

    /// Per-parameter state: steps taken, first and second moment, and the parameter itself.
    private struct Moments {
        let param: Tensor
        var steps: Int
        let mean: Tensor
        let meanSquare: Tensor
    }
    private var moments: [ObjectIdentifier: Moments] = [:]

    /// Throws like PyTorch: unless 0 ≤ β < 1, ε ≥ 0 and weightDecay ≥ 0, all finite.
    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) throws {
        try requireHyperparameter("AdamW", "beta1", beta1, beta1 >= 0 && beta1 < 1, "in [0, 1)")
        try requireHyperparameter("AdamW", "beta2", beta2, beta2 >= 0 && beta2 < 1, "in [0, 1)")
        try requireHyperparameter("AdamW", "eps", eps, eps >= 0, "finite and >= 0")
        try requireHyperparameter("AdamW", "weightDecay", weightDecay, weightDecay >= 0, "finite and >= 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// Forgets all moments and step counts.
    public func reset() { moments = [:] }

    /// The number of steps `param` has taken with this optimizer (0 if none).
    public func stepCount(of param: Tensor) -> Int { moments[ObjectIdentifier(param)]?.steps ?? 0 }

    /// The steps taken and the moments (`mean`, `mean_square`).
    public func state(of param: Tensor) -> OptimizerState {
        guard let state = moments[ObjectIdentifier(param)] else { return OptimizerState() }
        return OptimizerState(steps: state.steps, tensors: ["mean": state.mean.copy(),
                                                            "mean_square": state.meanSquare.copy()])
    }

    public func restore(_ state: OptimizerState, of param: Tensor) throws {
        guard state.steps > 0 else {
            try state.require("AdamW.restore", names: [], of: param)
            moments[ObjectIdentifier(param)] = nil
            return
        }
        try state.require("AdamW.restore", names: ["mean", "mean_square"], of: param)
        moments[ObjectIdentifier(param)] = Moments(param: param, steps: state.steps, mean: state.tensors["mean"]!.copy(),
                                                   meanSquare: state.tensors["mean_square"]!.copy())
    }

    public func step(_ params: [Tensor], lr: Float) throws {
        let updates = try parametersWithGradients("AdamW", params, lr: lr)
        for (param, grad) in updates {
            let key = ObjectIdentifier(param)
            var state = moments[key] ?? Moments(param: param, steps: 0,
                                                mean: Tensor(zeros: param.shape), meanSquare: Tensor(zeros: param.shape))
            state.steps += 1
            moments[key] = state

            let t = Double(state.steps)
            let shrink = Float(1 - Double(lr) * weightDecay), hasDecay = weightDecay != 0
            let towardGrad = Float(1 - beta1), b2 = Float(beta2), squareWeight = Float(1 - beta2)
            let negStepSize = Float(-(Double(lr) / (1 - pow(beta1, t))))
            let correction2Sqrt = Float((1 - pow(beta2, t)).squareRoot()), epsilon = Float(eps)
            let p = param.data, g = grad.data, m = state.mean.data, v = state.meanSquare.data
            Parallel.forRanges(param.count, costPerItem: 12) { r in
                for i in r {
                    let pi = hasDecay ? p[i] * shrink : p[i]
                    let gi = g[i]
                    let mi = m[i] + towardGrad * (gi - m[i])
                    let vi = v[i] * b2 + squareWeight * gi * gi
                    m[i] = mi
                    v[i] = vi
                    p[i] = pi + negStepSize * mi / (vi.squareRoot() / correction2Sqrt + epsilon)
                }
            }
        }
    }
}
