import TVPTensor

// The prompters of Bahng et al., "Exploring Visual Prompts for Adapting Large-Scale Models"
// (hjbahng/visual_prompting, prompters.py): the prompt is added to the full-size image (no
// shrinking), initialised with torch.randn (here: seeded standard normals), no clamping.

/// `PadPrompter`: a learnable border of width `padSize` around the full image, zero inside.
/// Stored as one [3, S, S] tensor whose centre is zero; `apply` adds `values · mask`, so the centre
/// gets no gradient (Bahng et al. keep four separate border tensors).
public struct PadPrompt: VisualPrompt {
    public let imageSize: Int
    public let padSize: Int
    public let values: Tensor
    public let mask: Tensor
    public var clampToUnitRange = false

    /// Standard-normal border values from `seed`, zero centre.
    public init(imageSize: Int = 224, padSize: Int = 30, seed: UInt64 = 42) throws {
        try require(padSize > 0 && 2 * padSize < imageSize, "PadPrompt", "pad \(padSize) does not fit an image of \(imageSize) px")
        let mask = frameMask(size: imageSize, frame: padSize)
        try self.init(values: Tensor.randn([3, imageSize, imageSize], seed: seed) * mask, padSize: padSize)
    }

    /// A prompt with given values [3, S, S] (the centre is ignored).
    public init(values: Tensor, padSize: Int) throws {
        let size = try frameSide(of: values, named: "values", frame: padSize, "PadPrompt")
        imageSize = size
        self.padSize = padSize
        self.values = values.copy(requiresGrad: true)
        mask = frameMask(size: size, frame: padSize)
    }

    public var kind: String { "pad" }
    public var inputSize: Int { imageSize }
    public var geometry: [String: String] { ["pad": String(padSize)] }

    public func clean(_ images: Tensor) throws -> Tensor {
        try requireInput(images, "PadPrompt")
        return images
    }

    public func apply(to images: Tensor, draw: Int = 0) throws -> Tensor {
        try requireInput(images, "PadPrompt")
        return try finish(images + values * mask)
    }

    public func canvas(draw: Int = 0) throws -> (values: Tensor, covered: Tensor) {
        (try values.detached() * mask, mask)
    }
}

/// `FixedPatchPrompter` and `RandomPatchPrompter`: a learnable P×P patch added to the full image,
/// at the top-left corner (fixed) or at a position drawn anew for every call (random).
/// Bahng et al. draw the row and column uniformly from 0..<(S − P) with numpy; here from `seed`
/// and the call's `draw` index, so a run and its resumption draw the same positions.
public struct PatchPrompt: VisualPrompt {
    public let imageSize: Int
    public let patchSize: Int
    /// Whether the position is re-drawn per call (random patch) or fixed at the top-left.
    public let randomPosition: Bool
    /// The seed of the position draws (random patch only).
    public let positionSeed: UInt64
    /// The patch [3, P, P].
    public let values: Tensor
    /// All ones [3, P, P]: every patch value learns.
    public let mask: Tensor
    public var clampToUnitRange = false

    /// Standard-normal patch values from `seed`.
    public init(imageSize: Int = 224, patchSize: Int = 30, randomPosition: Bool, seed: UInt64 = 42) throws {
        try self.init(values: Tensor.randn([3, patchSize, patchSize], seed: seed), imageSize: imageSize,
                      randomPosition: randomPosition, positionSeed: PatchPrompt.positionSeed(seed))
    }

    /// The seed of the position draws of a patch prompt made from `seed`.
    public static func positionSeed(_ seed: UInt64) -> UInt64 { mixSeed(seed, 0x7061_7463_68) }

    /// A patch with given values [3, P, P].
    public init(values: Tensor, imageSize: Int, randomPosition: Bool, positionSeed: UInt64 = 0) throws {
        try require(values.rank == 3 && values.dim(0) == 3 && values.dim(1) == values.dim(2), "PatchPrompt",
                    "values \(describe(values.shape)) should be [3, P, P]")
        let p = values.dim(1)
        try require(p > 0 && p < imageSize, "PatchPrompt", "a \(p) px patch needs an image larger than \(imageSize) px")
        self.imageSize = imageSize
        patchSize = p
        self.randomPosition = randomPosition
        self.positionSeed = positionSeed
        self.values = values.copy(requiresGrad: true)
        mask = Tensor(repeating: 1, shape: [3, p, p])
    }

    public var kind: String { randomPosition ? "random-patch" : "fixed-patch" }
    public var inputSize: Int { imageSize }
    public var geometry: [String: String] {
        ["image": String(imageSize)].merging(randomPosition ? ["position-seed": String(positionSeed)] : [:]) { a, _ in a }
    }

    /// The patch's top-left corner (row, column) for call `draw`: (0, 0) when fixed.
    public func position(draw: Int) -> (row: Int, column: Int) {
        guard randomPosition else { return (0, 0) }
        var rng = RandomGenerator(seed: mixSeed(positionSeed, UInt64(bitPattern: Int64(draw))))
        let row = rng.below(imageSize - patchSize)
        return (row, rng.below(imageSize - patchSize))
    }

    public func clean(_ images: Tensor) throws -> Tensor {
        try requireInput(images, "PatchPrompt")
        return images
    }

    public func apply(to images: Tensor, draw: Int = 0) throws -> Tensor {
        try requireInput(images, "PatchPrompt")
        return try finish(images + placed(values, draw: draw))
    }

    public func canvas(draw: Int = 0) throws -> (values: Tensor, covered: Tensor) {
        (try placed(values.detached(), draw: draw), try placed(mask, draw: draw))
    }

    /// `patch` [3, P, P] zero-padded to [3, S, S] at the draw's position (differentiable).
    private func placed(_ patch: Tensor, draw: Int) throws -> Tensor {
        let (row, column) = position(draw: draw)
        let rest = imageSize - patchSize
        return try pad(patch, padding: [(row, rest - row), (column, rest - column)])
    }
}
