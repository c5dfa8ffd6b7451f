import TVPModels
import TVPTensor

/// The official TVP padding prompt: images are shrunk to `imageSize − 2·frame` pixels and zero-padded
/// back to `imageSize`; a learnable `[3, S, S]` perturbation is added to the padded image before the
/// model's normalization, with no clamping. Only the frame is learnable (the update multiplies by
/// `mask`), so with the defaults (224 px, 30 px frame) 3·(224² − 164²) = 69,840 values are trained.
///
/// As in the official code the whole tensor is added (centre included) and the gradient norm of
/// the update covers the centre too; only the update is masked.
public struct PaddingPrompt: VisualPrompt {
    public let imageSize: Int
    public let frame: Int
    /// The prompt values [3, S, S] in (unnormalized) pixel units; a leaf that requires grad.
    public let perturbation: Tensor
    /// 1 inside the frame, 0 in the centre: [3, S, S].
    public let mask: Tensor
    /// Clamp prompted images to [0, 1] (off, as in the official code).
    public var clampToUnitRange = false

    /// A zero-initialised prompt, as in the official code.
    public init(imageSize: Int = 224, frame: Int = 30) throws {
        try require(frame > 0 && 2 * frame < imageSize, "PaddingPrompt", "frame \(frame) does not fit an image of \(imageSize) px")
        try self.init(perturbation: Tensor(zeros: [3, imageSize, imageSize]), frame: frame)
    }

    /// A prompt with given values (an imported checkpoint, for instance). Values in the centre are
    /// kept as given; training never changes them because the update is masked.
    public init(perturbation: Tensor, frame: Int) throws {
        let size = try frameSide(of: perturbation, named: "perturbation", frame: frame, "PaddingPrompt")
        imageSize = size
        self.frame = frame
        self.perturbation = perturbation.copy(requiresGrad: true)
        mask = frameMask(size: size, frame: frame)
    }

    /// The side of the shrunk image inside the frame (164 for the defaults).
    public var innerSize: Int { imageSize - 2 * frame }

    /// How many prompt values are learnable.
    public var learnableCount: Int { 3 * (imageSize * imageSize - innerSize * innerSize) }

    /// Zero-pads images [B, 3, inner, inner] to [B, 3, S, S] (the clean input used for FCA).
    public func pad(_ images: Tensor) throws -> Tensor {
        try require(images.rank == 4 && images.dim(1) == 3 && images.dim(2) == innerSize && images.dim(3) == innerSize,
                    "PaddingPrompt", "images \(describe(images.shape)) should be [B, 3, \(innerSize), \(innerSize)]")
        return try TVPTensor.pad(images, padding: [(frame, frame), (frame, frame)])
    }

    /// Padded images plus the prompt, then `normalization`: the surrogate's prompted input.
    public func apply(toPadded padded: Tensor, normalization: ImageNormalization = .clip) throws -> Tensor {
        try normalization(padded + perturbation)
    }

    public var kind: String { "padding" }
    public var inputSize: Int { innerSize }
    public var values: Tensor { perturbation }
    public var geometry: [String: String] { ["frame": String(frame)] }

    public func clean(_ images: Tensor) throws -> Tensor { try pad(images) }

    /// Zero-pads images [B, 3, inner, inner] and adds the prompt: [B, 3, S, S] pixel images.
    public func apply(to images: Tensor, draw: Int = 0) throws -> Tensor {
        try finish(pad(images) + perturbation)
    }

    public func canvas(draw: Int = 0) throws -> (values: Tensor, covered: Tensor) {
        (perturbation.detached().copy(), mask)
    }
}
