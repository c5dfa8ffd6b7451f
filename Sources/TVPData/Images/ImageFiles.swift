import TVPTensor

/// A height and width in pixels.
public struct ImageSize: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let height: Int
    public let width: Int

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    public var description: String { "\(height)×\(width)" }
}

/// PNG or JPEG files decoded on demand, a batch at a time, so large sets (CLEVR, COCO for POPE,
/// ImageNette) never sit in memory whole.
public struct ImageFiles {
    public let paths: [String]
    /// When set, each image is resized to this size (bilinear, antialiased when shrinking, as
    /// PIL's resize); when nil, the images of one batch must all have the same size.
    public let size: ImageSize?

    public init(paths: [String], size: ImageSize? = nil) {
        self.paths = paths
        self.size = size
    }

    public var count: Int { paths.count }

    /// The images at `indices` as [B, 3, H, W] floats in [0, 1].
    public func load(_ indices: [Int]) throws -> Tensor {
        if let bad = indices.first(where: { $0 < 0 || $0 >= paths.count }) {
            throw DataError(paths.first ?? "<no images>", "image index \(bad) is outside 0..<\(paths.count)")
        }
        var out: Tensor?
        var first: (path: String, size: ImageSize)?
        for (b, index) in indices.enumerated() {
            let path = paths[index]
            let image = try ImageFile.decode(path)
            let decodedSize = ImageSize(height: image.height, width: image.width)
            if first == nil { first = (path, decodedSize) }
            // Without a size, the batch takes the first image's size and the others must match it.
            let target = size ?? first!.size
            if out == nil { out = Tensor(uninitialized: [indices.count, 3, target.height, target.width]) }
            let destination = out!.data + b * 3 * target.height * target.width
            if decodedSize == target {
                image.writePlanes(into: destination)
            } else if size != nil {
                let resized = try resize(image.tensor().reshaped([1, 3, image.height, image.width]),
                                         size: (target.height, target.width), mode: .bilinear, antialias: true)
                destination.update(from: resized.data, count: resized.count)
            } else {
                throw DataError(path, "image is \(decodedSize) but \(first!.path) in the same batch is \(first!.size); pass a size to resize them")
            }
        }
        return out ?? Tensor(zeros: [0, 3, size?.height ?? 0, size?.width ?? 0])
    }
}

/// Image files with one class label each, decoded on demand.
public struct LabeledImageFiles {
    public let files: ImageFiles
    public let labels: [Int]
    public let classNames: [String]

    public init(files: ImageFiles, labels: [Int], classNames: [String]) throws {
        guard files.count == labels.count else {
            throw DataError(files.paths.first ?? "<no images>", "\(files.count) images for \(labels.count) labels")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classNames.count }) {
            throw DataError(files.paths[bad], "label \(labels[bad]) is outside the \(classNames.count) classes")
        }
        self.files = files
        self.labels = labels
        self.classNames = classNames
    }

    public var count: Int { labels.count }

    /// The images [B, 3, H, W] and labels at `indices`.
    public func load(_ indices: [Int]) throws -> (images: Tensor, labels: [Int]) {
        (try files.load(indices), indices.map { labels[$0] })
    }

    /// The first `limit` (or all) examples decoded into an in-memory set.
    public func materialized(limit: Int? = nil) throws -> ImageClassificationSet {
        let n = min(limit ?? count, count)
        let (images, labels) = try load(Array(0..<n))
        return try ImageClassificationSet(images: images, labels: labels, classNames: classNames)
    }
}
