import Foundation
import TVPData
import TVPEngine
import TVPTensor

extension StageRegistry {
    func dataStageKinds() -> [StageKind] {
        [
            StageKind(name: StageKinds.fetch, code: StageCode(["TVPData/Fetch/", "TVPData/Manifest/", "TVPPipeline/Run/DataStages.swift"]),
                      resources: .light) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).fetchStage(context, parameters)
            },
            StageKind(name: StageKinds.render, code: StageCode(["TVPData/Render/", "TVPData/Images/PNGCodec.swift", "TVPPipeline/Run/DataStages.swift"]),
                      resources: .compute) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).renderStage(context, parameters)
            },
            StageKind(name: StageKinds.loadSplit, code: StageCode(["TVPTensor/", "TVPFormats/", "TVPData/", "CJPEGShim/",
                                                                    "TVPPipeline/Run/DataStages.swift", "TVPPipeline/Run/SplitLoaders.swift",
                                                                    "TVPPipeline/Run/ArchiveMembers.swift"]),
                      resources: .light) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).loadSplitStage(context, parameters)
            },
        ]
    }

    /// `fetch` {asset}: puts the asset's files in the asset cache, verified. Result: {files: {name: path}}.
    func fetchStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        guard let name = parameters["asset"]?.stringValue else { throw PipelineError.stage(context.stageID, "no 'asset' parameter") }
        let asset = try manifest.asset(named: name)
        var fetcher = self.fetcher
        let console = self.console
        fetcher.log = { console.detail("  " + $0) }
        var files: [String: JSONValue] = [:]
        for (index, file) in asset.files.enumerated() {
            files[file.name] = .string(try fetcher.fetch(file, of: asset))
            context.progress(Double(index + 1) / Double(asset.files.count), file.name)
        }
        return StageOutput(result: ["asset": .string(name), "files": .object(files)])
    }

    /// `render` {split, count, size, seed}: draws `count` CLEVR-style scenes of `split` with
    /// `CLEVRRenderer` into `<cache>/renders/<stage key>/` in CLEVR's layout (images, scenes, counting
    /// questions, POPE-style probes of the three settings). Resumable: a killed render keeps the
    /// images it wrote. Result {root, split, count}.
    func renderStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        guard let split = parameters["split"]?.stringValue, let count = parameters["count"]?.intValue, let size = parameters["size"]?.intValue,
              let seed = parameters["seed"]?.intValue else { throw PipelineError.stage(context.stageID, "missing split, count, size or seed") }
        let root = ((fetcher.cacheDirectory as NSString).appendingPathComponent("renders") as NSString).appendingPathComponent(context.key.hex)
        let progress = self.progress(context)
        try CLEVRRenderer.render(root: root, split: split, count: count, size: size, seed: UInt64(bitPattern: Int64(seed))) { done, total in
            progress.update(completed: done, total: total, unit: "scene")
        }
        return StageOutput(result: ["root": .string(root), "split": .string(split), "count": .integer(count)])
    }

    /// `load-split` {dataset, loader, split, entries, requires, limit, skip, sampling, seed, classes,
    /// question, image_size}: reads a split through TVPData (`SplitLoaders`; archive members unpacked
    /// by `ArchiveMembers`) and samples the rows from `skip` on: the first `limit` of them, or `limit`
    /// drawn with `Sampling.shuffledIndices`, kept in file order. Images stay raw: the trainer and the evaluator
    /// apply the official image pipelines, and corruptions are applied when a split is evaluated.
    /// Inputs: the dataset's fetch stage, then those of the assets it requires (`requires`:
    /// [{asset, entries}]). Tensor `labels` [N]; classification splits also hold `images`
    /// [N, C, H, W] and result {kind, count, classes, question}; question-answering splits hold
    /// {kind: multiple-choice, count, candidates, samples, image_size} (see `loadedSplit`).
    func loadSplitStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        func parameter<T>(_ key: String, _ read: (JSONValue) -> T?) throws -> T {
            guard let value = parameters[key].flatMap(read) else { throw PipelineError.stage(id, "missing or bad parameter '\(key)'") }
            return value
        }
        func entries(_ json: JSONValue?) throws -> [SplitEntry] {
            guard let list = json?.arrayValue else { throw PipelineError.stage(id, "missing or bad split entries") }
            return try list.map { entry in
                guard let file = entry["file"]?.stringValue else { throw PipelineError.stage(id, "bad split entry \(entry)") }
                return SplitEntry(file: file, member: entry["member"]?.stringValue)
            }
        }
        let dataset: String = try parameter("dataset") { $0.stringValue }
        let split: String = try parameter("split") { $0.stringValue }
        let loader: String = try parameter("loader") { $0.stringValue }
        let limit = parameters["limit"]?.intValue
        let random = parameters["sampling"]?.stringValue == "random"
        let seed = UInt64(bitPattern: Int64(parameters["seed"]?.intValue ?? 0))
        let source = try context.input(at: 0).result()
        // A generated dataset reads its render stage's folder; a manifest dataset its fetched entries.
        let paths = GeneratedDatasets.names.contains(loader) ? [source["root"]?.stringValue ?? ""]
            : try entries(parameters["entries"]).map { try ArchiveMembers.path(of: $0, files: source["files"] ?? .null, stage: id) }
        var required: [String: [String]] = [:]
        for (offset, requirement) in (parameters["requires"]?.arrayValue ?? []).enumerated() {
            let asset: String = try requirement["asset"]?.stringValue ?? { throw PipelineError.stage(id, "bad requirement \(requirement)") }()
            let fetched = try context.input(at: 1 + offset).result()["files"] ?? .null
            required[asset] = try entries(requirement["entries"]).map { try ArchiveMembers.path(of: $0, files: fetched, stage: id) }
        }
        let skip = parameters["skip"]?.intValue ?? 0
        var data = try SplitLoaders.read(loader: loader, dataset: dataset, split: split, paths: paths, required: required,
                                         limit: random ? nil : limit.map { skip + $0 }, imageSize: parameters["image_size"]?.intValue ?? 224, stage: id)
        guard skip < data.count else { throw PipelineError.stage(id, "skip \(skip) leaves none of the \(data.count) samples of \(dataset)/\(split)") }
        var rows = Array(skip..<data.count)
        if let limit, limit < rows.count {
            rows = random ? Array(Sampling.shuffledIndices(count: rows.count, seed: seed).prefix(limit)).sorted().map { skip + $0 } : Array(rows.prefix(limit))
        }
        if rows.count < data.count { data = try data.subset(rows) }
        context.progress(1, "\(data.count) samples read")
        switch data {
        case .classification(let set):
            var classNames = set.classNames
            if let names = parameters["classes"]?.arrayValue?.compactMap(\.stringValue), !names.isEmpty {
                if let bad = set.labels.first(where: { $0 >= names.count }) {
                    throw PipelineError.stage(id, "label \(bad) has no name among the \(names.count) classes given in 'classes'")
                }
                classNames = names
            }
            return StageOutput(tensors: ["images": set.images, "labels": try Tensor(set.labels.map(Float.init), shape: [set.count])],
                               result: ["kind": "classification", "count": .integer(set.count), "classes": .array(classNames.map { .string($0) }),
                                        "question": parameters["question"] ?? .null])
        case .multipleChoice(let set, let size):
            let samples: [JSONValue] = set.samples.map { ["image": .string($0.image), "question": .string($0.question), "answer": .integer($0.answer)] }
            return StageOutput(tensors: ["labels": try Tensor(set.samples.map { Float($0.answer) }, shape: [set.count])],
                               result: ["kind": "multiple-choice", "count": .integer(set.count), "candidates": .array(set.candidates.map { .string($0) }),
                                        "samples": .array(samples), "image_size": size.map { .integer($0) } ?? .null])
        }
    }
}
