/// Reverse-mode autodiff: a define-by-run graph over coarse ops.
///
/// An op whose inputs include one that requires grad (and that runs while gradient mode is on)
/// records a `GradFn`: its inputs and a closure that maps the output's gradient to each input's
/// gradient, returning nil for inputs that do not require one. Frozen weights therefore never get a
/// gradient, and the closures skip their weight-gradient GEMMs entirely.
final class GradFn {
    let op: String
    let inputs: [Tensor]
    let backward: (Tensor) throws -> [Tensor?]
    /// The profile region its backward is charged to (nil when no profile ran as it was recorded).
    let region: String?

    init(op: String, inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) {
        region = Profile.recordingRegion.map { $0 + " backward" }
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }
}

public enum GradMode {
    @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording anything for backward (evaluation, frozen feature extraction).
@discardableResult
public func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$isEnabled.withValue(false) { try body() }
}

extension Tensor {
    /// Whether an op on `inputs` must record itself.
    @inlinable
    static func needsGrad(_ inputs: [Tensor]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    }

    /// Marks `self` as the output of `op` over `inputs` when any input requires grad.
    /// `backward` receives the gradient of `self` and returns one gradient per input (or nil).
    @discardableResult
    func recorded(_ op: String, _ inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        if Tensor.needsGrad(inputs) {
            requiresGrad = true
            gradFn = GradFn(op: op, inputs: inputs, backward: backward)
        }
        return self
    }

    /// Name of the op that produced this tensor, or nil for a leaf.
    public var producer: String? { gradFn?.op }

    /// Back-propagates from this tensor. With no `seed`, the tensor must hold one value and its
    /// gradient is 1. Leaves that require grad accumulate into `grad`. Unless `retainGraph`, the
    /// graph is released afterwards so its saved activations free at once.
    public func backward(seed: Tensor? = nil, retainGraph: Bool = false) throws {
        if let seed {
            try require(seed.shape == shape, "backward", "seed shape \(describe(seed.shape)) differs from tensor shape \(describe(shape))")
        } else {
            try require(count == 1, "backward", "a seed is needed for a tensor of shape \(describe(shape)); only one-value tensors seed themselves with 1")
        }
        try require(requiresGrad, "backward", "this tensor does not require grad: nothing it depends on has requiresGrad = true")

        let walk = Profile.enter("autodiff")
        defer { Profile.leave(walk) }
        // Topological order by iterative depth-first search.
        var order: [Tensor] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if !seen.insert(ObjectIdentifier(t)).inserted { continue }
            stack.append((t, true))
            for input in t.gradFn?.inputs ?? [] where input.requiresGrad && !seen.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed ?? Tensor(repeating: 1, shape: shape)]
        try withoutGrad {
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                guard let fn = t.gradFn else {
                    t.grad = try t.grad.map { try $0 + g } ?? g.contiguousCopyIfView(of: t)
                    continue
                }
                let region = fn.region.flatMap(Profile.enter)
                let inputGrads = try fn.backward(g)
                for (input, ig) in zip(fn.inputs, inputGrads) {
                    guard input.requiresGrad, let ig else { continue }
                    try require(ig.shape == input.shape, "backward",
                                "\(fn.op) returned a gradient of shape \(describe(ig.shape)) for an input of shape \(describe(input.shape))")
                    let key = ObjectIdentifier(input)
                    grads[key] = try grads[key].map { try $0 + ig } ?? ig
                }
                Profile.leave(region)
                if !retainGraph { t.gradFn = nil }
            }
        }
    }

    /// A gradient handed to a leaf must not alias the leaf's own storage.
    private func contiguousCopyIfView(of leaf: Tensor) -> Tensor {
        storage === leaf.storage ? copy() : self
    }
}
