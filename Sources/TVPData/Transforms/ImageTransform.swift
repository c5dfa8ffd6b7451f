import TVPTensor

/// How `Pad` fills the border (torchvision's padding modes).
public enum PadMode: String, Sendable {
    /// The `fill` value.
    case constant
    /// The nearest edge pixel repeated.
    case edge
    /// Mirrored without repeating the edge pixel (… c b | a b c | b a …).
    case reflect
    /// Mirrored with the edge pixel repeated (… b a | a b c | c b …).
    case symmetric
}

/// One step of an image pipeline, with torchvision's semantics on PIL images. Images are
/// [C, H, W] in [0, 1]; flips, crops and pads are exact, so on byte / 255 images every step
/// commutes with torchvision's `ToTensor` (which is why pipelines start from tensors).
public enum ImageTransform: Equatable, Sendable {
    /// `Resize(size)`: the shorter side becomes `shorterSide` and the longer
    /// int(shorterSide · long / short) (torchvision's rounding); unchanged if already that size.
    case resizeShorterSide(Int, filter: PILFilter = .bicubic, arithmetic: ResizeArithmetic = .uint8)
    /// `Resize((height, width))`.
    case resize(height: Int, width: Int, filter: PILFilter = .bicubic, arithmetic: ResizeArithmetic = .uint8)
    /// `CenterCrop((height, width))`: top = int(round((H - height) / 2.0)) with Python's
    /// round-half-to-even (likewise left); an image smaller than the crop is first zero-padded by
    /// (crop - size) // 2 before and (crop - size + 1) // 2 after.
    case centerCrop(height: Int, width: Int)
    /// `RandomCrop((height, width), padding, pad_if_needed)`: pads every side by `padding` (zeros),
    /// then if `padIfNeeded` pads width and height up to the crop on both sides, then draws
    /// top in 0...H - height and left in 0...W - width (no draw when the image is the crop's size).
    case randomCrop(height: Int, width: Int, padding: Int = 0, padIfNeeded: Bool = false)
    /// `RandomHorizontalFlip(p)`: one uniform draw u per image, flipped when u < probability.
    case randomHorizontalFlip(probability: Float = 0.5)
    /// `Pad((left, top, right, bottom), fill, padding_mode)`.
    case pad(left: Int, top: Int, right: Int, bottom: Int, mode: PadMode = .constant, fill: Float = 0)
}

/// One image [C, H, W] (a view of its planes) during a pipeline.
struct PlanarImage {
    let channels: Int
    let height: Int
    let width: Int
    let values: Tensor

    init(_ values: Tensor) {
        self.values = values
        (channels, height, width) = (values.dim(-3), values.dim(-2), values.dim(-1))
    }

    init(channels: Int, height: Int, width: Int) {
        self.init(Tensor(uninitialized: [channels, height, width]))
    }
}

/// Python's round() of x / 2 for an integer x: half to even.
func pythonRoundHalf(_ x: Int) -> Int { Int((Double(x) / 2).rounded(.toNearestOrEven)) }

/// Index into 0..<n for a padded coordinate i (which may be out of range), or nil for `constant`.
func paddedSourceIndex(_ i: Int, _ n: Int, _ mode: PadMode) -> Int? {
    if i >= 0 && i < n { return i }
    switch mode {
    case .constant: return nil
    case .edge: return min(max(i, 0), n - 1)
    case .reflect:
        if n == 1 { return 0 }  // numpy's reflect of a single pixel repeats it
        let period = 2 * (n - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - m
    case .symmetric:
        let period = 2 * n
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - 1 - m
    }
}

/// Pads an image; negative padding is refused by the callers.
func padImage(_ image: PlanarImage, left: Int, top: Int, right: Int, bottom: Int, mode: PadMode, fill: Float) -> PlanarImage {
    let (C, H, W) = (image.channels, image.height, image.width)
    let (OH, OW) = (H + top + bottom, W + left + right)
    let out = PlanarImage(channels: C, height: OH, width: OW)
    let s = image.values.data, d = out.values.data
    let columns = (0..<OW).map { paddedSourceIndex($0 - left, W, mode) }
    for c in 0..<C {
        for y in 0..<OH {
            let row = d + (c * OH + y) * OW
            guard let sy = paddedSourceIndex(y - top, H, mode) else {
                row.update(repeating: fill, count: OW)
                continue
            }
            let src = s + (c * H + sy) * W
            for x in 0..<OW { row[x] = columns[x].map { src[$0] } ?? fill }
        }
    }
    return out
}

/// The window rows top ..< top + height, columns left ..< left + width (inside the image).
func cropImage(_ image: PlanarImage, top: Int, left: Int, height: Int, width: Int) -> PlanarImage {
    if top == 0 && left == 0 && height == image.height && width == image.width { return image }
    let out = PlanarImage(channels: image.channels, height: height, width: width)
    for c in 0..<image.channels {
        for y in 0..<height {
            let src = image.values.data + (c * image.height + top + y) * image.width + left
            (out.values.data + (c * height + y) * width).update(from: src, count: width)
        }
    }
    return out
}

func flipImageHorizontally(_ image: PlanarImage) -> PlanarImage {
    let out = PlanarImage(channels: image.channels, height: image.height, width: image.width)
    let W = image.width
    for row in 0..<(image.channels * image.height) {
        let s = image.values.data + row * W, d = out.values.data + row * W
        for x in 0..<W { d[x] = s[W - 1 - x] }
    }
    return out
}

/// torchvision's `_compute_resized_output_size` for an int size: (height, width).
func shorterSideSize(height: Int, width: Int, shorterSide: Int) -> (Int, Int) {
    let (short, long) = width <= height ? (width, height) : (height, width)
    let newLong = Int(Double(shorterSide * long) / Double(short))
    return width <= height ? (newLong, shorterSide) : (shorterSide, newLong)
}

extension ImageTransform {
    /// Checks the parameters (sizes positive, padding non-negative, probability in [0, 1]).
    func validate() throws {
        let op = "ImageTransform"
        switch self {
        case let .resizeShorterSide(size, _, _):
            try require(size >= 1, op, "resize size \(size) must be positive")
        case let .resize(height, width, _, _), let .centerCrop(height, width):
            try require(height >= 1 && width >= 1, op, "\(self): size \(height)×\(width) must be positive")
        case let .randomCrop(height, width, padding, _):
            try require(height >= 1 && width >= 1 && padding >= 0, op,
                        "\(self): crop size must be positive and padding non-negative")
        case let .randomHorizontalFlip(probability):
            try require(probability >= 0 && probability <= 1, op, "flip probability \(probability) is outside [0, 1]")
        case let .pad(left, top, right, bottom, _, _):
            try require(min(left, top, right, bottom) >= 0, op, "\(self): padding must be non-negative")
        }
    }

    /// Applies the step to one image, drawing from `rng` for the random steps.
    func apply(_ image: PlanarImage, rng: inout RandomGenerator) throws -> PlanarImage {
        switch self {
        case let .resizeShorterSide(size, filter, arithmetic):
            let (h, w) = shorterSideSize(height: image.height, width: image.width, shorterSide: size)
            return PlanarImage(try pilResize(image.values, height: h, width: w, filter: filter, arithmetic: arithmetic))
        case let .resize(height, width, filter, arithmetic):
            return PlanarImage(try pilResize(image.values, height: height, width: width, filter: filter, arithmetic: arithmetic))
        case let .centerCrop(height, width):
            var img = image
            if height > img.height || width > img.width {
                let padW = max(width - img.width, 0), padH = max(height - img.height, 0)
                img = padImage(img, left: padW / 2, top: padH / 2, right: (padW + 1) / 2, bottom: (padH + 1) / 2,
                               mode: .constant, fill: 0)
            }
            let top = pythonRoundHalf(img.height - height), left = pythonRoundHalf(img.width - width)
            return cropImage(img, top: top, left: left, height: height, width: width)
        case let .randomCrop(height, width, padding, padIfNeeded):
            var img = image
            if padding > 0 {
                img = padImage(img, left: padding, top: padding, right: padding, bottom: padding, mode: .constant, fill: 0)
            }
            if padIfNeeded && img.width < width {
                let p = width - img.width
                img = padImage(img, left: p, top: 0, right: p, bottom: 0, mode: .constant, fill: 0)
            }
            if padIfNeeded && img.height < height {
                let p = height - img.height
                img = padImage(img, left: 0, top: p, right: 0, bottom: p, mode: .constant, fill: 0)
            }
            try require(img.height >= height && img.width >= width, "ImageTransform",
                        "random crop \(height)×\(width) is larger than the image \(img.height)×\(img.width)")
            if img.height == height && img.width == width { return img }
            let top = randomIndex(below: img.height - height + 1, using: &rng)
            let left = randomIndex(below: img.width - width + 1, using: &rng)
            return cropImage(img, top: top, left: left, height: height, width: width)
        case let .randomHorizontalFlip(probability):
            return rng.uniform() < probability ? flipImageHorizontally(image) : image
        case let .pad(left, top, right, bottom, mode, fill):
            return padImage(image, left: left, top: top, right: right, bottom: bottom, mode: mode, fill: fill)
        }
    }
}

/// An unbiased integer in 0..<n (n ≥ 1) from `rng`: Lemire's multiply-shift with rejection, so the
/// sequence depends only on the generator (not on the standard library's algorithm).
func randomIndex(below n: Int, using rng: inout RandomGenerator) -> Int {
    let bound = UInt64(n)
    var product = rng.next().multipliedFullWidth(by: bound)
    if product.low < bound {
        let threshold = (0 &- bound) % bound
        while product.low < threshold { product = rng.next().multipliedFullWidth(by: bound) }
    }
    return Int(product.high)
}
