import Foundation
import TVPData
import TVPModels
import TVPTensor

/// One question about an image of a set, with its answer.
public struct ZooSample: Sendable, Equatable {
    /// The image's row in its set (in a `ZooCorpus`: over all sets).
    public let image: Int
    public let question: String
    public let answer: String

    public init(image: Int, question: String, answer: String) { (self.image, self.question, self.answer) = (image, question, answer) }
}

/// Raw images of one data set as the zoo trains and evaluates on them, each with a class (the ViT's
/// pretraining label and the guide's caption) and the questions asked about it.
public struct ZooImageSet {
    /// A short name ("fashion-mnist", "mnist", "clevr-counting", "pope").
    public let name: String
    /// [N, C, H, W] in [0, 1], C = 1 (gray) or 3.
    public let images: Tensor
    public let labels: [Int]
    public let classNames: [String]
    /// The guide's caption of a class, `{class}` replaced by its name.
    public let caption: String
    /// The questions about the images, `image` a row of `images`.
    public let samples: [ZooSample]
    /// For scenes, the object categories in each image (indices of `CLEVRPOPE.categories`); empty otherwise.
    public let objectCategories: [Set<Int>]

    public init(name: String, images: Tensor, labels: [Int], classNames: [String], caption: String, samples: [ZooSample],
                objectCategories: [Set<Int>] = []) throws {
        try require(images.rank == 4 && (images.dim(1) == 1 || images.dim(1) == 3) && images.dim(0) == labels.count, "ZooImageSet",
                    "\(name): images \(describe(images.shape)) should be [\(labels.count), 1 or 3, H, W]")
        try require(labels.allSatisfy { $0 >= 0 && $0 < classNames.count }, "ZooImageSet", "\(name): a label is outside 0..<\(classNames.count)")
        try require(samples.allSatisfy { $0.image >= 0 && $0.image < labels.count }, "ZooImageSet", "\(name): a sample's image is outside 0..<\(labels.count)")
        try require(objectCategories.isEmpty || objectCategories.count == labels.count, "ZooImageSet",
                    "\(name): \(objectCategories.count) object category sets for \(labels.count) images")
        (self.name, self.images, self.labels, self.classNames, self.caption, self.samples) = (name, images, labels, classNames, caption, samples)
        self.objectCategories = objectCategories
    }

    /// A classification set asked two questions per image: the official classification prompt
    /// answered by the class name, and a caption request answered by "This is a photo of a {class}."
    public static func classification(name: String, images: Tensor, labels: [Int], classNames: [String]) throws -> ZooImageSet {
        let samples = labels.enumerated().flatMap { i, label in
            [ZooSample(image: i, question: Zoo.classificationPrompt, answer: classNames[label]),
             ZooSample(image: i, question: Zoo.describeQuestion, answer: "This is a photo of a \(classNames[label]).")]
        }
        return try ZooImageSet(name: name, images: images, labels: labels, classNames: classNames, caption: Zoo.caption("{class}"), samples: samples)
    }

    public var count: Int { labels.count }

    /// The rows `indices` (in that order) with their samples.
    public func subset(_ indices: [Int]) throws -> ZooImageSet {
        let flat = try images.reshaped([count, -1])
        let picked = try withoutGrad { try gatherRows(flat, indices) }.reshaped([indices.count] + Array(images.shape.dropFirst()))
        var row: [Int: Int] = [:]
        for (new, old) in indices.enumerated() where row[old] == nil { row[old] = new }
        let kept = samples.compactMap { s in row[s.image].map { ZooSample(image: $0, question: s.question, answer: s.answer) } }
        return try ZooImageSet(name: name, images: picked, labels: indices.map { labels[$0] }, classNames: classNames, caption: caption, samples: kept,
                               objectCategories: objectCategories.isEmpty ? [] : indices.map { objectCategories[$0] })
    }

    /// The first `n` images of each class, in index order (deterministic, no randomness).
    public func firstPerClass(_ n: Int) throws -> ZooImageSet {
        var taken = [Int](repeating: 0, count: classNames.count), rows: [Int] = []
        for (i, label) in labels.enumerated() where taken[label] < n { taken[label] += 1; rows.append(i) }
        return try subset(rows)
    }

    /// The samples asking `question`.
    public func samples(asking question: String) -> [ZooSample] { samples.filter { $0.question == question } }

    /// Fashion-MNIST's `train` or `test` split from `<assets>/fashion-mnist/`.
    public static func fashionMNIST(split: String, assets: String) throws -> ZooImageSet {
        let prefix = split == "train" ? "train" : "t10k"
        let images = try ZooAsset(asset: "fashion-mnist", file: "\(prefix)-images-idx3-ubyte.gz").path(in: assets)
        let labels = try ZooAsset(asset: "fashion-mnist", file: "\(prefix)-labels-idx1-ubyte.gz").path(in: assets)
        let set = try MNISTStyle.load(images: images, labels: labels, classNames: Zoo.fashionClassNames)
        return try classification(name: "fashion-mnist", images: set.images, labels: set.labels, classNames: Zoo.fashionClassNames)
    }

    /// mnist-5k's `train` or `test` split (`DigitsCSV.mnist5kRows`: every fifth row is test) from `<assets>/mnist-5k/`.
    public static func mnist(split: String, assets: String) throws -> ZooImageSet {
        let set = try DigitsCSV.loadMNIST5k(ZooAsset(asset: "mnist-5k", file: "mnist_5k.csv.gz").path(in: assets), split: split)
        return try classification(name: "mnist", images: set.images, labels: set.labels, classNames: Zoo.digitClassNames)
    }

    /// `count` CLEVR-style scenes of `split` drawn by `CLEVRRenderer` under `root` (reused when
    /// already there) at the zoo's image size. Class: the object count ("3" … "10"). Questions: CLEVR's
    /// counting question, the first `probesPerImage` POPE probes of each image (`setting`
    /// negatives; yes and no alternate, so an even number is balanced) and, when `describe`, the
    /// caption request answered by `sceneDescription` (every object, left to right).
    public static func clevr(root: String, split: String, count: Int, seed: UInt64, setting: String = "random",
                             probesPerImage: Int = 2, describe: Bool = false) throws -> ZooImageSet {
        try CLEVRRenderer.render(root: root, split: split, count: count, size: Zoo.imageSize, seed: seed)
        let counting = try CLEVR.counting(root: root, split: split)
        let images = try counting.images.load(Array(0..<counting.count))
        var row: [String: Int] = [:]
        for (i, sample) in counting.samples.enumerated() { row[(sample.image as NSString).lastPathComponent] = i }
        let labels = counting.samples.map(\.answer)
        var samples: [ZooSample] = []
        for (i, sample) in counting.samples.enumerated() {
            let n = counting.candidates[sample.answer]
            samples.append(ZooSample(image: i, question: CLEVR.countingQuestion, answer: n))
        }
        let probes = try POPE.load(annotations: CLEVRLayout.popePath(root: root, split: split, setting: setting),
                                   imageDirectory: CLEVRLayout.imageDirectory(root: root, split: split))
        var asked: [Int: Int] = [:]
        for probe in probes.samples {
            guard let i = row[(probe.image as NSString).lastPathComponent] else {
                throw ZooError("\(root): a POPE probe names \(probe.image), which is not an image of split \(split)")
            }
            guard asked[i, default: 0] < probesPerImage else { continue }
            asked[i, default: 0] += 1
            samples.append(ZooSample(image: i, question: probe.question, answer: probes.candidates[probe.answer]))
        }
        let objects = try sceneObjects(root: root, split: split)
        var categories = [Set<Int>](repeating: [], count: counting.count)
        for (name, i) in row.sorted(by: { $0.value < $1.value }) {
            guard let inScene = objects[name] else { throw ZooError("\(root): scene file has no scene for \(name)") }
            categories[i] = Set(try inScene.map { o in
                guard let c = CLEVRPOPE.categoryIndex[o] else { throw ZooError("\(root): \(name) holds a \(o), not one of the 24 POPE categories") }
                return c
            })
            if describe { samples.append(ZooSample(image: i, question: Zoo.describeQuestion, answer: Zoo.sceneDescription(inScene))) }
        }
        return try ZooImageSet(name: "clevr", images: images, labels: labels, classNames: counting.candidates,
                               caption: Zoo.countingCaption, samples: samples, objectCategories: categories)
    }
}

extension ZooImageSet {
    /// Image file name → its objects as POPE names them ("{color} {shape}"), left to right, from
    /// `split`'s CLEVR scenes file under `root`.
    static func sceneObjects(root: String, split: String) throws -> [String: [String]] {
        struct Scenes: Decodable { let scenes: [Scene] }
        struct Scene: Decodable { let image_filename: String; let objects: [Object] }
        struct Object: Decodable { let color: String; let shape: String; let pixel_coords: [Double] }
        let path = CLEVRLayout.scenesPath(root: root, split: split)
        let scenes: [Scene]
        do { scenes = try JSONDecoder().decode(Scenes.self, from: Data(contentsOf: URL(fileURLWithPath: path))).scenes }
        catch { throw ZooError("\(path): not a CLEVR scenes file with colors, shapes and pixel_coords (\(error))") }
        var objects: [String: [String]] = [:]
        for scene in scenes {
            let sorted = scene.objects.sorted { ($0.pixel_coords.first ?? 0) < ($1.pixel_coords.first ?? 0) }
            objects[scene.image_filename] = sorted.map { "\($0.color) \($0.shape)" }
        }
        return objects
    }
}

extension Zoo {
    /// A scene's caption: "There are 3 objects: a red cube, a blue sphere and a gray cylinder."
    /// (`objects` as POPE names them, "{color} {shape}", in the order given).
    public static func sceneDescription(_ objects: [String]) -> String {
        let listed = objects.map { "a \($0)" }
        let list = listed.count < 2 ? listed.joined() : listed.dropLast().joined(separator: ", ") + " and " + listed.last!
        return "There \(objects.count == 1 ? "is 1 object" : "are \(objects.count) objects"): \(list)."
    }

    /// The caption request every corpus image is also asked.
    public static let describeQuestion = "Describe the image."
    /// The guide's caption of an object count (Pipelines/clevr.yaml's `caption:`).
    public static let countingCaption = "a photo of {class} objects"

    /// Raw images [B, C, H, W] (C = 1 gray or 3) → the zoo's clean input [B, 3, 128, 128]: exactly the
    /// evaluator's official zero-shot input — gray copied to three channels, PIL bicubic resize of
    /// the shorter side to the 96 px inner size and centre crop (`ImagePipeline.tvpTest`), and a zero
    /// frame of 16 px.
    public static func framedImages(_ images: Tensor) throws -> Tensor {
        try require(images.rank == 4 && (images.dim(1) == 1 || images.dim(1) == 3), "Zoo.framedImages",
                    "images \(describe(images.shape)) should be [B, 1 or 3, H, W]")
        let rgb = images.dim(1) == 1 ? try expandGrayToRGB(images) : images
        let inner = try ImagePipeline.tvpTest(imageSize: innerSize).apply(rgb, seed: 0)
        return try pad(inner, padding: [(0, 0), (0, 0), (frame, frame), (frame, frame)])
    }
}

/// The connectors' training corpus: images from train splits only and their questions and answers,
/// over several sets (each set's classes follow the classes of the sets before it).
public struct ZooCorpus {
    public let sets: [ZooImageSet]
    /// The class of each image over all sets.
    public let labels: [Int]
    /// Every set's class names, in label order.
    public let classNames: [String]
    /// The guide's caption of each class.
    public let captions: [String]
    /// Every set's samples, `image` counted over all sets.
    public let samples: [ZooSample]

    public init(sets: [ZooImageSet]) throws {
        try require(!sets.isEmpty, "ZooCorpus", "needs at least one image set")
        var labels: [Int] = [], names: [String] = [], captions: [String] = [], samples: [ZooSample] = []
        for set in sets {
            samples += set.samples.map { ZooSample(image: $0.image + labels.count, question: $0.question, answer: $0.answer) }
            labels += set.labels.map { $0 + names.count }
            names += set.classNames
            captions += set.classNames.map { set.caption.replacingOccurrences(of: "{class}", with: $0) }
        }
        (self.sets, self.labels, self.classNames, self.captions, self.samples) = (sets, labels, names, captions, samples)
    }

    public var imageCount: Int { labels.count }

    /// Every scene's row (over all sets) and the object categories in it.
    public var scenes: [(row: Int, categories: Set<Int>)] {
        var offset = 0, scenes: [(row: Int, categories: Set<Int>)] = []
        for set in sets {
            scenes += set.objectCategories.enumerated().map { (offset + $0.offset, $0.element) }
            offset += set.count
        }
        return scenes
    }

    /// `encode` over every set's framed images in batches of `batchSize`, without gradients; each
    /// output concatenated over all images in corpus order.
    public func encoded(batchSize: Int = 32, _ encode: (_ framed: Tensor) throws -> [String: Tensor]) throws -> [String: Tensor] {
        var parts: [String: [Tensor]] = [:]
        try withoutGrad {
            for set in sets {
                for start in stride(from: 0, to: set.count, by: batchSize) {
                    let batch = try Zoo.framedImages(slice(set.images, axis: 0, range: start..<min(set.count, start + batchSize)))
                    for (name, t) in try encode(batch) { parts[name, default: []].append(t) }
                }
            }
        }
        return try parts.mapValues { try concat($0, axis: 0) }
    }

    /// Every image framed [N, 3, 128, 128], in corpus order.
    public func framedImages() throws -> Tensor { try encoded { ["framed": $0] }["framed"]! }
}
