import Foundation
import TVPEngine
import TVPFormats
import TVPModels
import TVPPipeline
import TVPPrompting
import TVPTensor

/// The parts of `PipelineBenchmark` that touch the cache directly.
enum BenchOutputs {
    /// Stores an entry for every model stage (clean features, guide text, prompt training,
    /// evaluation) of the session's graph under its real key, with outputs of the shapes the real
    /// stages produce: tokens [16, 50, 768] per training batch (CLIP ViT-B/32 tokens), caption
    /// embeddings [C, 512], a prompt of the pipeline's kind with its mask, sample and loss curve,
    /// and predictions with their metrics (each sample
    /// predicted as its index modulo the 10 classes) for splits of `count` samples. Returns how many entries it stored.
    static func storeModelStages(of session: PipelineSession, samples count: Int) throws -> Int {
        var stored = 0
        for node in session.graph.nodes {
            let kind = node.stage.kind
            guard [StageKinds.cleanFeatures, StageKinds.guideText, StageKinds.trainPrompt, StageKinds.evaluate].contains(kind) else { continue }
            let output: StageOutput
            switch kind {
            case StageKinds.cleanFeatures:
                let batches = (count + 15) / 16
                var tensors: [String: Tensor] = [:]
                for b in 0..<batches { tensors["tokens-\(b)"] = Tensor.randn([min(16, count - 16 * b), 50, 768], seed: UInt64(1 + b)) }
                output = StageOutput(tensors: tensors, result: ["batches": .array((0..<batches).map { b in
                    ["indices": .array((16 * b..<min(count, 16 * b + 16)).map { .integer($0) }), "seed": .string(String(b))]
                })])
            case StageKinds.guideText:
                output = StageOutput(tensors: ["embeddings": Tensor.randn([10, 512], seed: 2)],
                                     result: ["captions": .array((0..<10).map { .string("a photo of \($0)") }), "logit_scale": 4.6])
            case StageKinds.trainPrompt:
                let prompt = try PromptSpec(json: node.stage.parameters["prompt"] ?? .null).makePrompt(seed: 3)
                try prompt.load(values: Tensor.randn(prompt.values.shape, std: 0.1, seed: 3) * prompt.mask)
                var metadata = prompt.geometry
                metadata["kind"] = prompt.kind
                let curve: [JSONValue] = (0..<16).map { step in
                    LossRecord(step: step, epoch: 0, lr: 10, total: 2.3 - 0.05 * Double(step), task: 2.3 - 0.05 * Double(step)).json
                }
                output = StageOutput(tensors: ["prompt": prompt.values.detached(), "mask": prompt.mask, "sample": Tensor.uniform([3, 28, 28], seed: 4)],
                                     result: ["metadata": .object(metadata.mapValues { .string($0) }), "curve": .array(curve),
                                              "final_loss": curve.last!["total"]!, "learnable": .integer(prompt.learnableValueCount)])
            default:
                let predictions = (0..<count).map { $0 % 10 }
                let labels = (0..<count).map { $0 % 10 == 0 ? 1 : $0 % 10 }
                let scores = predictions.map { p in (0..<10).map { Float($0 == p ? 1 : 0) } }
                let result = Evaluator().result(model: "bench", protocolName: "bench", scores: scores, labels: labels,
                                                candidates: (0..<10).map(String.init))
                let names = (node.stage.parameters["metrics"]?.arrayValue ?? []).compactMap(\.stringValue)
                output = StageOutput(tensors: ["predictions": try Tensor(predictions.map(Float.init), shape: [count])],
                                     result: ["metrics": .object(try metricValues(names, result: result, labels: labels)), "count": .integer(count),
                                              "correct": .integer(zip(predictions, labels).filter { $0 == $1 }.count)])
            }
            if case .computed = try session.cache.compute(manifest: node.manifest, stageID: node.stage.id, inputIDs: node.stage.inputs,
                                                          body: { output }) {
                stored += 1
            }
        }
        return stored
    }

    /// Per stage kind, the mean body seconds recorded in the `done` markers of the session's graph.
    static func bodySeconds(_ session: PipelineSession) -> [String: Double] {
        var sums: [String: (Double, Int)] = [:]
        for node in session.graph.nodes {
            guard let record = session.cache.record(for: node.key), record.kind == node.stage.kind,
                  ![StageKinds.cleanFeatures, StageKinds.guideText, StageKinds.trainPrompt, StageKinds.evaluate].contains(node.stage.kind)
            else { continue }
            let sum = sums[node.stage.kind] ?? (0, 0)
            sums[node.stage.kind] = (sum.0 + record.seconds, sum.1 + 1)
        }
        return sums.mapValues { $0.0 / Double($0.1) }
    }

    /// A stage kind with the payload it stores.
    struct Sample {
        var kind: String
        var tensors: [String: Tensor]
        var result: JSONValue
        var bytes: Int { tensors.values.reduce(0) { $0 + $1.count * 4 } }
    }

    static func samples(images: Int) -> [Sample] {
        let curve: JSONValue = .array((0..<200).map { ["step": .integer($0), "total": .double(1 / Double($0 + 1))] })
        return [
            Sample(kind: StageKinds.fetch, tensors: [:], result: ["files": ["a": "/x/a", "b": "/x/b"]]),
            Sample(kind: StageKinds.render, tensors: [:], result: ["root": "/x/renders/0123", "split": "train", "count": .integer(images)]),
            Sample(kind: StageKinds.loadSplit, tensors: ["images": Tensor.randn([images, 3, 224, 224], seed: 4),
                                                         "labels": Tensor(zeros: [images])], result: ["count": .integer(images)]),
            Sample(kind: StageKinds.cleanFeatures, tensors: ["tokens": Tensor.randn([images, 50, 768], seed: 5)], result: [:]),
            Sample(kind: StageKinds.guideText, tensors: ["embeddings": Tensor.randn([10, 512], seed: 7)], result: ["captions": .array([])]),
            Sample(kind: StageKinds.trainPrompt, tensors: ["prompt": Tensor.randn([3, 224, 224], seed: 6), "mask": Tensor(zeros: [1, 224, 224])],
                   result: ["curve": curve]),
            Sample(kind: StageKinds.evaluate, tensors: ["predictions": Tensor(zeros: [images])], result: ["metrics": ["accuracy": 0.5]]),
            Sample(kind: StageKinds.aggregate, tensors: [:], result: ["results": .array(Array(repeating: curve, count: 20))]),
            Sample(kind: StageKinds.report, tensors: [:], result: ["files": .object(["report.html": .string(String(repeating: "x", count: 200_000))])]),
        ]
    }

    struct Cost { var hash = 0.0, lock = 0.0, payload = 0.0, small = 0.0, total = 0.0 }

    /// The bookkeeping `StageCache.compute` does around a stage body that returns `sample` at once:
    /// the whole call (total), and its parts timed alone (key hash of a manifest with 40 input keys,
    /// lock with the stale-file sweep, payload write, the four small atomic writes). Best of `iterations`.
    static func bookkeeping(_ sample: Sample, cache: StageCache, iterations: Int) throws -> Cost {
        var best = Cost(hash: .infinity, lock: .infinity, payload: .infinity, small: .infinity, total: .infinity)
        let inputs = (0..<40).map { StageKey(validHex: sha256Hex("input \($0)")) }
        for iteration in 0..<iterations {
            func time(_ body: () throws -> Void) rethrows -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            let parameters: JSONValue = ["sample": .string(sample.kind), "iteration": .integer(iteration), "salt": .integer(Int(getpid()))]
            let manifest = StageManifest(kind: sample.kind, parameters: parameters, inputKeys: inputs, assets: ["a/b": String(repeating: "0", count: 64)],
                                         code: "1")
            var key = manifest.key
            let hash = time { key = StageManifest(kind: manifest.kind, parameters: manifest.parameters, inputKeys: manifest.inputKeys,
                                                       assets: manifest.assets, code: manifest.code).key }
            let total = try time {
                _ = try cache.compute(manifest: manifest, stageID: "bench/\(sample.kind)", inputIDs: []) {
                    StageOutput(tensors: sample.tensors, result: sample.result)
                }
            }
            let folder = cache.directory(for: key) + "-parts"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let lock = try time {
                let fileLock = FileLock(path: folder + "/lock")
                try fileLock.acquire()
                _ = cache.leftovers(in: folder)
                fileLock.release()
            }
            let payload = try time { try Safetensors.write(sample.tensors, metadata: ["stage": "bench"], to: folder + "/payload.safetensors") }
            let small = try time {
                try writeTextFileAtomically(sample.result.canonicalText, to: folder + "/result.json")
                try writeTextFileAtomically(manifest.canonicalText, to: folder + "/manifest.json")
                try writeTextFileAtomically(#"{"done":true}"#, to: folder + "/done")
                try writeTextFileAtomically(#"{"id":"x"}"#, to: folder + "/index")
            }
            try FileManager.default.removeItem(atPath: folder)
            try FileManager.default.removeItem(atPath: cache.directory(for: key))
            best = Cost(hash: min(best.hash, hash), lock: min(best.lock, lock), payload: min(best.payload, payload),
                        small: min(best.small, small), total: min(best.total, total))
        }
        return best
    }
}
