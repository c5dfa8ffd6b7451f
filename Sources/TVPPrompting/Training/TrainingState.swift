import TVPTensor

/// Where a training stands after some of its steps, complete enough to continue it bit for bit
/// (`PromptTrainer.train(on:validation:continuing:stoppingAfter:)`): the prompt, the optimizer's
/// running state (Adam's moments, SGD's momentum) and the best validation point so far. The batch
/// order, the augmentation draws and the learning rate are functions of (seed, epoch, step), so the
/// position is the step count alone.
public struct TrainingState: Sendable {
    /// Steps done, over all epochs.
    public var step: Int
    /// The prompt's values after them (the trained ones, not the kept best).
    public var values: Tensor
    /// The optimizer's running state for the prompt's values.
    public var optimizer: OptimizerState
    /// The best validation point so far and the prompt values it scored (nil without validation).
    public var best: (point: ValidationPoint, values: Tensor)?

    public init(step: Int, values: Tensor, optimizer: OptimizerState, best: (point: ValidationPoint, values: Tensor)?) {
        self.step = step
        self.values = values
        self.optimizer = optimizer
        self.best = best
    }
}
