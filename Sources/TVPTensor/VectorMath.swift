// Vectorized transcendental functions on 8 lanes, used by the activation kernels in place of one
// libm call per value. Accuracy: exp8 within 2 ulp of expf over its whole range (Cephes' expf
// polynomial on a Cody–Waite reduced argument), checked against Foundation in the tests.

/// e^x lane by lane. Inputs above 88 saturate to +inf (expf overflows at 88.72), below −87.34 to 0.
@inline(__always) @usableFromInline
func exp8(_ x: Float8) -> Float8 {
    let hi = Float8(repeating: 88), lo = Float8(repeating: -87.33654)
    let xc = x.replacing(with: hi, where: x .> hi).replacing(with: lo, where: x .< lo)
    // x = n·ln2 + r with |r| ≤ ln2/2; ln2 split in two for an exact product n·ln2_hi. n is rounded
    // to nearest by adding and subtracting 1.5·2²³ (the generic SIMD rounding and Int32
    // conversions run lane by lane; this stays in vector registers), and the same sum's low bits
    // are n as an integer.
    let magic = Float8(repeating: 12_582_912)
    let shifted = xc * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = xc - n * 0.693359375
    r = r - n * -2.12194440e-4
    var p = Float8(repeating: 1.9875691500E-4)
    p = p * r + 1.3981999507E-3
    p = p * r + 8.3334519073E-3
    p = p * r + 4.1665795894E-2
    p = p * r + 1.6666665459E-1
    p = p * r + 5.0000001201E-1
    let y = p * r * r + r + 1
    // 2^n from the exponent bits.
    let integerN = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let bits = (integerN &+ 127) &<< 23
    var result = y * unsafeBitCast(bits, to: Float8.self)
    result.replace(with: Float8(repeating: .infinity), where: x .> hi)
    result.replace(with: Float8(repeating: 0), where: x .< lo)
    return result
}

/// 1 / (1 + e^−x) lane by lane, without overflow: with e = e^−|x|, 1/(1+e) for x ≥ 0 and e/(1+e)
/// below, picked by a select rather than a branch (activation signs are random).
@inline(__always) @usableFromInline
func logistic8(_ x: Float8) -> Float8 {
    let e = exp8(-abs(x))
    let s = 1 / (1 + e)
    return s.replacing(with: e * s, where: x .< 0)
}

@inline(__always) @usableFromInline
func abs(_ x: Float8) -> Float8 { x.replacing(with: -x, where: x .< 0) }

/// Loads up to 8 values (the rest zero) so tails run through the same vector code.
@inline(__always) @usableFromInline
func loadPartial(_ p: UnsafePointer<Float>, _ n: Int) -> Float8 {
    var v = Float8()
    for i in 0..<n { v[i] = p[i] }
    return v
}

@inline(__always) @usableFromInline
func storePartial(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = v[i] }
}

/// out[i] = f(x[i]) eight lanes at a time over n values.
@inline(__always) @usableFromInline
func vectorMap(_ n: Int, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ f: (Float8) -> Float8) {
    var i = 0
    while i + 8 <= n { store8(f(load8(x + i)), out + i); i += 8 }
    if i < n { storePartial(f(loadPartial(x + i, n - i)), out + i, n - i) }
}

/// out[i] = g[i] · f(s[i]) eight lanes at a time over n values (a chain-rule step).
@inline(__always) @usableFromInline
func vectorChain(_ n: Int, _ g: UnsafePointer<Float>, _ s: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                 _ f: (Float8) -> Float8) {
    var i = 0
    while i + 8 <= n { store8(load8(g + i) * f(load8(s + i)), out + i); i += 8 }
    if i < n { storePartial(loadPartial(g + i, n - i) * f(loadPartial(s + i, n - i)), out + i, n - i) }
}
