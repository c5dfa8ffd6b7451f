import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPModels
import TVPPrompting
import TVPTensor

/// The code of the model stages: the numeric stack and these stage bodies.
private let modelStageCode = StageCode(StageCode.numericStack + ["TVPPipeline/Run/ModelStages.swift", "TVPPipeline/Run/TrainingRungs.swift"])

extension StageRegistry {
    func modelStageKinds() -> [StageKind] {
        [
            StageKind(name: StageKinds.cleanFeatures, code: modelStageCode, resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).cleanFeaturesStage(context, parameters)
            },
            StageKind(name: StageKinds.guideText, code: modelStageCode, resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).guideTextStage(context, parameters)
            },
            StageKind(name: StageKinds.trainPrompt, code: modelStageCode, resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).trainPromptStage(context, parameters)
            },
            StageKind(name: StageKinds.evaluate, code: modelStageCode, resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).evaluateStage(context, parameters)
            },
        ]
    }

    /// `clean-features` {model, prompt, epochs, batch, seed, augment[, validation]}: the surrogate's visual tokens of the clean training
    /// images (FCA's constant reference), batch by batch exactly as `PromptTrainer` will draw them
    /// (the same shuffles and augmentation draws, from the training seed), computed once and shared
    /// by every sweep point that trains with those batches (on the split less its `validation`
    /// held-out items, as the training holds them out). Tensors `tokens-I` [B, T, D]; result
    /// {batches: [{indices, seed}]} (the `CleanBatchKey` of each).
    func cleanFeaturesStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        let model = try self.model(parameters["model"] ?? .null, context: context)
        let split = try loadedSplit(try context.input(at: 0), stage: id)
        guard let epochs = parameters["epochs"]?.intValue, let batch = parameters["batch"]?.intValue, let seed = parameters["seed"]?.intValue,
              case .bool(let augment)? = parameters["augment"] else { throw PipelineError.stage(id, "missing epochs, batch, seed or augment") }
        // Only the batch order and the augmentation draws matter here, not the update.
        let train = TrainSpec(epochs: epochs, batch: batch, optimizer: "tvp", lr: 1, schedule: "cosine", seed: seed, augment: augment)
        let prompt = try PromptSpec(json: parameters["prompt"] ?? .null).makePrompt(seed: train.seed)
        let trainer = try PromptTrainer(surrogates: [model], prompt: prompt,
                                        config: train.trainerConfig(loss: LossSpec(fca: 1, tse: 0), caption: "{class}"))
        let progress = self.progress(context)
        // The items the training draws from: the split less its validation items.
        let validation = parameters["validation"]?.intValue ?? 0
        let source = validation > 0 ? try PromptValidation.holdOut(split.source, count: validation).train : split.source
        let count = source.count
        let stepsPerEpoch = (count + train.batch - 1) / train.batch
        var tensors: [String: Tensor] = [:], batches: [JSONValue] = [], seen: Set<CleanBatchKey> = []
        for epoch in 0..<train.epochs {
            for (step, indices) in trainer.batches(epoch: epoch, count: count).enumerated() {
                let (batch, key) = try trainer.preprocess(source.batch(indices), indices: indices, epoch: epoch, step: step)
                if seen.insert(key).inserted {
                    tensors["tokens-\(batches.count)"] = try withoutGrad { try model.visualTokens(images: prompt.clean(batch.images)) }
                    batches.append(["indices": .array(indices.map { .integer($0) }),
                                    "seed": key.augmentationSeed.map { .string(String($0)) } ?? .null])
                }
                progress.update(completed: epoch * stepsPerEpoch + step + 1, total: train.epochs * stepsPerEpoch, unit: "batch")
            }
        }
        return StageOutput(tensors: tensors, result: ["batches": .array(batches), "model": .string(model.name)])
    }

    /// `guide-text` {guide, caption}: the guide's text features of each class caption. Tensor
    /// `embeddings` [C, E]; result {captions, logit_scale}.
    func guideTextStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let guide = try self.guide(parameters["guide"] ?? .null, context: context)
        let split = try loadedSplit(try context.input(at: 0), stage: context.stageID)
        let template = parameters["caption"]?.stringValue ?? PromptTrainingConfig().captionTemplate
        let captions = split.classNames.map { template.replacingOccurrences(of: "{class}", with: $0) }
        let embeddings = try withoutGrad { try guide.textFeatures(captions) }
        return StageOutput(tensors: ["embeddings": embeddings],
                           result: ["captions": .array(captions.map { .string($0) }), "logit_scale": .double(Double(guide.logitScale))])
    }

    /// `train-prompt` {variant, surrogates, guide, prompt, loss, train, caption[, scoring]}: inputs are the
    /// training split, then one `clean-features` per surrogate when fca > 0, then `guide-text` when
    /// tse > 0. Trains with `PromptTrainer` (through the backend). Tensors `prompt` (the values),
    /// `mask` and `sample` (the first training image, for pictures); result {metadata (the prompt
    /// file's kind and geometry), curve, final_loss, validation, best_step, prompt_sha256,
    /// learnable, …} (the aggregate judges the curve and the validation points: `TrainingDiagnostics`). With `train.validation` the split's held-out items score the
    /// prompt during training (candidates scored as `scoring` says) and the best prompt is kept.
    /// With `rung: {steps[, continues]}` it is a rung of a halving search (`TrainingRungs`): it
    /// stops after that many steps and stores the state the next rung continues from.
    func trainPromptStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        let backend = try requireBackend(context)
        let spec = try PromptSpec(json: parameters["prompt"] ?? .null)
        let loss = try LossSpec(json: parameters["loss"] ?? .null)
        let train = try TrainSpec(json: parameters["train"] ?? .null)
        guard let variant = parameters["variant"]?.stringValue.flatMap(PromptVariant.init(rawValue:)),
              let surrogateJSON = parameters["surrogates"]?.arrayValue, !surrogateJSON.isEmpty else {
            throw PipelineError.stage(id, "missing 'variant' or 'surrogates'")
        }
        let surrogates = try surrogateJSON.map { try model($0, context: context) }
        let split = try loadedSplit(try context.input(at: 0), stage: id)
        var next = 1
        var cleanTokens: StoredCleanTokens?
        if loss.fca > 0 {
            cleanTokens = try StoredCleanTokens(surrogates.map { model in defer { next += 1 }; return (model.name, try context.input(at: next)) },
                                                stage: id)
        }
        var guide: (any TSEGuide)?
        if loss.tse > 0 {
            let text = try context.input(at: next)
            let captions = (try text.result()["captions"]?.arrayValue ?? []).compactMap(\.stringValue)
            guide = try PrecomputedTextGuide(self.guide(parameters["guide"] ?? .null, context: context), captions: captions,
                                             features: text.tensor("embeddings"))
        }
        guard let scoring = CandidateScoring(rawValue: parameters["scoring"]?.stringValue ?? "mean") else {
            throw PipelineError.stage(id, "unknown 'scoring' \(parameters["scoring"]!)")
        }
        var source = split.source
        var validation: PromptValidation?
        if train.validation > 0 {
            let parts = try PromptValidation.holdOut(split.source, count: train.validation)
            source = parts.train
            validation = try PromptValidation(source: parts.validation, every: train.validateEvery, scoring: scoring)
        }
        let prompt = try spec.makePrompt(seed: train.seed)
        // The task named in the stage id `train[TASK/VARIANT]` (one of them, when tasks share the training).
        let task = id.hasPrefix("train[") ? String(id.dropFirst(6).prefix { $0 != "/" }) : ""
        var config = train.trainerConfig(loss: loss, caption: parameters["caption"]?.stringValue ?? "this is a photo of a {class}")
        config.candidateScoring = scoring
        var job = PromptTrainingJob(task: task, variant: variant, surrogates: surrogates, guide: guide,
                                    source: source, prompt: prompt,
                                    config: config, cleanTokens: cleanTokens, validation: validation)
        // A rung: the curve and validation points of the rungs before it come first.
        var earlierCurve: [JSONValue] = [], earlierValidation: [JSONValue] = []
        if let steps = TrainingRungs.steps(parameters) {
            let batches = (source.count + train.batch - 1) / train.batch
            guard steps <= train.epochs * batches else {
                throw PipelineError.stage(id, "rung \(steps) is past the \(train.epochs * batches) steps of this training (\(train.epochs) epoch(s) of "
                                          + "\(batches) batches of \(train.batch)): lower the sweep's rungs or raise train.epochs")
            }
            job.stoppingAfter = steps
            if TrainingRungs.continues(parameters) {
                let previous = try context.input(at: context.inputCount - 1)
                job.continuing = try TrainingRungs.state(previous, stage: id)
                earlierCurve = try previous.result()["curve"]?.arrayValue ?? []
                earlierValidation = try previous.result()["validation"]?.arrayValue ?? []
            }
        }
        let started = Date()
        resetPeakRSS()
        let trained = try backend.trainPrompt(job, progress: progress(context))
        let seconds = Date().timeIntervalSince(started)
        guard trained.prompt.kind == prompt.kind, trained.prompt.values.shape == prompt.values.shape else {
            throw PipelineError.stage(id, "the backend returned a '\(trained.prompt.kind)' prompt of shape \(describe(trained.prompt.values.shape)); " +
                                      "expected '\(prompt.kind)' \(describe(prompt.values.shape))")
        }
        var metadata = trained.prompt.geometry
        metadata["kind"] = trained.prompt.kind
        if trained.prompt.clampToUnitRange { metadata["clamp"] = "1" }
        let sample = try source.batch([0]).images
        let values = trained.prompt.values.detached()
        var tensors = ["prompt": values, "mask": trained.prompt.mask, "sample": try sample.reshaped(Array(sample.shape.dropFirst()))]
        let curve = earlierCurve + trained.curve.map(\.json)
        var result: [String: JSONValue] = [
            "metadata": .object(metadata.mapValues { .string($0) }), "curve": .array(curve),
            "final_loss": curve.last?["total"] ?? .null,
            "validation": .array(earlierValidation + trained.validation.map(\.json)),
            "best_step": trained.bestStep.map { .integer($0) } ?? .null,
            // SHA-256 of the prompt's float32 values (little-endian): bit-identical runs match.
            "prompt_sha256": .string(float32Digest(values)),
            "learnable": .integer(trained.prompt.learnableValueCount),
            // The paper's cost table: time, the process's peak memory while it trained (`resetPeakRSS`
            // at the start), and the prompt's size against the connectors it adapts.
            "seconds": .double(seconds), "peak_rss_mib": .double(peakRSSMiB()),
            "adapter_values": .array(surrogates.map { $0.adapterValueCount.map { .integer($0) } ?? .null }),
        ]
        if let steps = job.stoppingAfter {
            guard let state = trained.state else { throw PipelineError.stage(id, "the backend's training returned no state for the next rung") }
            let stored = TrainingRungs.output(state)
            tensors.merge(stored.tensors) { a, _ in a }
            result["state"] = stored.json
            result["rung_steps"] = .integer(steps)
        }
        return StageOutput(tensors: tensors, result: .object(result))
    }

    /// `evaluate` {task, model, protocol, prompt, metrics, batch, corruption[, seed (with a corruption)][, scoring]}: inputs are the
    /// test split, then the trained prompt for vp/tvp (then the model's fetch stage, if any). Runs the
    /// `Evaluator` (through the backend) under the protocol's `EvaluationProtocol`, on the corrupted
    /// images when a corruption is given. Tensor `predictions` [N]; result {metrics, count, correct,
    /// items}: `items` has a character per test sample in source order, `1` where the prediction is
    /// the true label, `0` elsewhere (what the aggregate's intervals and paired comparisons read).
    func evaluateStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        let backend = try requireBackend(context)
        let model = try self.model(parameters["model"] ?? .null, context: context)
        let split = try loadedSplit(try context.input(at: 0), stage: id)
        let spec = try PromptSpec(json: parameters["prompt"] ?? .null)
        guard let evaluation = parameters["protocol"]?.stringValue.flatMap(ProtocolSpec.init(rawValue:)) else {
            throw PipelineError.stage(id, "missing or unknown 'protocol'")
        }
        let trained = evaluation.variant == nil ? nil : try trainedPrompt(try context.input(at: 1), stage: id)
        var source = split.source
        if let corruption = parameters["corruption"], corruption != .null {
            guard let name = corruption["name"]?.stringValue, let kind = Corruption(rawValue: name),
                  let severity = corruption["severity"]?.intValue else { throw PipelineError.stage(id, "bad corruption \(corruption)") }
            source = CorruptedSource(base: source, corruption: kind, severity: severity,
                                     seed: UInt64(bitPattern: Int64(parameters["seed"]?.intValue ?? 0)))
        }
        guard let scoring = CandidateScoring(rawValue: parameters["scoring"]?.stringValue ?? "mean") else {
            throw PipelineError.stage(id, "unknown 'scoring' \(parameters["scoring"]!)")
        }
        let job = EvaluationJob(model: model, source: source, evaluation: try evaluation.evaluatorProtocol(prompt: spec, trained: trained),
                                batch: max(1, parameters["batch"]?.intValue ?? 16), scoring: scoring)
        let result = try backend.evaluate(job, progress: progress(context))
        guard result.predictions.count == split.labels.count else {
            throw PipelineError.stage(id, "the backend returned \(result.predictions.count) predictions for \(split.labels.count) samples")
        }
        let names = (parameters["metrics"]?.arrayValue ?? ["accuracy"]).compactMap(\.stringValue)
        let hits = zip(result.predictions, split.labels).map { $0 == $1 }
        return StageOutput(tensors: ["predictions": try Tensor(result.predictions.map(Float.init), shape: [result.predictions.count])],
                           result: ["metrics": .object(try metricValues(names, result: result, labels: split.labels)),
                                    "count": .integer(result.samples), "correct": .integer(hits.filter { $0 }.count),
                                    "items": .string(String(hits.map { $0 ? "1" : "0" })),
                                    "mean_score": .double(result.meanScore), "mean_answer_score": .double(result.meanAnswerScore)])
    }
}

/// SHA-256 of a tensor's float32 values as little-endian bytes.
func float32Digest(_ tensor: Tensor) -> String {
    sha256Hex(tensor.toArray().flatMap { value -> [UInt8] in
        let bits = value.bitPattern.littleEndian
        return [UInt8(bits & 0xff), UInt8((bits >> 8) & 0xff), UInt8((bits >> 16) & 0xff), UInt8(bits >> 24)]
    })
}

/// The prompt a `train-prompt` stage stored (rebuilt by `PromptFile.prompt`, like a prompt file).
func trainedPrompt(_ payload: StagePayload, stage: String) throws -> any VisualPrompt {
    guard case .object(let object)? = try payload.result()["metadata"] else {
        throw PipelineError.stage(stage, "the trained prompt has no metadata")
    }
    return try PromptFile.prompt(values: payload.tensor("prompt"), metadata: object.compactMapValues(\.stringValue),
                                 source: "\(stage) (cache \(payload.directory))")
}

