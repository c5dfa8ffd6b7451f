import Foundation
import TVPModels
import TVPTensor

extension StageRegistry {
    func modelStageKinds() -> [StageKind] {
        [
            StageKind(name: StageKinds.cleanFeatures, codeVersion: "1", resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).cleanFeaturesStage(context, parameters)
            },
            StageKind(name: StageKinds.guideText, codeVersion: "1", resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).guideTextStage(context, parameters)
            },
            StageKind(name: StageKinds.trainPrompt, codeVersion: "1", resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).trainPromptStage(context, parameters)
            },
            StageKind(name: StageKinds.evaluate, codeVersion: "1", resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).evaluateStage(context, parameters)
            },
        ]
    }

    /// A loaded split (the output of a `load-split` stage) as a `SampleSet`.
    func sampleSet(_ payload: StagePayload, stage: String) throws -> SampleSet {
        let result = try payload.result()
        let labels = try payload.tensor("labels")
        guard let classes = result["classes"]?.arrayValue?.compactMap(\.stringValue) else {
            throw PipelineError.stage(stage, "the loaded split has no class names")
        }
        return SampleSet(images: try payload.tensor("images"), labels: labels.toArray().map { Int($0) }, classNames: classes,
                         question: result["question"]?.stringValue ?? "")
    }

    /// `clean-features` {model, batch}: the model's visual tokens of the clean training images
    /// (FCA's constant target), computed once and shared by every sweep point. Tensor `tokens` [N, T, D].
    func cleanFeaturesStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let model = try self.model(parameters["model"] ?? .null, context: context)
        let data = try sampleSet(try context.input(at: 0), stage: context.stageID)
        let batch = max(1, parameters["batch"]?.intValue ?? 16)
        let progress = self.progress(context)
        var parts: [Tensor] = []
        let n = data.labels.count
        var start = 0
        while start < n {
            let indices = Array(start..<min(n, start + batch))
            parts.append(try withoutGrad { try model.visualTokens(images: try gatherRows(data.images, indices)) })
            start += indices.count
            progress.update(completed: start, total: n, unit: "img")
        }
        return StageOutput(tensors: ["tokens": try concat(parts, axis: 0)], result: ["count": .integer(n)])
    }

    /// `guide-text` {guide, caption}: the guide's text features of each class caption. Tensor
    /// `embeddings` [C, E]; result {captions, logit_scale}.
    func guideTextStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let guide = try self.guide(parameters["guide"] ?? .null, context: context)
        let data = try context.input(at: 0).result()
        let template = parameters["caption"]?.stringValue ?? "this is a photo of a {class}"
        let captions = (data["classes"]?.arrayValue ?? []).compactMap(\.stringValue).map { template.replacingOccurrences(of: "{class}", with: $0) }
        let embeddings = try withoutGrad { try guide.textFeatures(captions) }
        return StageOutput(tensors: ["embeddings": embeddings],
                           result: ["captions": .array(captions.map { .string($0) }), "logit_scale": .double(Double(guide.logitScale))])
    }

    /// `train-prompt` {task, variant, surrogates, guide, prompt, loss, train}: inputs are the training
    /// split, then one `clean-features` per surrogate when fca > 0, then `guide-text` when tse > 0.
    /// Tensors `prompt` (layout shape) and `mask`; result {curve, final_loss, learnable}.
    func trainPromptStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        let backend = try requireBackend(context)
        let prompt = try PromptSpec(json: parameters["prompt"] ?? .null)
        let loss = try LossSpec(json: parameters["loss"] ?? .null)
        let train = try TrainSpec(json: parameters["train"] ?? .null)
        guard let variant = parameters["variant"]?.stringValue.flatMap(PromptVariant.init(rawValue:)),
              let surrogateJSON = parameters["surrogates"]?.arrayValue, !surrogateJSON.isEmpty else {
            throw PipelineError.stage(id, "missing 'variant' or 'surrogates'")
        }
        let surrogates = try surrogateJSON.map { try model($0, context: context) }
        var next = 1
        var features: [Tensor] = []
        if loss.fca > 0 {
            features = try surrogateJSON.indices.map { _ in defer { next += 1 }; return try context.input(at: next).tensor("tokens") }
        }
        var guide: GuideModel?
        var captions: Tensor?
        if loss.tse > 0 {
            guide = try self.guide(parameters["guide"] ?? .null, context: context)
            captions = try context.input(at: next).tensor("embeddings")
        }
        let layout = PromptLayout(prompt)
        let job = PromptTrainingJob(task: parameters["task"]?.stringValue ?? "", variant: variant, surrogates: surrogates,
                                    cleanFeatures: features, guide: guide, captionFeatures: captions,
                                    data: try sampleSet(try context.input(at: 0), stage: id), prompt: prompt, layout: layout,
                                    loss: loss, train: train)
        let trained = try backend.trainPrompt(job, progress: progress(context))
        guard trained.perturbation.shape == layout.shape else {
            throw PipelineError.stage(id, "the backend returned a prompt of shape \(describe(trained.perturbation.shape)); expected \(describe(layout.shape))")
        }
        return StageOutput(tensors: ["prompt": trained.perturbation.detached(), "mask": layout.mask()],
                           result: ["curve": .array(trained.curve.map(\.json)), "final_loss": trained.curve.last.map { .double($0.total) } ?? .null,
                                    "learnable": .integer(layout.learnableCount)])
    }

    /// `evaluate` {task, model, protocol, prompt, metrics, batch, seed}: inputs are the test split,
    /// then the trained prompt for vp/tvp (then the model's fetch stage, if any). Tensor `predictions` [N]; result {metrics, count, correct}.
    func evaluateStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let backend = try requireBackend(context)
        let model = try self.model(parameters["model"] ?? .null, context: context)
        let data = try sampleSet(try context.input(at: 0), stage: context.stageID)
        let layout = PromptLayout(try PromptSpec(json: parameters["prompt"] ?? .null))
        let evaluation = parameters["protocol"]?.stringValue.flatMap(EvaluationProtocol.init(rawValue:))
        let prompt = evaluation?.variant != nil ? try context.input(at: 1).tensor("prompt") : nil
        let job = EvaluationJob(model: model, data: data, prompt: prompt, layout: layout,
                                batch: max(1, parameters["batch"]?.intValue ?? 16), seed: parameters["seed"]?.intValue ?? 0)
        let predictions = try backend.predict(job, progress: progress(context))
        guard predictions.count == data.labels.count else {
            throw PipelineError.stage(context.stageID, "the backend returned \(predictions.count) predictions for \(data.labels.count) samples")
        }
        let names = (parameters["metrics"]?.arrayValue ?? ["accuracy"]).compactMap(\.stringValue)
        var metrics: [String: JSONValue] = [:]
        for name in names { metrics[name] = .double(try metric(name, predictions: predictions, labels: data.labels)) }
        let correct = zip(predictions, data.labels).filter { $0 == $1 }.count
        return StageOutput(tensors: ["predictions": try Tensor(predictions.map(Float.init), shape: [predictions.count])],
                           result: ["metrics": .object(metrics), "count": .integer(predictions.count), "correct": .integer(correct)])
    }
}

/// A classification metric in [0, 1]: `accuracy`, `balanced-accuracy` (mean recall over the classes
/// present in `labels`), `macro-f1` (mean F1 over the classes present in labels or predictions).
public func metric(_ name: String, predictions: [Int], labels: [Int]) throws -> Double {
    guard predictions.count == labels.count, !labels.isEmpty else {
        throw PipelineError.stage("metric", "\(predictions.count) predictions for \(labels.count) labels")
    }
    let pairs = zip(predictions, labels)
    switch name {
    case "accuracy":
        return Double(pairs.filter { $0 == $1 }.count) / Double(labels.count)
    case "balanced-accuracy":
        let classes = Set(labels)
        let recalls = classes.map { c -> Double in
            let positives = labels.filter { $0 == c }.count
            return Double(pairs.filter { $0 == c && $1 == c }.count) / Double(positives)
        }
        return recalls.reduce(0, +) / Double(classes.count)
    case "macro-f1":
        let classes = Set(labels).union(predictions)
        let scores = classes.map { c -> Double in
            let tp = Double(pairs.filter { $0 == c && $1 == c }.count)
            let fp = Double(pairs.filter { $0 == c && $1 != c }.count)
            let fn = Double(pairs.filter { $0 != c && $1 == c }.count)
            return tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
        }
        return scores.reduce(0, +) / Double(classes.count)
    default:
        throw PipelineError.stage("metric", "unknown metric '\(name)'; known: " + EvaluateSpec.metricNames.joined(separator: ", "))
    }
}
