import TVPTensor

/// An 8-bit RGB image as decoders produce it: `height` rows of `width` interleaved R, G, B bytes.
public struct RGB8Image: Equatable {
    public let width: Int
    public let height: Int
    /// height · width · 3 bytes, row-major, channels interleaved.
    public let pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw TensorError("RGB8Image", "\(pixels.count) bytes do not hold \(width)×\(height) RGB pixels")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Quantizes a [3, H, W] (or [1, H, W], replicated) tensor: values are clamped to [0, 1] and
    /// rounded to the nearest of 0…255.
    public init(tensor: Tensor) throws {
        try require(tensor.rank == 3 && (tensor.dim(0) == 3 || tensor.dim(0) == 1) && tensor.dim(1) > 0 && tensor.dim(2) > 0,
                    "RGB8Image", "expected an image [3, H, W] or [1, H, W], got \(describe(tensor.shape))")
        let (c, h, w) = (tensor.dim(0), tensor.dim(1), tensor.dim(2))
        var bytes = [UInt8](repeating: 0, count: h * w * 3)
        let plane = h * w
        let src = tensor.data
        for ch in 0..<3 {
            let from = src + (c == 1 ? 0 : ch * plane)
            for p in 0..<plane {
                let v = from[p]
                // NaN goes to 0 along with negatives.
                let clamped = v > 0 ? min(v, 1) : 0
                bytes[p * 3 + ch] = UInt8((clamped * 255).rounded())
            }
        }
        try self.init(width: w, height: h, pixels: bytes)
    }

    /// The image as [3, H, W] floats in [0, 1] (byte / 255).
    public func tensor() -> Tensor {
        let out = Tensor(uninitialized: [3, height, width])
        writePlanes(into: out.data)
        return out
    }

    /// Writes the three planes (R, G, B; each H·W floats, byte / 255) starting at `destination`.
    public func writePlanes(into destination: UnsafeMutablePointer<Float>) {
        let plane = width * height
        pixels.withUnsafeBufferPointer { src in
            for p in 0..<plane {
                destination[p] = Float(src[p * 3]) / 255
                destination[plane + p] = Float(src[p * 3 + 1]) / 255
                destination[2 * plane + p] = Float(src[p * 3 + 2]) / 255
            }
        }
    }
}

/// Images [N, 1, H, W] become [N, 3, H, W] by copying the one channel to all three (for models
/// that take RGB); [N, 3, H, W] is returned as it is.
public func expandGrayToRGB(_ images: Tensor) throws -> Tensor {
    try require(images.rank == 4 && (images.dim(1) == 1 || images.dim(1) == 3), "expandGrayToRGB",
                "expected images [N, 1, H, W] or [N, 3, H, W], got \(describe(images.shape))")
    if images.dim(1) == 3 { return images }
    let (n, h, w) = (images.dim(0), images.dim(2), images.dim(3))
    let plane = h * w
    let out = Tensor(uninitialized: [n, 3, h, w])
    for i in 0..<n {
        let src = images.data + i * plane
        for c in 0..<3 { (out.data + (i * 3 + c) * plane).update(from: src, count: plane) }
    }
    return out
}
