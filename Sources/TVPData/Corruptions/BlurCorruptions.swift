import Foundation
import TVPTensor

// Gaussian blur (scikit-image / SciPy semantics) and defocus blur (OpenCV semantics).

/// SciPy's 1-D Gaussian taps: radius int(truncate · σ + 0.5), weights exp(−x² / 2σ²) normalized.
func gaussianTaps(sigma: Double, truncate: Double = 4) -> [Double] {
    let radius = Int(truncate * sigma + 0.5)
    let raw = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
    let total = raw.reduce(0, +)
    return raw.map { $0 / total }
}

/// Index into 0..<n for a coordinate outside it, OpenCV's BORDER_REFLECT_101 (… 2 1 | 0 1 2 … n−1 | n−2 …).
func reflect101(_ i: Int, _ n: Int) -> Int {
    if n == 1 { return 0 }
    let period = 2 * (n - 1)
    var m = i % period
    if m < 0 { m += period }
    return m < n ? m : period - m
}

/// Separable filtering of each of the three planes with `taps` (odd length, centered) along rows,
/// then columns, with borders given by `index(i, n)`. Sums in Double.
func separableFilter(_ x: CorruptionImage, taps: [Double], border: (Int, Int) -> Int,
                     into out: UnsafeMutablePointer<Float>) {
    let (H, W) = (x.height, x.width)
    let r = taps.count / 2
    var tmp = [Double](repeating: 0, count: x.plane)
    for c in 0..<3 {
        let s = x.values + c * x.plane, d = out + c * x.plane
        // SciPy filters axis 0 (rows of the array: the y direction) first, then axis 1.
        for y in 0..<H {
            for xx in 0..<W {
                var v = 0.0
                for k in 0..<taps.count { v += taps[k] * Double(s[border(y + k - r, H) * W + xx]) }
                tmp[y * W + xx] = v
            }
        }
        for y in 0..<H {
            for xx in 0..<W {
                var v = 0.0
                for k in 0..<taps.count { v += taps[k] * tmp[y * W + border(xx + k - r, W)] }
                d[y * W + xx] = Float(v)
            }
        }
    }
}

/// `skimage.filters.gaussian(x, sigma, channel_axis=-1)`: per channel, mode 'nearest', truncate 4.
func gaussianBlurCorruption(_ x: CorruptionImage, sigma: Double, into out: UnsafeMutablePointer<Float>) {
    separableFilter(x, taps: gaussianTaps(sigma: sigma), border: { i, n in min(max(i, 0), n - 1) }, into: out)
}

/// The reference's `disk(radius, alias_blur)`: the 0/1 disk X² + Y² ≤ radius² on the grid
/// −L…L (L = 8 for radius ≤ 8, else radius), normalized to sum 1 in Float32, then
/// `cv2.GaussianBlur(ksize 3 (5 above radius 8), sigma alias_blur)` with reflect-101 borders.
/// Returns the kernel and its side (2L + 1).
func defocusKernel(radius: Double, aliasBlur: Double) -> (kernel: [Double], side: Int) {
    let half = radius <= 8 ? 8 : Int(radius)
    let side = 2 * half + 1
    var disk = [Float](repeating: 0, count: side * side)
    for y in 0..<side {
        for x in 0..<side {
            let (dy, dx) = (Double(y - half), Double(x - half))
            if dx * dx + dy * dy <= radius * radius { disk[y * side + x] = 1 }
        }
    }
    let total = disk.reduce(0, +)
    disk = disk.map { $0 / total }
    // OpenCV's getGaussianKernel(k, sigma) for CV_32F: exp(-x²/2σ²) as Float, normalized in Float.
    let ksize = radius <= 8 ? 3 : 5
    var g = (0..<ksize).map { i -> Float in
        let t = Double(i) - Double(ksize - 1) * 0.5
        return Float(exp(-0.5 / (aliasBlur * aliasBlur) * t * t))
    }
    let gsum = 1 / Double(g.reduce(Float(0), +))
    g = g.map { Float(Double($0) * gsum) }
    // Separable blur of the disk (rows, then columns), reflect-101.
    let r = ksize / 2
    var rows = [Float](repeating: 0, count: side * side)
    for y in 0..<side {
        for x in 0..<side {
            var v: Float = 0
            for k in 0..<ksize { v += g[k] * disk[y * side + reflect101(x + k - r, side)] }
            rows[y * side + x] = v
        }
    }
    var kernel = [Double](repeating: 0, count: side * side)
    for y in 0..<side {
        for x in 0..<side {
            var v: Float = 0
            for k in 0..<ksize { v += g[k] * rows[reflect101(y + k - r, side) * side + x] }
            kernel[y * side + x] = Double(v)
        }
    }
    return (kernel, side)
}

/// `cv2.filter2D(channel, -1, disk(radius, aliasBlur))` per channel: correlation with the kernel
/// centered, reflect-101 borders. Zero rows and columns of the kernel are skipped.
func defocusBlurCorruption(_ x: CorruptionImage, radius: Double, aliasBlur: Double, into out: UnsafeMutablePointer<Float>) {
    let (kernel, side) = defocusKernel(radius: radius, aliasBlur: aliasBlur)
    let half = side / 2
    // The non-zero window of the kernel: rows and columns lo...hi (symmetric).
    var lo = 0
    while lo < half && (0..<side).allSatisfy({ kernel[lo * side + $0] == 0 && kernel[$0 * side + lo] == 0 }) { lo += 1 }
    let hi = side - 1 - lo
    let (H, W) = (x.height, x.width)
    for c in 0..<3 {
        let s = x.values + c * x.plane, d = out + c * x.plane
        for y in 0..<H {
            for xx in 0..<W {
                var v = 0.0
                for ky in lo...hi {
                    let row = reflect101(y + ky - half, H) * W
                    for kx in lo...hi {
                        let w = kernel[ky * side + kx]
                        if w != 0 { v += w * Double(s[row + reflect101(xx + kx - half, W)]) }
                    }
                }
                d[y * W + xx] = Float(v)
            }
        }
    }
}
