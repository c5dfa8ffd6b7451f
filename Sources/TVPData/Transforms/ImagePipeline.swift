import TVPTensor

/// A torchvision `Compose` of `ImageTransform`s with a seeded generator. Input images are
/// [C, H, W] or a batch [N, C, H, W] in [0, 1] — what torchvision's `ToTensor` would produce from the
/// PIL images. Random draws happen image by image in batch order, step by step, so a seed fixes the
/// whole batch. Normalization is not a data step here: TVP adds the prompt first and normalizes
/// after, in the prompting layer (with the model's mean and std).
public struct ImagePipeline: Equatable, Sendable {
    public var steps: [ImageTransform]

    public init(_ steps: [ImageTransform]) {
        self.steps = steps
    }

    /// The official TVP training transform (transfer_cls.py): RandomHorizontalFlip() →
    /// Resize(imageSize, BICUBIC) → RandomCrop(imageSize) → ToTensor, with PIL's 8-bit arithmetic.
    public static func tvpTrain(imageSize: Int = 164, arithmetic: ResizeArithmetic = .uint8) -> ImagePipeline {
        ImagePipeline([
            .randomHorizontalFlip(probability: 0.5),
            .resizeShorterSide(imageSize, filter: .bicubic, arithmetic: arithmetic),
            .randomCrop(height: imageSize, width: imageSize),
        ])
    }

    /// The official TVP test transform: Resize(imageSize, BICUBIC) → CenterCrop(imageSize) → ToTensor.
    public static func tvpTest(imageSize: Int = 164, arithmetic: ResizeArithmetic = .uint8) -> ImagePipeline {
        ImagePipeline([
            .resizeShorterSide(imageSize, filter: .bicubic, arithmetic: arithmetic),
            .centerCrop(height: imageSize, width: imageSize),
        ])
    }

    /// Whether any step draws random numbers.
    public var isRandom: Bool {
        steps.contains { step in
            switch step {
            case .randomCrop, .randomHorizontalFlip: return true
            default: return false
            }
        }
    }

    /// Applies the steps to an image [C, H, W] or to each image of a batch [N, C, H, W] (all must come
    /// out the same size), drawing from `rng`. Returns a new tensor (or the input when no step changes it).
    public func apply(_ images: Tensor, rng: inout RandomGenerator) throws -> Tensor {
        let op = "ImagePipeline.apply"
        try require((images.rank == 3 || images.rank == 4) && images.count > 0, op,
                    "expected images [C, H, W] or [N, C, H, W], got \(describe(images.shape))")
        for step in steps { try step.validate() }
        if images.rank == 3 { return try applyOne(PlanarImage(images), rng: &rng).values }
        let (N, C, H, W) = (images.dim(0), images.dim(1), images.dim(2), images.dim(3))
        var results: [Tensor] = []
        results.reserveCapacity(N)
        for i in 0..<N {
            let view = Tensor(storage: images.storage, offset: images.offset + i * C * H * W, shape: [C, H, W])
            results.append(try applyOne(PlanarImage(view), rng: &rng).values)
        }
        return try stackImages(results, op)
    }

    /// `apply(images, rng:)` with a fresh generator seeded by `seed` (for example the training seed
    /// mixed with the step number).
    public func apply(_ images: Tensor, seed: UInt64) throws -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return try apply(images, rng: &rng)
    }

    /// Applies the pipeline to 8-bit images (converted as torchvision's `ToTensor`: byte / 255, CHW),
    /// which may differ in size as long as they come out the same: [N, 3, H', W'].
    public func apply(_ images: [RGB8Image], rng: inout RandomGenerator) throws -> Tensor {
        let op = "ImagePipeline.apply"
        try require(!images.isEmpty, op, "no images")
        for step in steps { try step.validate() }
        let results = try images.map { try applyOne(PlanarImage($0.tensor()), rng: &rng).values }
        return try stackImages(results, op)
    }

    private func applyOne(_ image: PlanarImage, rng: inout RandomGenerator) throws -> PlanarImage {
        var current = image
        for step in steps { current = try step.apply(current, rng: &rng) }
        return current
    }
}

/// Stacks images [C, H, W] of one shape into [N, C, H, W].
private func stackImages(_ results: [Tensor], _ op: String) throws -> Tensor {
    let shape = results[0].shape
    if let bad = results.firstIndex(where: { $0.shape != shape }) {
        throw TensorError(op, "image \(bad) came out \(describe(results[bad].shape)) but image 0 \(describe(shape)); "
                          + "end the pipeline with a fixed-size crop to batch images of different sizes")
    }
    let out = Tensor(uninitialized: [results.count] + shape)
    let size = results[0].count
    for (i, r) in results.enumerated() { (out.data + i * size).update(from: r.data, count: size) }
    return out
}

/// torchvision's `ToTensor` for a batch of 8-bit images of one size: [N, 3, H, W] = byte / 255.
public func toTensor(_ images: [RGB8Image]) throws -> Tensor {
    guard let first = images.first else { throw TensorError("toTensor", "no images to stack") }
    if let bad = images.firstIndex(where: { $0.width != first.width || $0.height != first.height }) {
        throw TensorError("toTensor", "image \(bad) is \(images[bad].width)×\(images[bad].height) but image 0 is "
                          + "\(first.width)×\(first.height); resize or crop them to one size first")
    }
    let plane = first.width * first.height
    let out = Tensor(uninitialized: [images.count, 3, first.height, first.width])
    for (i, image) in images.enumerated() { image.writePlanes(into: out.data + i * 3 * plane) }
    return out
}
