import Foundation
import TVPData
import TVPEngine
import TVPPrompting

/// What a `load-split` stage reads: labelled images in memory, or questions about image files.
enum SplitData {
    case classification(ImageClassificationSet)
    /// `decodeSize`: the side images are resized to when decoded (sets whose images differ in size).
    case multipleChoice(MultipleChoiceSet, decodeSize: Int?)

    var count: Int {
        switch self {
        case .classification(let set): return set.count
        case .multipleChoice(let set, _): return set.count
        }
    }

    /// The samples at `rows`, in that order.
    func subset(_ rows: [Int]) throws -> SplitData {
        switch self {
        case .classification(let set):
            let picked = try set.load(rows)
            return .classification(try ImageClassificationSet(images: picked.images, labels: picked.labels, classNames: set.classNames))
        case .multipleChoice(let set, let size):
            return .multipleChoice(try MultipleChoiceSet(samples: rows.map { set.samples[$0] }, candidates: set.candidates,
                                                         size: set.images.size), decodeSize: size)
        }
    }
}

/// The TVPData reader of each manifest loader the pipeline reads.
enum SplitLoaders {
    /// The loaders `load-split` reads (checked when a pipeline file is validated).
    static let supported = ["idx-gz", "csv-gz", "svhn-mat", "cifar-python", "cifar-binary", "clevr", "pope", "hateful-memes"]
        + GeneratedDatasets.names

    /// Reads split `split` of `dataset` from its entries' paths (`required`: the entry paths of the
    /// assets the dataset requires, by asset name); `limit` keeps the first samples (nil: all).
    /// `imageSize`: the side question-answering images of mixed sizes are decoded at.
    static func read(loader: String, dataset: String, split: String, paths: [String], required: [String: [String]],
                     limit: Int?, imageSize: Int, stage: String) throws -> SplitData {
        func first(containing text: String) throws -> String {
            guard let path = paths.first(where: { ($0 as NSString).lastPathComponent.contains(text) }) else {
                throw PipelineError.stage(stage, "no entry of \(dataset)/\(split) names a '\(text)' file (entries: \(paths))")
            }
            return path
        }
        let size = ImageSize(height: imageSize, width: imageSize)
        switch loader {
        case "idx-gz":
            let classes = dataset.contains("fashion") ? MNISTStyle.fashionClasses : MNISTStyle.digitClasses
            return .classification(try MNISTStyle.load(images: first(containing: "images"), labels: first(containing: "labels"),
                                                       classNames: classes, limit: limit))
        case "csv-gz":
            return .classification(dataset == "sklearn-digits" ? try DigitsCSV.loadSklearnDigits(paths[0], limit: limit)
                                   : try DigitsCSV.loadMNIST5k(paths[0], split: split, limit: limit))
        case "svhn-mat":
            return .classification(try SVHN.load(paths[0], limit: limit))
        case "cifar-python":
            let folder = (paths[0] as NSString).deletingLastPathComponent
            if FileManager.default.fileExists(atPath: folder + "/meta") {   // CIFAR-100: fine labels, names from meta
                return .classification(try CIFAR.loadPython(paths, labels: .cifar100Fine,
                                                             classNames: CIFAR.readPythonMeta(folder + "/meta", labels: .cifar100Fine), limit: limit))
            }
            return .classification(try CIFAR.loadPython(paths, labels: .cifar10, classNames: CIFAR.cifar10Classes, limit: limit))
        case "cifar-binary":
            return .classification(try CIFAR.loadBinary(paths, labels: .cifar10, classNames: CIFAR.cifar10Classes, limit: limit))
        case "clevr":
            // …/CLEVR_v1.0/scenes/CLEVR_{split}_scenes.json → the root holding scenes/ and images/.
            let scenes = try first(containing: "_scenes.json")
            let root = ((scenes as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            return .multipleChoice(try CLEVR.counting(root: root, split: split, limit: limit), decodeSize: nil)
        case "pope":
            guard let images = required["coco-val2014"]?.first else {
                throw PipelineError.stage(stage, "POPE needs the images of coco-val2014 (the manifest's `requires`)")
            }
            return .multipleChoice(try POPE.load(annotations: paths[0], imageDirectory: images, size: size, limit: limit), decodeSize: imageSize)
        case "hateful-memes":
            let root = (paths[0] as NSString).deletingLastPathComponent
            return .multipleChoice(try HatefulMemes.load(root: root, split: split, size: size, limit: limit), decodeSize: imageSize)
        case GeneratedDatasets.clevrRender:         // paths[0]: the render stage's folder, in CLEVR's layout
            return .multipleChoice(try CLEVR.counting(root: paths[0], split: GeneratedDatasets.renderSplit(split), limit: limit), decodeSize: nil)
        case GeneratedDatasets.popeRender:
            let rendered = GeneratedDatasets.renderSplit(split)
            return .multipleChoice(try POPE.load(annotations: CLEVRLayout.popePath(root: paths[0], split: rendered, setting: GeneratedDatasets.popeSetting(split)),
                                                 imageDirectory: CLEVRLayout.imageDirectory(root: paths[0], split: rendered), limit: limit),
                                   decodeSize: nil)
        default:
            throw PipelineError.stage(stage, "the load stage does not read loader '\(loader)'; it reads " + supported.joined(separator: ", "))
        }
    }
}
