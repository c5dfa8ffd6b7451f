import Foundation
import TVPData
import TVPModels
import TVPTensor

/// Gray 28×28 images of one data set with their class names, as the zoo trains and evaluates on them.
public struct ZooImageSet {
    /// A short name ("fashion-mnist", "mnist").
    public let name: String
    /// [N, 1, 28, 28] in [0, 1].
    public let images: Tensor
    public let labels: [Int]
    public let classNames: [String]

    public init(name: String, images: Tensor, labels: [Int], classNames: [String]) throws {
        try require(images.rank == 4 && images.dim(1) == 1 && images.dim(0) == labels.count, "ZooImageSet",
                    "\(name): images \(describe(images.shape)) should be [\(labels.count), 1, H, W]")
        try require(labels.allSatisfy { $0 >= 0 && $0 < classNames.count }, "ZooImageSet", "\(name): a label is outside 0..<\(classNames.count)")
        (self.name, self.images, self.labels, self.classNames) = (name, images, labels, classNames)
    }

    public var count: Int { labels.count }

    /// The rows `indices` (in that order).
    public func subset(_ indices: [Int]) throws -> ZooImageSet {
        let flat = try images.reshaped([count, -1])
        let picked = try withoutGrad { try gatherRows(flat, indices) }.reshaped([indices.count] + Array(images.shape.dropFirst()))
        return try ZooImageSet(name: name, images: picked, labels: indices.map { labels[$0] }, classNames: classNames)
    }

    /// The first `n` images of each class, in index order (deterministic, no randomness).
    public func firstPerClass(_ n: Int) throws -> ZooImageSet {
        var taken = [Int](repeating: 0, count: classNames.count), rows: [Int] = []
        for (i, label) in labels.enumerated() where taken[label] < n { taken[label] += 1; rows.append(i) }
        return try subset(rows)
    }

    /// Fashion-MNIST's `train` or `test` split from `<assets>/fashion-mnist/`.
    public static func fashionMNIST(split: String, assets: String) throws -> ZooImageSet {
        let prefix = split == "train" ? "train" : "t10k"
        let images = try ZooAsset(asset: "fashion-mnist", file: "\(prefix)-images-idx3-ubyte.gz").path(in: assets)
        let labels = try ZooAsset(asset: "fashion-mnist", file: "\(prefix)-labels-idx1-ubyte.gz").path(in: assets)
        let set = try MNISTStyle.load(images: images, labels: labels, classNames: Zoo.fashionClassNames)
        return try ZooImageSet(name: "fashion-mnist", images: set.images, labels: set.labels, classNames: Zoo.fashionClassNames)
    }

    /// mnist-5k's zoo `train` (rows 0..<4000) or `test` (rows 4000..<5000) split from `<assets>/mnist-5k/`.
    public static func mnist(split: String, assets: String) throws -> ZooImageSet {
        let set = try DigitsCSV.loadMNIST5k(ZooAsset(asset: "mnist-5k", file: "mnist_5k.csv.gz").path(in: assets))
        let all = try ZooImageSet(name: "mnist", images: set.images, labels: set.labels, classNames: Zoo.digitClassNames)
        return try all.subset(Array(split == "train" ? Zoo.mnist5kTrainRows : Zoo.mnist5kTestRows))
    }
}

extension Zoo {
    /// Gray images [B, 1, h, w] → the zoo's clean input [B, 3, 128, 128]: bilinear resize to the
    /// 96 px inner size, gray copied to three channels, a zero frame of 16 px (the official TVP
    /// zero-shot input, scaled).
    public static func framedImages(_ gray: Tensor) throws -> Tensor {
        try require(gray.rank == 4 && gray.dim(1) == 1, "Zoo.framedImages", "images \(describe(gray.shape)) should be [B, 1, H, W]")
        let inner = try resize(gray, size: (innerSize, innerSize), mode: .bilinear)
        let rgb = try concat([inner, inner, inner], axis: 1)
        return try pad(rgb, padding: [(0, 0), (0, 0), (frame, frame), (frame, frame)])
    }
}

/// One training example: an image of a set, a question and its answer.
public struct ZooSample: Sendable, Equatable {
    public let image: Int
    public let question: String
    public let answer: String
}

/// The connectors' training corpus: images from train splits only and their questions and answers.
public struct ZooCorpus {
    /// [N, 1, 28, 28] gray images of every data set, concatenated.
    public let images: Tensor
    /// The class of each image over all sets (set s's classes follow the classes of the sets before it).
    public let labels: [Int]
    /// Every set's class names, in label order.
    public let classNames: [String]
    public let samples: [ZooSample]

    /// Two examples per image: the official classification prompt answered by the class name, and
    /// a caption request answered by "This is a photo of a {class}."
    public init(sets: [ZooImageSet]) throws {
        try require(!sets.isEmpty, "ZooCorpus", "needs at least one image set")
        images = try concat(sets.map(\.images), axis: 0)
        var labels: [Int] = [], names: [String] = []
        for set in sets {
            labels += set.labels.map { $0 + names.count }
            names += set.classNames
        }
        var samples: [ZooSample] = []
        for (i, label) in labels.enumerated() {
            samples.append(ZooSample(image: i, question: Zoo.classificationPrompt, answer: names[label]))
            samples.append(ZooSample(image: i, question: "Describe the image.", answer: "This is a photo of a \(names[label])."))
        }
        (self.labels, self.classNames, self.samples) = (labels, names, samples)
    }

    public var imageCount: Int { labels.count }
}
