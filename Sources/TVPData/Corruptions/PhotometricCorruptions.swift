import Foundation
import TVPTensor

// Contrast, brightness (in HSV) and fog (plasma fractal) of CIFAR-10-C.

/// out = (x − m) · factor + m with m the mean of each channel.
func contrastCorruption(_ x: CorruptionImage, factor: Double, into out: UnsafeMutablePointer<Float>) {
    for c in 0..<3 {
        let s = x.values + c * x.plane, d = out + c * x.plane
        var mean = 0.0
        for p in 0..<x.plane { mean += Double(s[p]) }
        mean /= Double(x.plane)
        for p in 0..<x.plane { d[p] = Float((Double(s[p]) - mean) * factor + mean) }
    }
}

/// scikit-image's `rgb2hsv` of one pixel: hue in [0, 1) (ties: blue over green over red), 0 for grays.
func rgbToHSV(_ r: Double, _ g: Double, _ b: Double) -> (h: Double, s: Double, v: Double) {
    let v = max(r, g, b)
    let delta = v - min(r, g, b)
    if delta == 0 { return (0, 0, v) }
    var h: Double
    if b == v { h = 4 + (r - g) / delta } else if g == v { h = 2 + (b - r) / delta } else { h = (g - b) / delta }
    h /= 6
    h -= h.rounded(.down)  // Python's % 1.0
    return (h, delta / v, v)
}

/// scikit-image's `hsv2rgb` of one pixel.
func hsvToRGB(_ h: Double, _ s: Double, _ v: Double) -> (Double, Double, Double) {
    let hi = (h * 6).rounded(.down)
    let f = h * 6 - hi
    let p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s)
    switch (Int(hi) % 6 + 6) % 6 {
    case 0: return (v, t, p)
    case 1: return (q, v, p)
    case 2: return (p, v, t)
    case 3: return (p, q, v)
    case 4: return (t, p, v)
    default: return (v, p, q)
    }
}

/// HSV value + shift, clipped to [0, 1], and back to RGB.
func brightnessCorruption(_ x: CorruptionImage, shift: Double, into out: UnsafeMutablePointer<Float>) {
    let n = x.plane
    for p in 0..<n {
        let (h, s, v) = rgbToHSV(Double(x.values[p]), Double(x.values[n + p]), Double(x.values[2 * n + p]))
        let (r, g, b) = hsvToRGB(h, s, min(max(v + shift, 0), 1))
        out[p] = Float(r)
        out[n + p] = Float(g)
        out[2 * n + p] = Float(b)
    }
}

/// The reference's `plasma_fractal(mapsize, wibbledecay)`: a diamond-square height map [size, size]
/// (row-major) scaled to [0, 1]. Each fill adds wibble · U(−wibble, wibble) (the reference's
/// squared amplitude kept), drawn row-major over the grid being filled; wibble starts at 100 and is
/// divided by `wibbleDecay` per level. Neighbours wrap around (numpy `roll`); sums are grouped as
/// the reference's array additions are.
func plasmaFractal(size: Int, wibbleDecay: Double, rng: inout RandomGenerator) -> [Double] {
    var map = [Double](repeating: 0, count: size * size)
    var step = size
    var wibble = 100.0
    func at(_ y: Int, _ x: Int) -> Double { map[((y % size + size) % size) * size + (x % size + size) % size] }
    func wibbled(_ sum: Double, _ rng: inout RandomGenerator) -> Double {
        sum / 4 + wibble * (-wibble + 2 * wibble * uniformDouble24(&rng))
    }
    while step >= 2 {
        let half = step / 2
        // Squares: the centre of each square of corners `step` apart.
        for y in stride(from: half, to: size, by: step) {
            for x in stride(from: half, to: size, by: step) {
                let sum = (at(y - half, x - half) + at(y + half, x - half)) + (at(y - half, x + half) + at(y + half, x + half))
                map[y * size + x] = wibbled(sum, &rng)
            }
        }
        // Diamonds on the corner rows (between horizontal corner pairs), then on the centre rows.
        for y in stride(from: 0, to: size, by: step) {
            for x in stride(from: half, to: size, by: step) {
                let sum = (at(y + half, x) + at(y - half, x)) + (at(y, x - half) + at(y, x + half))
                map[y * size + x] = wibbled(sum, &rng)
            }
        }
        for y in stride(from: half, to: size, by: step) {
            for x in stride(from: 0, to: size, by: step) {
                let sum = (at(y, x + half) + at(y, x - half)) + (at(y - half, x) + at(y + half, x))
                map[y * size + x] = wibbled(sum, &rng)
            }
        }
        step /= 2
        wibble /= wibbleDecay
    }
    let low = map.min() ?? 0
    for i in map.indices { map[i] -= low }
    let high = map.max() ?? 1
    return high > 0 ? map.map { $0 / high } : map
}

/// numpy-style uniform from our generator's Float draw (24 bits), as a Double.
@inline(__always)
func uniformDouble24(_ rng: inout RandomGenerator) -> Double { Double(rng.uniform()) }

/// (x + thickness · plasma) · m / (m + thickness), m the maximum of the image; the plasma map has
/// side 32 (the reference's) or the next power of two that covers the image, cropped to [H, W].
func fogCorruption(_ x: CorruptionImage, thickness: Double, wibbleDecay: Double, into out: UnsafeMutablePointer<Float>,
         rng: inout RandomGenerator) {
    var size = 32
    while size < max(x.height, x.width) { size *= 2 }
    let plasma = plasmaFractal(size: size, wibbleDecay: wibbleDecay, rng: &rng)
    var maxValue = -Double.infinity
    for i in 0..<x.count { maxValue = max(maxValue, Double(x.values[i])) }
    let scale = maxValue / (maxValue + thickness)
    for c in 0..<3 {
        for y in 0..<x.height {
            for xx in 0..<x.width {
                let i = c * x.plane + y * x.width + xx
                out[i] = Float((Double(x.values[i]) + thickness * plasma[y * size + xx]) * scale)
            }
        }
    }
}
