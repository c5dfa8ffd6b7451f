import TVPTensor

/// SVHN cropped digits (`train_32x32.mat`, `test_32x32.mat`, `extra_32x32.mat`): MATLAB v5 arrays
/// `X` uint8 [32, 32, 3, N] and `y` [N, 1] with labels 1…10, where 10 stands for the digit 0.
public enum SVHN {
    /// Loads up to `limit` images as [N, 3, 32, 32] = byte / 255 with labels 0…9 (10 → 0).
    public static func load(_ path: String, limit: Int? = nil) throws -> ImageClassificationSet {
        let arrays = try MATv5.read(path)
        guard let x = arrays["X"] else { throw DataError(path, "no numeric variable 'X'; found \(arrays.keys.sorted())") }
        guard let y = arrays["y"] else { throw DataError(path, "no numeric variable 'y'; found \(arrays.keys.sorted())") }
        guard x.dims.count == 4, x.dims[2] == 3 else { throw DataError(path, "'X' has dims \(x.dims), expected [H, W, 3, N]") }
        let (h, w, total) = (x.dims[0], x.dims[1], x.dims[3])
        guard y.count == total else { throw DataError(path, "'y' has \(y.count) labels (dims \(y.dims)) for \(total) images") }
        let n = min(limit ?? total, total)
        let pixels = try x.uint8Values(file: path)
        let labelValues = try y.doubles(file: path).prefix(n).enumerated().map { i, v -> Int in
            guard v >= 1, v <= 10, v == v.rounded() else { throw DataError(path, "'y'[\(i)] = \(v) is not a label 1...10") }
            return Int(v) % 10
        }
        // Column-major X: value (r, c, ch, i) at r + H·(c + W·(ch + 3·i)); the tensor is [i, ch, r, c].
        let images = Tensor(uninitialized: [n, 3, h, w])
        let plane = h * w
        for i in 0..<n {
            for ch in 0..<3 {
                let src = (ch + 3 * i) * plane
                let dst = images.data + (i * 3 + ch) * plane
                for c in 0..<w {
                    for r in 0..<h { dst[r * w + c] = Float(pixels[src + r + h * c]) / 255 }
                }
            }
        }
        return try ImageClassificationSet(images: images, labels: labelValues, classNames: MNISTStyle.digitClasses)
    }
}
