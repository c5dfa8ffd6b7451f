import TVPTensor

/// Per-channel (x − mean) / std on images [B, C, H, W], differentiable, as torchvision's Normalize.
public struct ImageNormalization: Equatable, Sendable {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// OpenAI CLIP's statistics, which the official TVP code applies after adding the prompt.
    public static let clip = ImageNormalization(mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711])

    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        try require(images.rank == 4 && images.dim(1) == mean.count, "ImageNormalization",
                    "images \(describe(images.shape)) should be [B, \(mean.count), H, W]")
        let m = try Tensor(mean, shape: [mean.count, 1, 1])
        let s = try Tensor(std.map { 1 / $0 }, shape: [std.count, 1, 1])
        return try (images - m) * s
    }
}
