import Foundation

// Learning-rate schedules: pure functions of a 0-based step (or epoch) index, computed in Double
// and rounded to Float once. A trainer asks `learningRate(at: step)` and passes the result to
// `Optimizer.step(_:lr:)`; nothing is stepped or mutated, so resuming at any step is exact.
// Negative indices count as 0.

/// A learning rate as a pure function of the step index.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate for step `step` (0-based; a negative step counts as 0).
    func learningRate(at step: Int) -> Float
}

/// Validates a learning rate given to a schedule.
private func requireRate(_ op: String, _ name: String, _ value: Float) throws {
    try require(value.isFinite && value >= 0, op, "\(name) must be finite and >= 0, got \(value)")
}

/// The same learning rate at every step.
public struct ConstantLR: LearningRateSchedule {
    public let lr: Float

    /// Throws for a negative or non-finite `lr`.
    public init(_ lr: Float) throws {
        try requireRate("ConstantLR", "lr", lr)
        self.lr = lr
    }

    public func learningRate(at step: Int) -> Float { lr }
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR` in closed form:
///
///     lr(t) = minLR + (baseLR − minLR) · (1 + cos(π · t / tMax)) / 2
///
/// It reaches `minLR` at t = tMax and, like PyTorch, keeps following the cosine after that (rising
/// back to `baseLR` at 2·tMax). Use it per step, or per epoch through `PerEpochLR` as the official
/// TVP code does (`CosineAnnealingLR(optimizer, T_max=epochs)`, stepped after each epoch, its lr
/// read at the start of the next: epoch e trains with lr(e); with 1 epoch the lr stays `baseLR`).
public struct CosineAnnealingLR: LearningRateSchedule {
    public let baseLR: Float
    public let tMax: Int
    public let minLR: Float

    /// Throws unless `tMax` > 0 and both rates are finite and >= 0.
    public init(baseLR: Float, tMax: Int, minLR: Float = 0) throws {
        try requireRate("CosineAnnealingLR", "baseLR", baseLR)
        try requireRate("CosineAnnealingLR", "minLR", minLR)
        try require(tMax > 0, "CosineAnnealingLR", "tMax must be > 0, got \(tMax)")
        self.baseLR = baseLR
        self.tMax = tMax
        self.minLR = minLR
    }

    public func learningRate(at step: Int) -> Float {
        let t = Double(max(step, 0))
        return Float(cosineBetween(Double(baseLR), Double(minLR), elapsed: t, span: Double(tMax)))
    }
}

/// `minLR + (baseLR − minLR) · (1 + cos(π · elapsed / span)) / 2`, in the order PyTorch evaluates it.
private func cosineBetween(_ baseLR: Double, _ minLR: Double, elapsed: Double, span: Double) -> Double {
    minLR + (baseLR - minLR) * (1 + cos(Double.pi * elapsed / span)) / 2
}

/// Linear warmup to `baseLR`, then a cosine decay to `minLR` at `totalSteps`, then `minLR`:
///
///     lr(t) = baseLR · (t + 1) / warmupSteps                                    t < warmupSteps
///     lr(t) = minLR + (baseLR − minLR) · (1 + cos(π · (t − W) / (T − W))) / 2   W ≤ t < T
///     lr(t) = minLR                                                             t ≥ T
///
/// (W = warmupSteps, T = totalSteps). Warmup starts at baseLR / W, not 0, so no step is spent at
/// lr 0, and reaches baseLR on step W − 1 and W. Unlike `CosineAnnealingLR` it holds `minLR`
/// after the end instead of rising again.
public struct WarmupCosineLR: LearningRateSchedule {
    public let baseLR: Float
    public let warmupSteps: Int
    public let totalSteps: Int
    public let minLR: Float

    /// Throws unless 0 ≤ `warmupSteps` < `totalSteps` and both rates are finite and >= 0.
    public init(baseLR: Float, warmupSteps: Int, totalSteps: Int, minLR: Float = 0) throws {
        try requireRate("WarmupCosineLR", "baseLR", baseLR)
        try requireRate("WarmupCosineLR", "minLR", minLR)
        try require(warmupSteps >= 0 && warmupSteps < totalSteps, "WarmupCosineLR",
                    "need 0 <= warmupSteps < totalSteps, got warmupSteps \(warmupSteps), totalSteps \(totalSteps)")
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minLR = minLR
    }

    public func learningRate(at step: Int) -> Float {
        let t = max(step, 0)
        if t < warmupSteps { return Float(Double(baseLR) * Double(t + 1) / Double(warmupSteps)) }
        if t >= totalSteps { return minLR }
        return Float(cosineBetween(Double(baseLR), Double(minLR),
                                   elapsed: Double(t - warmupSteps), span: Double(totalSteps - warmupSteps)))
    }
}

/// Linear warmup to `baseLR`, then `baseLR` for good:
///
///     lr(t) = baseLR · (t + 1) / warmupSteps    t < warmupSteps
///     lr(t) = baseLR                            otherwise
public struct WarmupConstantLR: LearningRateSchedule {
    public let baseLR: Float
    public let warmupSteps: Int

    /// Throws for a negative `warmupSteps` or a negative or non-finite `baseLR`.
    public init(baseLR: Float, warmupSteps: Int) throws {
        try requireRate("WarmupConstantLR", "baseLR", baseLR)
        try require(warmupSteps >= 0, "WarmupConstantLR", "warmupSteps must be >= 0, got \(warmupSteps)")
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
    }

    public func learningRate(at step: Int) -> Float {
        let t = max(step, 0)
        return t < warmupSteps ? Float(Double(baseLR) * Double(t + 1) / Double(warmupSteps)) : baseLR
    }
}

/// Holds a schedule of epochs constant within each epoch: step `s` gets the rate of epoch
/// `s / stepsPerEpoch`. `PerEpochLR(try CosineAnnealingLR(baseLR: 10, tMax: epochs), stepsPerEpoch: batches)`
/// is exactly the official TVP learning rate for every batch.
public struct PerEpochLR<Epochs: LearningRateSchedule>: LearningRateSchedule {
    public let epochs: Epochs
    public let stepsPerEpoch: Int

    /// Throws unless `stepsPerEpoch` > 0.
    public init(_ epochs: Epochs, stepsPerEpoch: Int) throws {
        try require(stepsPerEpoch > 0, "PerEpochLR", "stepsPerEpoch must be > 0, got \(stepsPerEpoch)")
        self.epochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
    }

    public func learningRate(at step: Int) -> Float { epochs.learningRate(at: max(step, 0) / stepsPerEpoch) }

    /// The rate of every step of epoch `epoch` (0-based).
    public func learningRate(epoch: Int) -> Float { epochs.learningRate(at: epoch) }
}
