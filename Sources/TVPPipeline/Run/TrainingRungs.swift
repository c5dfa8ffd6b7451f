import TVPEngine
import TVPPrompting
import TVPTensor

/// A `train-prompt` stage that is one rung of a halving search (`rung: {steps: S}` in its
/// parameters) trains its prompt for the first S steps of the point's training. The rung after it
/// takes it as its last input and continues from the `TrainingState` it stored, so a point's rungs
/// chain into one training: the last rung's prompt is, bit for bit, the prompt a plain `train-prompt`
/// stage of S steps trains, and a longer search finds its earlier rungs in the cache.
///
/// Payload beside the plain stage's: tensors `state-values` (the prompt after S steps),
/// `state-best` (the best-validated prompt so far) and `state-optimizer-NAME` (the optimizer's
/// running state); result `state` {step, optimizer_steps, best (validation point or null)}; `curve`
/// and `validation` hold every rung's so far, `rung_steps` this rung's step count.
enum TrainingRungs {
    /// The rung's step count, nil for a plain training.
    static func steps(_ parameters: JSONValue) -> Int? { parameters["rung"]?["steps"]?.intValue }

    /// Whether the rung continues the previous rung (its last input).
    static func continues(_ parameters: JSONValue) -> Bool { parameters["rung"]?["continues"] == .bool(true) }

    /// The state a rung stored.
    static func state(_ payload: StagePayload, stage: String) throws -> TrainingState {
        let result = try payload.result()
        guard let state = result["state"], let step = state["step"]?.intValue, let optimizerSteps = state["optimizer_steps"]?.intValue else {
            throw PipelineError.stage(stage, "the previous rung stored no training state (result 'state' {step, optimizer_steps})")
        }
        let prefix = "state-optimizer-"
        var tensors: [String: Tensor] = [:]
        for name in try payload.tensorNames() where name.hasPrefix(prefix) { tensors[String(name.dropFirst(prefix.count))] = try payload.tensor(name) }
        var best: (point: ValidationPoint, values: Tensor)?
        if let point = state["best"], point != .null {
            guard let parsed = ValidationPoint(json: point) else { throw PipelineError.stage(stage, "the previous rung's best point is malformed: \(point)") }
            best = (parsed, try payload.tensor("state-best"))
        }
        return TrainingState(step: step, values: try payload.tensor("state-values"),
                             optimizer: OptimizerState(steps: optimizerSteps, tensors: tensors), best: best)
    }

    /// What a rung stores of `state`: its tensors and its result entry.
    static func output(_ state: TrainingState) -> (tensors: [String: Tensor], json: JSONValue) {
        var tensors = ["state-values": state.values]
        for (name, tensor) in state.optimizer.tensors { tensors["state-optimizer-" + name] = tensor }
        if let best = state.best { tensors["state-best"] = best.values }
        return (tensors, ["step": .integer(state.step), "optimizer_steps": .integer(state.optimizer.steps),
                          "best": state.best.map { $0.point.json } ?? .null])
    }

    /// The validation point a rung kept (the best so far), from its result: what halving ranks.
    static func keptPoint(_ result: JSONValue) -> ValidationPoint? {
        let best = result["best_step"]?.intValue
        return result["validation"]?.arrayValue?.compactMap(ValidationPoint.init(json:)).last { $0.step == best }
    }
}
