import TVPTensor

/// Common corruptions with CIFAR-10-C's definitions and severity constants (Hendrycks & Dietterich,
/// `make_cifar_c.py`; the 32-pixel constants, not ImageNet-C's). The raw values are the CIFAR-10-C
/// file names. Images are [3, H, W] or [N, 3, H, W] in [0, 1]; outputs are clipped to [0, 1] and
/// not quantized (the release stored uint8(255·x), truncating: see `truncatedToBytes`).
/// Random corruptions draw from our `RandomGenerator`, so their noise is not numpy's.
public enum Corruption: String, CaseIterable, Sendable {
    /// x + N(0, σ²), σ = 0.04, 0.06, 0.08, 0.09, 0.10.
    case gaussianNoise = "gaussian_noise"
    /// Poisson(x·λ) / λ, λ = 500, 250, 100, 75, 50.
    case shotNoise = "shot_noise"
    /// Salt and pepper on each value independently with probability 0.01, 0.02, 0.03, 0.05, 0.07
    /// (half salt 1, half pepper 0; scikit-image `random_noise(mode='s&p')`).
    case impulseNoise = "impulse_noise"
    /// Convolution with an antialiased disk (radius, blur) = (0.3, 0.4), (0.4, 0.5), (0.5, 0.6),
    /// (1, 0.2), (1.5, 0.1), reflect-101 borders (OpenCV `filter2D`).
    case defocusBlur = "defocus_blur"
    /// Gaussian of σ = 0.4, 0.6, 0.7, 0.8, 1 per channel, truncated at 4σ, nearest-edge borders
    /// (scikit-image `gaussian`, i.e. SciPy `gaussian_filter`).
    case gaussianBlur = "gaussian_blur"
    /// (x − channel mean) · c + channel mean, c = 0.75, 0.5, 0.4, 0.3, 0.15.
    case contrast
    /// HSV value + c (clipped to 1), c = 0.05, 0.1, 0.15, 0.2, 0.3 (scikit-image's HSV conversions).
    case brightness
    /// JPEG (libjpeg, 4:2:0) at quality 80, 65, 58, 50, 40 of the image quantized to bytes.
    case jpegCompression = "jpeg_compression"
    /// PIL BOX resize to int(side · c) and BOX back up, c = 0.95, 0.9, 0.85, 0.75, 0.65, in PIL's
    /// 8-bit arithmetic (the reference resizes 8-bit PIL images).
    case pixelate
    /// (x + t · plasma) · m / (m + t), m the image maximum, plasma a diamond-square fractal
    /// (map size 32, or the next power of two above the image) with (t, decay) = (0.2, 3), (0.5, 3),
    /// (0.75, 2.5), (1, 2), (1.5, 1.75).
    case fog

    /// Whether the corruption draws random numbers.
    public var isRandom: Bool {
        switch self {
        case .gaussianNoise, .shotNoise, .impulseNoise, .fog: return true
        default: return false
        }
    }

    /// The corrupted images at `severity` (1…5), drawing from `rng` for the random corruptions
    /// (image by image in batch order).
    public func apply(to images: Tensor, severity: Int, rng: inout RandomGenerator) throws -> Tensor {
        let op = "Corruption.\(rawValue)"
        try require((images.rank == 3 || images.rank == 4) && images.dim(-3) == 3 && images.dim(-2) > 0 && images.dim(-1) > 0,
                    op, "expected images [3, H, W] or [N, 3, H, W], got \(describe(images.shape))")
        try require((1...5).contains(severity), op, "severity \(severity) is outside 1...5")
        let (H, W) = (images.dim(-2), images.dim(-1))
        let out = Tensor(uninitialized: images.shape)
        let imageCount = images.count / (3 * H * W)
        for i in 0..<imageCount {
            let source = CorruptionImage(values: images.data + i * 3 * H * W, height: H, width: W)
            let target = out.data + i * 3 * H * W
            try apply(source, severity: severity, into: target, rng: &rng)
            for p in 0..<(3 * H * W) { target[p] = min(max(target[p], 0), 1) }
        }
        return out
    }

    /// `apply(to:severity:rng:)` with a fresh generator seeded by `seed`.
    public func apply(to images: Tensor, severity: Int, seed: UInt64) throws -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return try apply(to: images, severity: severity, rng: &rng)
    }

    private func apply(_ x: CorruptionImage, severity s: Int, into out: UnsafeMutablePointer<Float>,
                       rng: inout RandomGenerator) throws {
        let i = s - 1
        switch self {
        case .gaussianNoise: addGaussianNoise(x, std: [0.04, 0.06, 0.08, 0.09, 0.10][i], into: out, rng: &rng)
        case .shotNoise: shotNoiseCorruption(x, rate: [500, 250, 100, 75, 50][i], into: out, rng: &rng)
        case .impulseNoise: impulseNoiseCorruption(x, amount: [0.01, 0.02, 0.03, 0.05, 0.07][i], into: out, rng: &rng)
        case .defocusBlur:
            let (radius, aliasBlur) = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][i]
            defocusBlurCorruption(x, radius: radius, aliasBlur: aliasBlur, into: out)
        case .gaussianBlur: gaussianBlurCorruption(x, sigma: [0.4, 0.6, 0.7, 0.8, 1][i], into: out)
        case .contrast: contrastCorruption(x, factor: [0.75, 0.5, 0.4, 0.3, 0.15][i], into: out)
        case .brightness: brightnessCorruption(x, shift: [0.05, 0.1, 0.15, 0.2, 0.3][i], into: out)
        case .jpegCompression: try jpegCompressionCorruption(x, quality: [80, 65, 58, 50, 40][i], into: out)
        case .pixelate: pixelateCorruption(x, factor: [0.95, 0.9, 0.85, 0.75, 0.65][i], into: out)
        case .fog:
            let (thickness, decay) = [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1, 2), (1.5, 1.75)][i]
            fogCorruption(x, thickness: thickness, wibbleDecay: decay, into: out, rng: &rng)
        }
    }

    /// floor(255·x) / 255 of values clamped to [0, 1]: how the CIFAR-10-C release stored each
    /// corrupted image (`np.uint8` of the float result truncates). Values within 1e-4 below a level
    /// count as that level, so Float32 rounding (k/255 · 255 = k − ε) does not drop a level.
    public static func truncatedToBytes(_ images: Tensor) -> Tensor {
        let out = Tensor(uninitialized: images.shape)
        for i in 0..<images.count {
            let v = images.data[i] > 0 ? min(images.data[i], 1) : 0
            out.data[i] = min((v * 255 + 1e-4).rounded(.down), 255) / 255
        }
        return out
    }
}

/// One image's three planes (read-only) during a corruption.
struct CorruptionImage {
    let values: UnsafePointer<Float>
    let height: Int
    let width: Int

    var plane: Int { height * width }
    var count: Int { 3 * height * width }

    init(values: UnsafeMutablePointer<Float>, height: Int, width: Int) {
        self.values = UnsafePointer(values)
        self.height = height
        self.width = width
    }
}
