import TVPTensor

// PIL's `Image.resize` (Pillow's Resample.c) on planes of 8-bit or float samples.
// Each axis is a table of taps: output index o reads inputs first[o] ..< first[o] + count[o] with
// weights filter((i - center + 0.5) / filterScale), center = (o + 0.5) · scale, normalized to sum 1,
// where filterScale = max(scale, 1) stretches the filter when shrinking (antialiasing).
// 8-bit images: weights become 22-bit fixed point, each pass rounds and clamps to 0…255, and the
// horizontal pass runs first, so the intermediate image is 8-bit too — exactly as Pillow does.

/// A resampling filter of PIL's `Image.resize` (`Image.BOX`, `Image.BILINEAR`, `Image.BICUBIC`).
public enum PILFilter: String, Sendable, CaseIterable {
    /// Box: each output is the mean of the inputs it covers.
    case box
    /// Triangle filter (support 1).
    case bilinear
    /// Keys cubic with a = -0.5 (support 2), PIL's bicubic.
    case bicubic

    /// Half-width of the filter at scale 1.
    var support: Double {
        switch self {
        case .box: return 0.5
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    /// The filter at `x` (Pillow's box_filter, bilinear_filter, bicubic_filter).
    func weight(_ x: Double) -> Double {
        switch self {
        case .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            let v = abs(x)
            return v < 1 ? 1 - v : 0
        case .bicubic:
            let a = -0.5, v = abs(x)
            if v < 1 { return ((a + 2) * v - (a + 3)) * v * v + 1 }
            if v < 2 { return (((v - 5) * v + 8) * v - 4) * a }
            return 0
        }
    }
}

/// How `pilResize` computes: like PIL on 8-bit images, or in floats with the same filter.
public enum ResizeArithmetic: String, Sendable {
    /// Values are quantized to bytes (round(255·x), clamped), resampled with PIL's fixed-point
    /// arithmetic (8-bit intermediate after the horizontal pass) and returned as byte / 255:
    /// bit-exact with `PIL.Image.resize` on the quantized image.
    case uint8
    /// The same taps in Float, no rounding and no clamping (PyTorch `antialias=True` semantics for
    /// bilinear and bicubic). Within about a level (1/255) of `.uint8` where no overshoot reaches
    /// past 0 or 1; near sharp edges PIL clamps its 8-bit intermediate and the two can differ more.
    case float
}

/// One axis of a PIL resize (Pillow's precompute_coeffs).
struct PILTaps {
    let taps: Int
    var first: [Int]
    var count: [Int]
    var weight: [Double]

    init(_ filter: PILFilter, input: Int, output: Int) {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let inverseScale = 1 / filterScale  // Pillow multiplies by the reciprocal
        taps = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: output)
        count = [Int](repeating: 0, count: output)
        weight = [Double](repeating: 0, count: output * taps)
        for o in 0..<output {
            let center = (Double(o) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let n = min(min(Int(center + support + 0.5), input) - lo, taps)
            var total = 0.0
            for j in 0..<max(n, 0) {
                let w = filter.weight((Double(j + lo) - center + 0.5) * inverseScale)
                weight[o * taps + j] = w
                total += w
            }
            if total != 0 { for j in 0..<max(n, 0) { weight[o * taps + j] /= total } }
            first[o] = lo
            count[o] = max(n, 0)
        }
    }

    /// The weights in Pillow's fixed point: 22 fractional bits, rounded half away from zero.
    func fixedPoint() -> [Int] {
        let one = Double(1 << pilPrecisionBits)
        return weight.map { $0 < 0 ? Int(-0.5 + $0 * one) : Int(0.5 + $0 * one) }
    }
}

/// Pillow's PRECISION_BITS for 8-bit resampling (32 - 8 - 2).
let pilPrecisionBits = 22

/// Pillow's clip8: a fixed-point sum (with the rounding half already added) to 0…255.
@inline(__always)
func pilClip8(_ sum: Int) -> UInt8 {
    if sum >= (1 << pilPrecisionBits) << 8 { return 255 }
    if sum <= 0 { return 0 }
    return UInt8(truncatingIfNeeded: sum >> pilPrecisionBits)
}

/// Resamples `planes` 8-bit planes [P, H, W] to [P, OH, OW] as Pillow does for each band of an
/// RGB image: horizontal pass (if the width changes) into 8-bit, then vertical (if the height changes).
func pilResamplePlanes8(_ source: [UInt8], planes: Int, height: Int, width: Int,
                        outHeight: Int, outWidth: Int, filter: PILFilter) -> [UInt8] {
    var current = source
    var w = width
    if outWidth != width {
        let t = PILTaps(filter, input: width, output: outWidth)
        let k = t.fixedPoint()
        var next = [UInt8](repeating: 0, count: planes * height * outWidth)
        current.withUnsafeBufferPointer { src in next.withUnsafeMutableBufferPointer { dst in
            for row in 0..<(planes * height) {
                let s = src.baseAddress! + row * width, d = dst.baseAddress! + row * outWidth
                for o in 0..<outWidth {
                    var sum = 1 << (pilPrecisionBits - 1)
                    let lo = t.first[o], kk = o * t.taps
                    for j in 0..<t.count[o] { sum += Int(s[lo + j]) * k[kk + j] }
                    d[o] = pilClip8(sum)
                }
            }
        } }
        current = next
        w = outWidth
    }
    if outHeight != height {
        let t = PILTaps(filter, input: height, output: outHeight)
        let k = t.fixedPoint()
        var next = [UInt8](repeating: 0, count: planes * outHeight * w)
        current.withUnsafeBufferPointer { src in next.withUnsafeMutableBufferPointer { dst in
            for p in 0..<planes {
                let s = src.baseAddress! + p * height * w, d = dst.baseAddress! + p * outHeight * w
                for o in 0..<outHeight {
                    let lo = t.first[o], kk = o * t.taps
                    for x in 0..<w {
                        var sum = 1 << (pilPrecisionBits - 1)
                        for j in 0..<t.count[o] { sum += Int(s[(lo + j) * w + x]) * k[kk + j] }
                        d[o * w + x] = pilClip8(sum)
                    }
                }
            }
        } }
        current = next
    }
    return current
}

/// Resamples float planes [P, H, W] (at `source`) into [P, OH, OW] (at `destination`) with the
/// PIL taps in Float: horizontal pass, then vertical, no rounding or clamping.
func pilResamplePlanesFloat(_ source: UnsafePointer<Float>, planes: Int, height: Int, width: Int,
                            into destination: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int,
                            filter: PILFilter) {
    let cols = PILTaps(filter, input: width, output: outWidth)
    let rows = PILTaps(filter, input: height, output: outHeight)
    let wx = cols.weight.map(Float.init), wy = rows.weight.map(Float.init)
    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: height * outWidth)
    defer { tmp.deallocate() }
    for p in 0..<planes {
        let s = source + p * height * width, d = destination + p * outHeight * outWidth
        for y in 0..<height {
            for o in 0..<outWidth {
                var v: Float = 0
                let lo = cols.first[o], kk = o * cols.taps
                for j in 0..<cols.count[o] { v += wx[kk + j] * s[y * width + lo + j] }
                tmp[y * outWidth + o] = v
            }
        }
        for o in 0..<outHeight {
            let row = d + o * outWidth
            row.update(repeating: 0, count: outWidth)
            let lo = rows.first[o], kk = o * rows.taps
            for j in 0..<rows.count[o] {
                let w = wy[kk + j], t = tmp + (lo + j) * outWidth
                for x in 0..<outWidth { row[x] += w * t[x] }
            }
        }
    }
}

/// `PIL.Image.resize((width, height), filter)` of an 8-bit RGB image, bit-exact with Pillow.
public func pilResize(_ image: RGB8Image, width: Int, height: Int, filter: PILFilter) throws -> RGB8Image {
    try require(width >= 1 && height >= 1, "pilResize", "output size \(width)×\(height) must be positive")
    let (w, h) = (image.width, image.height)
    // Interleaved RGB to three planes and back.
    var planes = [UInt8](repeating: 0, count: 3 * w * h)
    for p in 0..<(w * h) { for c in 0..<3 { planes[c * w * h + p] = image.pixels[p * 3 + c] } }
    let out = pilResamplePlanes8(planes, planes: 3, height: h, width: w, outHeight: height, outWidth: width, filter: filter)
    var pixels = [UInt8](repeating: 0, count: 3 * width * height)
    for p in 0..<(width * height) { for c in 0..<3 { pixels[p * 3 + c] = out[c * width * height + p] } }
    return try RGB8Image(width: width, height: height, pixels: pixels)
}

/// PIL's resize of images [C, H, W] or [N, C, H, W] in [0, 1] to (height, width), in `arithmetic`
/// (`.uint8`: bit-exact with `Image.resize` on the images quantized to bytes; `.float`: the same
/// filter without quantization). A size equal to the input's returns the input unchanged.
public func pilResize(_ images: Tensor, height: Int, width: Int, filter: PILFilter,
                      arithmetic: ResizeArithmetic = .uint8) throws -> Tensor {
    let op = "pilResize"
    try require((images.rank == 3 || images.rank == 4) && images.count > 0, op,
                "expected images [C, H, W] or [N, C, H, W], got \(describe(images.shape))")
    try require(width >= 1 && height >= 1, op, "output size \(height)×\(width) must be positive")
    let (h, w) = (images.dim(-2), images.dim(-1))
    if h == height && w == width { return images }
    let planes = images.count / (h * w)
    let out = Tensor(uninitialized: Array(images.shape.dropLast(2)) + [height, width])
    switch arithmetic {
    case .float:
        // Planes are independent: split them across the workers.
        let cost = h * width * 8 + height * width * 8
        Parallel.forRanges(planes, costPerItem: cost) { r in
            pilResamplePlanesFloat(images.data + r.lowerBound * h * w, planes: r.count, height: h, width: w,
                                   into: out.data + r.lowerBound * height * width, outHeight: height, outWidth: width,
                                   filter: filter)
        }
    case .uint8:
        let bytes = quantizeToBytes(images.data, count: images.count)
        let resized = pilResamplePlanes8(bytes, planes: planes, height: h, width: w,
                                         outHeight: height, outWidth: width, filter: filter)
        for i in 0..<resized.count { out.data[i] = Float(resized[i]) / 255 }
    }
    return out
}

/// round(255·x) with x clamped to [0, 1] (NaN to 0), as `RGB8Image(tensor:)` quantizes.
func quantizeToBytes(_ values: UnsafePointer<Float>, count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        let v = values[i]
        let clamped = v > 0 ? min(v, 1) : 0
        bytes[i] = UInt8((clamped * 255).rounded())
    }
    return bytes
}
