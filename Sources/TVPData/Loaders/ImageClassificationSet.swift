import TVPTensor

/// Images with one class label each: images [N, C, H, W] in [0, 1], labels in 0..<classNames.count.
public struct ImageClassificationSet {
    public let images: Tensor
    public let labels: [Int]
    public let classNames: [String]

    public init(images: Tensor, labels: [Int], classNames: [String]) throws {
        try require(images.rank == 4 && images.dim(0) == labels.count, "ImageClassificationSet",
                    "images \(describe(images.shape)) do not match \(labels.count) labels")
        if let bad = labels.first(where: { $0 < 0 || $0 >= classNames.count }) {
            throw TensorError("ImageClassificationSet", "label \(bad) outside 0..<\(classNames.count)")
        }
        self.images = images
        self.labels = labels
        self.classNames = classNames
    }

    public var count: Int { labels.count }
}

/// MNIST and Fashion-MNIST from their IDX files (`*-images-idx3-ubyte[.gz]`, `*-labels-idx1-ubyte[.gz]`).
public enum MNISTStyle {
    public static let fashionClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    public static let digitClasses = (0...9).map(String.init)

    /// Loads `limit` (or all) examples; pixel bytes become values in [0, 1].
    public static func load(images imagePath: String, labels labelPath: String, classNames: [String], limit: Int? = nil) throws -> ImageClassificationSet {
        let images = try IDXArray.read(imagePath)
        let labels = try IDXArray.read(labelPath)
        guard images.dims.count == 3 else { throw DataError(imagePath, "expected 3 IDX dimensions [N, H, W], found \(images.dims)") }
        guard labels.dims.count == 1 else { throw DataError(labelPath, "expected 1 IDX dimension [N], found \(labels.dims)") }
        guard images.dims[0] == labels.dims[0] else {
            throw DataError(labelPath, "\(labels.dims[0]) labels for \(images.dims[0]) images in \(imagePath)")
        }
        let n = min(limit ?? images.dims[0], images.dims[0]), h = images.dims[1], w = images.dims[2]
        let tensor = Tensor(uninitialized: [n, 1, h, w])
        for i in 0..<(n * h * w) { tensor.data[i] = Float(images.values[i]) / 255 }
        let labelValues = labels.values.prefix(n).map(Int.init)
        if let bad = labelValues.firstIndex(where: { $0 >= classNames.count }) {
            throw DataError(labelPath, "label \(labelValues[bad]) at index \(bad) is outside the \(classNames.count) classes")
        }
        return try ImageClassificationSet(images: tensor, labels: labelValues, classNames: classNames)
    }
}
