import TVPTensor

/// The update of the official Transferable Visual Prompting implementation: a fixed-length step
/// along the negative gradient direction, restricted to the learnable frame.
///
/// Official code (zycheiheihei/Transferable-Visual-Prompting, `transfer_cls.py` lines 589–595 at
/// commit c1933ec37aa98d34e684cb9d22a155dc4d923df5, inside `train_with_prompt`):
///
///     grad_p_t = noise.grad                                   # [B, 3, 224, 224]
///     grad_p_t = grad_p_t.mean(0).squeeze(0)                  # [3, 224, 224], mean over the batch
///     g_norm = torch.norm(grad_p_t.view(-1), dim=0).view(1, 1, 1)
///     scaled_g = grad_p_t / (g_norm + 1e-10)
///     scaled_g_pad = scaled_g * prompt.mask.to(device)
///     updated_pad = scaled_g_pad * lr
///     prompt.perturbation.data = prompt.perturbation.data - updated_pad.detach().cpu()
///
/// that is, with g the batch-mean gradient and m the mask (1 in the 30 px frame, 0 in the centre):
///
///     p ← p − lr · (g / (‖g‖₂ + 1e-10)) · m
///
/// Gradient descent on the loss; ‖g‖₂ is taken over the **whole** tensor, centre included,
/// before masking. `lr` is read from the SGD optimizer at the start of each epoch and stepped by
/// `CosineAnnealingLR(T_max: epochs)` after it (lines 385–388, 415, 505): see `PerEpochLR`.
///
/// Here the gradient is `param.grad`. The official code divides the batch *mean* of the
/// per-image gradients; a prompt broadcast over the batch gets their *sum*, B times larger. The
/// normalization cancels the scale, so the two agree up to the 1e-10 guard (exactly, unless ‖g‖ is
/// near 1e-10). The norm accumulates in Double over fixed 4096-value chunks, so the result does not
/// depend on the thread count.
public struct TVPUpdate: Optimizer, Sendable {
    /// Multiplies the unit-norm gradient elementwise (1 where the prompt learns, 0 where it stays);
    /// must have each parameter's shape. Nil updates every value.
    public let mask: Tensor?
    /// Added to the gradient norm before dividing (1e-10 in the official code).
    public let epsilon: Float

    /// Throws for a mask with a non-finite value or a negative or non-finite `epsilon`.
    public init(mask: Tensor? = nil, epsilon: Float = 1e-10) throws {
        try requireHyperparameter("TVPUpdate", "epsilon", Double(epsilon), epsilon >= 0, "finite and >= 0")
        if let mask {
            let values = UnsafeBufferPointer(start: mask.data, count: mask.count)
            try require(values.allSatisfy { $0.isFinite }, "TVPUpdate",
                        "mask of shape \(describe(mask.shape)) holds a non-finite value")
        }
        self.mask = mask?.detached()
        self.epsilon = epsilon
    }

    public func step(_ params: [Tensor], lr: Float) throws {
        let updates = try parametersWithGradients("TVPUpdate", params, lr: lr)
        if let mask {
            for (param, _) in updates {
                try require(mask.shape == param.shape, "TVPUpdate",
                            "mask shape \(describe(mask.shape)) differs from parameter shape \(describe(param.shape))")
            }
        }
        for (param, grad) in updates {
            let denominator = Float(TVPUpdate.norm(grad)) + epsilon
            let p = param.data, g = grad.data
            if let mask {
                let m = mask.data
                Parallel.forRanges(param.count, costPerItem: 4) { r in
                    for i in r { p[i] = p[i] - (g[i] / denominator) * m[i] * lr }
                }
            } else {
                Parallel.forRanges(param.count, costPerItem: 4) { r in
                    for i in r { p[i] = p[i] - (g[i] / denominator) * lr }
                }
            }
        }
    }

    /// Stateless: each step depends on its gradient alone.
    public func state(of param: Tensor) -> OptimizerState { OptimizerState() }

    public func restore(_ state: OptimizerState, of param: Tensor) throws {
        try state.require("TVPUpdate.restore", names: [], of: param)
    }

    /// The L2 norm of all values of `x`, summed in Double per 4096-value chunk, chunks in order.
    static func norm(_ x: Tensor) -> Double {
        let chunk = 4096
        let chunks = (x.count + chunk - 1) / chunk
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: max(chunks, 1))
        defer { partial.deallocate() }
        let v = x.data, n = x.count
        Parallel.forRanges(chunks, costPerItem: chunk) { r in
            for c in r {
                var s: Double = 0
                for i in (c * chunk)..<min(n, (c + 1) * chunk) { let d = Double(v[i]); s += d * d }
                partial[c] = s
            }
        }
        var total: Double = 0
        for c in 0..<chunks { total += partial[c] }
        return total.squareRoot()
    }
}
