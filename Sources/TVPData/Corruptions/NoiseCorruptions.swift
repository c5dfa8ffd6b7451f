import Foundation
import TVPTensor

// The three noise corruptions of CIFAR-10-C (values are clipped to [0, 1] by the caller).

/// out = x + std · N(0, 1), one draw per value (numpy's `random.normal(scale=std)`).
func addGaussianNoise(_ x: CorruptionImage, std: Float, into out: UnsafeMutablePointer<Float>, rng: inout RandomGenerator) {
    for i in 0..<x.count { out[i] = x.values[i] + std * rng.normal() }
}

/// out = Poisson(x · rate) / rate per value (photon shot noise).
func shotNoiseCorruption(_ x: CorruptionImage, rate: Double, into out: UnsafeMutablePointer<Float>, rng: inout RandomGenerator) {
    for i in 0..<x.count {
        let lambda = max(Double(x.values[i]), 0) * rate
        out[i] = Float(Double(poissonSample(lambda, rng: &rng)) / rate)
    }
}

/// Each value independently: with probability `amount` replaced by salt (1) or pepper (0), each half
/// the time (scikit-image `random_noise(mode='s&p', amount, salt_vs_pepper=0.5)`).
func impulseNoiseCorruption(_ x: CorruptionImage, amount: Float, into out: UnsafeMutablePointer<Float>, rng: inout RandomGenerator) {
    for i in 0..<x.count {
        if rng.uniform() < amount {
            out[i] = rng.uniform() < 0.5 ? 1 : 0
        } else {
            out[i] = x.values[i]
        }
    }
}

/// A uniform Double in [0, 1) with 53 random bits.
@inline(__always)
func uniformDouble(_ rng: inout RandomGenerator) -> Double {
    Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
}

/// A Poisson(λ) integer, with numpy's two algorithms: multiplication of uniforms for λ < 10 and
/// Hörmann's transformed rejection with squeeze (PTRS, 1993) for λ ≥ 10. Both are exact samplers.
func poissonSample(_ lambda: Double, rng: inout RandomGenerator) -> Int {
    if lambda <= 0 { return 0 }
    if lambda < 10 {
        let limit = exp(-lambda)
        var k = 0
        var product = uniformDouble(&rng)
        while product > limit {
            k += 1
            product *= uniformDouble(&rng)
        }
        return k
    }
    let sqrtLambda = lambda.squareRoot(), logLambda = log(lambda)
    let b = 0.931 + 2.53 * sqrtLambda
    let a = -0.059 + 0.02483 * b
    let inverseAlpha = 1.1239 + 1.1328 / (b - 3.4)
    let vr = 0.9277 - 3.6224 / (b - 2)
    while true {
        let u = uniformDouble(&rng) - 0.5
        let v = uniformDouble(&rng)
        let us = 0.5 - abs(u)
        let k = Int(((2 * a / us + b) * u + lambda + 0.43).rounded(.down))
        if us >= 0.07 && v <= vr { return k }
        if k < 0 || (us < 0.013 && v > us) { continue }
        if log(v) + log(inverseAlpha) - log(a / (us * us) + b) <= -lambda + Double(k) * logLambda - lgamma(Double(k) + 1) {
            return k
        }
    }
}
