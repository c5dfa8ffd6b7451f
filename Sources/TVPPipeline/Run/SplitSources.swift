import Foundation
import TVPData
import TVPEngine
import TVPPrompting
import TVPTensor

// Adapters from cached stage payloads to TVPPrompting's inputs: a loaded split as a
// `PromptBatchSource`, a corrupted view of one, precomputed clean tokens as a `CleanTokenProvider`,
// and precomputed caption features inside a `TSEGuide`.

/// A loaded split: the batch source the trainer and the evaluator read, and every sample's label.
struct LoadedSplit {
    var source: any PromptBatchSource
    var labels: [Int]
    var classNames: [String] { source.classNames }
}

/// The split stored by a `load-split` stage. Classification splits hold their raw images (tensor
/// `images` [N, C, H, W] in [0, 1]) and are asked the task's question (`ClassificationPrompts`);
/// question-answering splits hold their samples (image path, question, answer index) and decode
/// images a batch at a time (`MultipleChoicePrompts`).
func loadedSplit(_ payload: StagePayload, stage: String) throws -> LoadedSplit {
    let result = try payload.result()
    let labels = try payload.tensor("labels").toArray().map { Int($0) }
    switch result["kind"]?.stringValue {
    case "classification":
        guard let classes = result["classes"]?.arrayValue?.compactMap(\.stringValue) else {
            throw PipelineError.stage(stage, "the loaded split has no class names")
        }
        let set = try ImageClassificationSet(images: try payload.tensor("images"), labels: labels, classNames: classes)
        return LoadedSplit(source: ClassificationPrompts(set, question: result["question"]?.stringValue ?? ClassificationPrompts.officialQuestion),
                           labels: labels)
    case "multiple-choice":
        guard let candidates = result["candidates"]?.arrayValue?.compactMap(\.stringValue),
              let samples = result["samples"]?.arrayValue else { throw PipelineError.stage(stage, "the loaded split has no samples or candidates") }
        let parsed = try samples.map { sample -> VQASample in
            guard let image = sample["image"]?.stringValue, let question = sample["question"]?.stringValue,
                  let answer = sample["answer"]?.intValue else { throw PipelineError.stage(stage, "bad stored sample \(sample)") }
            return VQASample(image: image, question: question, answer: answer)
        }
        let size = result["image_size"]?.intValue.map { ImageSize(height: $0, width: $0) }
        return LoadedSplit(source: MultipleChoicePrompts(try MultipleChoiceSet(samples: parsed, candidates: candidates, size: size)),
                           labels: labels)
    default:
        throw PipelineError.stage(stage, "the loaded split has no known kind (\(result["kind"] ?? .null))")
    }
}

/// A source whose images carry a CIFAR-10-C corruption (TVPData `Corruption`), applied to the raw
/// images before the model's image pipeline. Each sample's draw depends on (seed, its index) only,
/// so it sees the same noise whatever batch it falls in.
struct CorruptedSource: PromptBatchSource {
    let base: any PromptBatchSource
    let corruption: Corruption
    let severity: Int
    let seed: UInt64

    var count: Int { base.count }
    var classNames: [String] { base.classNames }

    func batch(_ indices: [Int]) throws -> PromptBatch {
        var batch = try base.batch(indices)
        let images = batch.images
        let per = images.count / max(batch.count, 1)
        let out = Tensor(uninitialized: images.shape)
        for (b, index) in indices.enumerated() {
            let one = Tensor(storage: images.storage, offset: images.offset + b * per, shape: Array(images.shape.dropFirst()))
            let corrupted = try corruption.apply(to: one, severity: severity, seed: mixSeed(seed, 0xC022, UInt64(index)))
            (out.data + b * per).update(from: corrupted.data, count: per)
        }
        batch.images = out
        return batch
    }
}

/// The clean visual tokens a `clean-features` stage stored, one tensor per training batch, found by
/// the batch's `CleanBatchKey` (samples and augmentation draw). Tokens of a batch it did not store
/// are kept in memory when the trainer hands them over.
final class StoredCleanTokens: CleanTokenProvider {
    private var stored: [String: [CleanBatchKey: (payload: StagePayload, tensor: String)]] = [:]
    private var computed: [String: [CleanBatchKey: Tensor]] = [:]

    /// `payloads`: per surrogate name, its `clean-features` output.
    init(_ payloads: [(surrogate: String, payload: StagePayload)], stage: String) throws {
        for (surrogate, payload) in payloads {
            for (i, entry) in (try payload.result()["batches"]?.arrayValue ?? []).enumerated() {
                guard let indices = entry["indices"]?.arrayValue?.compactMap(\.intValue) else {
                    throw PipelineError.stage(stage, "bad clean-features entry \(entry)")
                }
                let key = CleanBatchKey(indices: indices, augmentationSeed: entry["seed"]?.stringValue.flatMap(UInt64.init))
                stored[surrogate, default: [:]][key] = (payload, "tokens-\(i)")
            }
        }
    }

    var storedCount: Int { stored.values.reduce(0) { $0 + $1.count } }

    func tokens(surrogate: String, batch: CleanBatchKey) throws -> Tensor? {
        if let entry = stored[surrogate]?[batch] { return try entry.payload.tensor(entry.tensor) }
        return computed[surrogate]?[batch]
    }

    func store(_ tokens: Tensor, surrogate: String, batch: CleanBatchKey) throws {
        computed[surrogate, default: [:]][batch] = tokens.detached()
    }
}

/// A TSE guide whose caption features were computed by the `guide-text` stage: images go through
/// the guide, known captions come from the stored rows (others from the guide).
final class PrecomputedTextGuide: TSEGuide {
    let base: any TSEGuide
    private let rows: [String: Tensor]

    /// `features` [C, E]: row i is the features of `captions[i]`.
    init(_ base: any TSEGuide, captions: [String], features: Tensor) throws {
        try require(features.rank == 2 && features.dim(0) == captions.count, "PrecomputedTextGuide",
                    "features \(describe(features.shape)) for \(captions.count) captions")
        self.base = base
        var rows: [String: Tensor] = [:]
        for (i, caption) in captions.enumerated() { rows[caption] = try slice(features, axis: 0, range: i..<(i + 1)) }
        self.rows = rows
    }

    var inputSize: Int { base.inputSize }
    var logitScale: Float { base.logitScale }

    func imageFeatures(_ images: Tensor) throws -> Tensor { try base.imageFeatures(images) }

    func textFeatures(_ captions: [String]) throws -> Tensor {
        try concat(try captions.map { try rows[$0] ?? base.textFeatures([$0]) }, axis: 0)
    }
}
