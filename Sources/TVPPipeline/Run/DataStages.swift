import Foundation
import TVPData
import TVPTensor

extension StageRegistry {
    func dataStageKinds() -> [StageKind] {
        [
            StageKind(name: StageKinds.fetch, codeVersion: "1", resources: .light) { [weak self] context, parameters in
                try StageRegistry.alive(self, context).fetchStage(context, parameters)
            },
            StageKind(name: StageKinds.loadSplit, codeVersion: "1", resources: .light) { [weak self] context, parameters in
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

    /// `load-split` {dataset, loader, split, entries, limit, sampling, seed, classes, question}: reads a
    /// split through TVPData and samples it (the first `limit` samples, or `limit` drawn with
    /// `Sampling.shuffledIndices`, kept in file order). Images stay raw: the trainer and the evaluator
    /// apply the official image pipelines, and corruptions are applied when a split is evaluated.
    /// Tensors `images` [N, C, H, W] (classification only) and `labels` [N]; result {kind, count,
    /// classes, question} or {kind: multiple-choice, count, candidates, samples} (see `loadedSplit`).
    func loadSplitStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        func parameter<T>(_ key: String, _ read: (JSONValue) -> T?) throws -> T {
            guard let value = parameters[key].flatMap(read) else { throw PipelineError.stage(id, "missing or bad parameter '\(key)'") }
            return value
        }
        let dataset: String = try parameter("dataset") { $0.stringValue }
        let loader: String = try parameter("loader") { $0.stringValue }
        let entries: [String] = try parameter("entries") { $0.arrayValue?.compactMap(\.stringValue) }
        let limit = parameters["limit"]?.intValue
        let random = parameters["sampling"]?.stringValue == "random"
        let seed = UInt64(bitPattern: Int64(parameters["seed"]?.intValue ?? 0))
        let fetched = try context.input(at: 0).result()
        let paths = try entries.map { entry -> String in
            guard let path = fetched["files"]?[entry]?.stringValue else {
                throw PipelineError.stage(id, "the fetch stage of \(dataset) did not produce '\(entry)'")
            }
            return path
        }
        /// The chosen rows of a split of `count` samples.
        func chosen(_ count: Int) -> [Int] {
            guard let limit, limit < count else { return Array(0..<count) }
            return random ? Array(Sampling.shuffledIndices(count: count, seed: seed).prefix(limit)).sorted() : Array(0..<limit)
        }
        let loadLimit = random ? nil : limit
        var set: ImageClassificationSet
        switch loader {
        case "idx-gz":
            guard let images = paths.first(where: { $0.contains("images") }), let labels = paths.first(where: { $0.contains("labels") }) else {
                throw PipelineError.stage(id, "split entries \(entries) of \(dataset) do not name an images and a labels file")
            }
            let classes = dataset.contains("fashion") ? MNISTStyle.fashionClasses : MNISTStyle.digitClasses
            set = try MNISTStyle.load(images: images, labels: labels, classNames: classes, limit: loadLimit)
        case "csv-gz":
            if dataset == "sklearn-digits" { set = try DigitsCSV.loadSklearnDigits(paths[0], limit: loadLimit) }
            else { set = try DigitsCSV.loadMNIST5k(paths[0], limit: loadLimit) }
        case "svhn-mat":
            set = try SVHN.load(paths[0], limit: loadLimit)
        default:
            throw PipelineError.stage(id, "the load stage does not read loader '\(loader)'")
        }
        let rows = chosen(set.count)
        if rows.count < set.count {
            let picked = try set.load(rows)
            set = try ImageClassificationSet(images: picked.images, labels: picked.labels, classNames: set.classNames)
        }
        var classNames = set.classNames
        if let names = parameters["classes"]?.arrayValue?.compactMap(\.stringValue), !names.isEmpty {
            if let bad = set.labels.first(where: { $0 >= names.count }) {
                throw PipelineError.stage(id, "label \(bad) has no name among the \(names.count) classes given in 'classes'")
            }
            classNames = names
        }
        context.progress(1, "\(set.count) samples read")
        return StageOutput(tensors: ["images": set.images, "labels": try Tensor(set.labels.map(Float.init), shape: [set.count])],
                           result: ["kind": "classification", "count": .integer(set.count), "classes": .array(classNames.map { .string($0) }),
                                    "question": parameters["question"] ?? .null])
    }
}
