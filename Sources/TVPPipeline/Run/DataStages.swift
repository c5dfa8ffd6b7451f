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

    /// `load-split` {dataset, loader, split, entries, limit, sampling, seed, view, image_size, frame,
    /// classes, question, corruption}: reads a split through TVPData, samples it, turns gray images
    /// to RGB, applies the corruption, and brings the images to the view (shrunk and zero-padded, or
    /// resized). Tensors: `images` [N, 3, S, S], `labels` [N]. Result: {count, classes, question}.
    func loadSplitStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let id = context.stageID
        func parameter<T>(_ key: String, _ read: (JSONValue) -> T?) throws -> T {
            guard let value = parameters[key].flatMap(read) else { throw PipelineError.stage(id, "missing or bad parameter '\(key)'") }
            return value
        }
        let dataset: String = try parameter("dataset") { $0.stringValue }
        let loader: String = try parameter("loader") { $0.stringValue }
        let entries: [String] = try parameter("entries") { $0.arrayValue?.compactMap(\.stringValue) }
        let size: Int = try parameter("image_size") { $0.intValue }
        let view: String = try parameter("view") { $0.stringValue }
        let limit = parameters["limit"]?.intValue
        let random = parameters["sampling"]?.stringValue == "random"
        let fetched = try context.input(at: 0).result()
        let paths = try entries.map { entry -> String in
            guard let path = fetched["files"]?[entry]?.stringValue else {
                throw PipelineError.stage(id, "the fetch stage of \(dataset) did not produce '\(entry)'")
            }
            return path
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
        if random, let limit, limit < set.count {
            var generator = RandomGenerator(seed: UInt64(bitPattern: Int64(parameters["seed"]?.intValue ?? 0)))
            var order = Array(0..<set.count)
            order.shuffle(using: &generator)
            let chosen = order.prefix(limit).sorted()
            let picked = try set.load(Array(chosen))
            set = try ImageClassificationSet(images: picked.images, labels: picked.labels, classNames: set.classNames)
        }
        var classNames = set.classNames
        if let names = parameters["classes"]?.arrayValue?.compactMap(\.stringValue), !names.isEmpty {
            if let bad = set.labels.first(where: { $0 >= names.count }) {
                throw PipelineError.stage(id, "label \(bad) has no name among the \(names.count) classes given in 'classes'")
            }
            classNames = names
        }
        context.progress(0.5, "\(set.count) samples read")
        var images = try expandGrayToRGB(set.images)
        if let corruption = parameters["corruption"], corruption != .null {
            images = try corrupt(images, name: try parameter("corruption") { $0["name"]?.stringValue },
                                 severity: try parameter("corruption") { $0["severity"]?.intValue },
                                 seed: parameters["seed"]?.intValue ?? 0)
        }
        if view == ImageView.padded.rawValue {
            let frame: Int = try parameter("frame") { $0.intValue }
            images = try resize(images, size: (size - 2 * frame, size - 2 * frame), mode: .bilinear, antialias: true)
            images = try pad(images, padding: [(frame, frame), (frame, frame)])
        } else {
            images = try resize(images, size: (size, size), mode: .bilinear, antialias: true)
        }
        let labels = try Tensor(set.labels.map(Float.init), shape: [set.count])
        return StageOutput(tensors: ["images": images, "labels": labels],
                           result: ["count": .integer(set.count), "classes": .array(classNames.map { .string($0) }),
                                    "question": parameters["question"] ?? .null])
    }
}

/// Simplified corruptions in the spirit of CIFAR-10-C (Hendrycks & Dietterich, 2019), on images
/// [N, 3, H, W] in [0, 1], results clamped to [0, 1]; severity 1…5:
/// - `gaussian-noise`: + N(0, σ²), σ = 0.04, 0.06, 0.08, 0.09, 0.10 (seeded);
/// - `brightness`: + 0.1, 0.2, 0.3, 0.4, 0.5 (in RGB, not HSV as CIFAR-10-C);
/// - `contrast`: (x − per-image mean) · c + mean, c = 0.4, 0.3, 0.2, 0.1, 0.05.
public func corrupt(_ images: Tensor, name: String, severity: Int, seed: Int) throws -> Tensor {
    try require(images.rank == 4, "corrupt", "images \(describe(images.shape)) should be [N, C, H, W]")
    try require((1...5).contains(severity), "corrupt", "severity \(severity) is not in 1...5")
    let out = images.copy()
    let n = images.dim(0), per = images.count / max(n, 1)
    let p = out.data
    switch name {
    case "gaussian-noise":
        let sigma = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
        var generator = RandomGenerator(seed: UInt64(bitPattern: Int64(seed)) &+ 0xC0FFEE)
        for i in 0..<out.count { p[i] += Float(sigma) * generator.normal() }
    case "brightness":
        let shift = Float([0.1, 0.2, 0.3, 0.4, 0.5][severity - 1])
        for i in 0..<out.count { p[i] += shift }
    case "contrast":
        let c = Float([0.4, 0.3, 0.2, 0.1, 0.05][severity - 1])
        for image in 0..<n {
            let base = p + image * per
            var mean: Float = 0
            for i in 0..<per { mean += base[i] }
            mean /= Float(max(per, 1))
            for i in 0..<per { base[i] = (base[i] - mean) * c + mean }
        }
    default:
        throw TensorError("corrupt", "unknown corruption '\(name)'; known: " + CorruptionSpec.names.joined(separator: ", "))
    }
    for i in 0..<out.count { p[i] = min(1, max(0, p[i])) }
    return out
}
