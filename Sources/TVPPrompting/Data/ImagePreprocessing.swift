import TVPTensor

/// The official image pipelines (torchvision on PIL images, `transfer_cls.py`), on tensors:
///
///     train: RandomHorizontalFlip() → Resize(size, BICUBIC) → RandomCrop(size) → ToTensor()
///     test:  Resize(size, BICUBIC) → CenterCrop(size) → ToTensor()
///
/// `Resize(size)` scales the shorter side to `size` and the longer to ⌊size · long / short⌋.
/// PIL's bicubic filter (a = −0.5, widened when shrinking) is `resize(…, mode: .bicubic,
/// antialias: true)` (one axis at a time it is the identity along the other); PIL resizes the
/// width, rounds to 8-bit pixels, then the height and rounds again, so with `quantize` the same
/// two passes clamp to [0, 1] and round to multiples of 1/255, as `ToTensor` would see them.
/// Random draws (flip with probability ½, crop offsets uniform in 0…excess, torchvision's
/// `randint(0, h − th + 1)`) come from the generator passed in, per image in batch order.
public struct ImagePreprocessing: Sendable {
    /// The output side (the prompt's input size: 164 for the official prompt).
    public var size: Int
    /// Round resized values to 8 bits as PIL does.
    public var quantize: Bool

    public init(size: Int, quantize: Bool = true) {
        self.size = size
        self.quantize = quantize
    }

    /// The training pipeline on images [B, 3, H, W] in [0, 1] → [B, 3, size, size].
    public func train(_ images: Tensor, rng: inout RandomGenerator) throws -> Tensor {
        try requireImages(images, "ImagePreprocessing.train")
        let flips = (0..<images.dim(0)).map { _ in rng.uniform() < 0.5 }
        let resized = try resizeShorterSide(flipHorizontally(images, where: flips))
        let (h, w) = (resized.dim(2), resized.dim(3))
        let offsets = (0..<images.dim(0)).map { _ in (rng.below(h - size + 1), rng.below(w - size + 1)) }
        return crop(resized, offsets: offsets)
    }

    /// The test pipeline: resize the shorter side, then the centre crop (torchvision rounds the
    /// offset half to even, as Python's `round`).
    public func test(_ images: Tensor) throws -> Tensor {
        try requireImages(images, "ImagePreprocessing.test")
        let resized = try resizeShorterSide(images)
        let (h, w) = (resized.dim(2), resized.dim(3))
        let top = Int((Double(h - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(w - size) / 2).rounded(.toNearestOrEven))
        return crop(resized, offsets: Array(repeating: (top, left), count: images.dim(0)))
    }

    /// Bicubic (PIL) resize so the shorter side is `size`; images already there are returned as
    /// they are. With `quantize`, as PIL: the width pass first, rounded to 8 bits, then the height
    /// pass, rounded again (intermediate clamping matters next to sharp edges).
    public func resizeShorterSide(_ images: Tensor) throws -> Tensor {
        let (h, w) = (images.dim(2), images.dim(3))
        let (outH, outW) = h <= w ? (size, size * w / h) : (size * h / w, size)
        if (outH, outW) == (h, w) { return images }
        guard quantize else { return try resize(images.detached(), size: (outH, outW), mode: .bicubic, antialias: true) }
        var out = images.detached()
        if outW != w { out = try roundedTo8Bits(resize(out, size: (h, outW), mode: .bicubic, antialias: true)) }
        if outH != h { out = try roundedTo8Bits(resize(out, size: (outH, outW), mode: .bicubic, antialias: true)) }
        return out
    }

    /// Clamps to [0, 1] and rounds to multiples of 1/255 in place.
    private func roundedTo8Bits(_ t: Tensor) -> Tensor {
        let p = t.data
        for i in 0..<t.count { p[i] = (min(max(p[i], 0), 1) * 255).rounded() / 255 }
        return t
    }

    private func requireImages(_ images: Tensor, _ op: String) throws {
        try require(images.rank == 4 && images.dim(1) == 3 && images.dim(0) > 0 && images.dim(2) > 0 && images.dim(3) > 0, op,
                    "images \(describe(images.shape)) should be [B, 3, H, W]")
    }

    /// Mirrors the images whose flag is set (left ↔ right).
    func flipHorizontally(_ images: Tensor, where flips: [Bool]) -> Tensor {
        guard flips.contains(true) else { return images }
        let out = images.detached().copy()
        let (c, h, w) = (images.dim(1), images.dim(2), images.dim(3))
        for (b, flip) in flips.enumerated() where flip {
            for row in 0..<(c * h) {
                let src = images.data + (b * c * h + row) * w, dst = out.data + (b * c * h + row) * w
                for x in 0..<w { dst[x] = src[w - 1 - x] }
            }
        }
        return out
    }

    /// A size×size window of each image at its (top, left).
    func crop(_ images: Tensor, offsets: [(Int, Int)]) -> Tensor {
        let (n, c, h, w) = (images.dim(0), images.dim(1), images.dim(2), images.dim(3))
        if h == size && w == size { return images }
        let out = Tensor(uninitialized: [n, c, size, size])
        for b in 0..<n {
            let (top, left) = offsets[b]
            for ch in 0..<c { for y in 0..<size {
                (out.data + ((b * c + ch) * size + y) * size)
                    .update(from: images.data + ((b * c + ch) * h + top + y) * w + left, count: size)
            } }
        }
        return out
    }
}
