// 16-bit float conversions used by every reader (IEEE binary16 and bfloat16), bit-exact and
// independent of the platform's Float16 support.

/// The Float32 value of an IEEE half-precision bit pattern (subnormals, infinities and NaN included).
@inlinable
public func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1f
    let mantissa = UInt32(bits & 0x3ff)
    if exponent == 0x1f {                       // inf / NaN: keep the payload
        return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mantissa * 2^-24, exact in Float32.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// The Float32 value of a bfloat16 bit pattern (the upper half of a Float32).
@inlinable
public func bfloat16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// The nearest IEEE half-precision bit pattern to `x` (round to nearest, ties to even; overflow
/// gives infinity, NaN stays NaN). Used by writers and tests that build half-precision files.
public func floatToHalf(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xff)
    let mantissa = bits & 0x7f_ffff
    if exponent == 0xff { return sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0) }
    let halfExponent = exponent - 127 + 15
    if halfExponent >= 0x1f { return sign | 0x7c00 }
    if halfExponent <= 0 {
        // Subnormal half (or zero): shift the full significand into place with rounding.
        if halfExponent < -10 { return sign }
        let significand = mantissa | 0x80_0000
        let shift = UInt32(14 - halfExponent)
        var half = significand >> shift
        let rest = significand & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
        if rest > halfway || (rest == halfway && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }
    var half = UInt32(halfExponent) << 10 | (mantissa >> 13)
    let rest = mantissa & 0x1fff
    if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }   // may carry into the exponent: correct
    return sign | UInt16(half)
}
