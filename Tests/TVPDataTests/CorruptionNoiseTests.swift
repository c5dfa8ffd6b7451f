import TVPData
import TVPTensor
import XCTest

/// Statistics of the random corruptions (their draws come from our generator, not numpy's, so the
/// reference's exact values cannot be compared).
final class CorruptionNoiseTests: XCTestCase {
    func constant(_ value: Float, size: Int = 32) -> Tensor { Tensor(repeating: value, shape: [3, size, size]) }

    func meanAndVariance(_ values: [Float]) -> (Double, Double) {
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count - 1)
        return (mean, variance)
    }

    func testGaussianNoiseHasTheSeverityStandardDeviation() throws {
        for (severity, sigma) in [(1, 0.04), (5, 0.10)] {
            let out = try Corruption.gaussianNoise.apply(to: constant(0.5), severity: severity, seed: 1).toArray()
            let (mean, variance) = meanAndVariance(out)
            XCTAssertEqual(mean, 0.5, accuracy: 4 * sigma / 55)
            XCTAssertEqual(variance.squareRoot(), sigma, accuracy: 0.06 * sigma, "severity \(severity)")
        }
        XCTAssertNotEqual(try Corruption.gaussianNoise.apply(to: constant(0.5), severity: 1, seed: 1).toArray(),
                          try Corruption.gaussianNoise.apply(to: constant(0.5), severity: 1, seed: 2).toArray())
    }

    func testShotNoiseIsPoissonOverTheRate() throws {
        // (value, severity, rate): λ = 150 and 15 use the rejection sampler, λ = 5 the product of uniforms.
        for (value, severity, rate) in [(Float(0.3), 1, 500.0), (0.3, 5, 50), (0.1, 5, 50)] {
            let out = try Corruption.shotNoise.apply(to: constant(value), severity: severity, seed: 4).toArray()
            let lambda = Double(value) * rate
            for v in out { XCTAssertEqual((Double(v) * rate).rounded(), Double(v) * rate, accuracy: 1e-3) }
            let counts = out.map { Float(Double($0) * rate) }
            let (mean, variance) = meanAndVariance(counts)
            XCTAssertEqual(mean, lambda, accuracy: 4 * lambda.squareRoot() / 55, "λ = \(lambda)")
            XCTAssertEqual(variance, lambda, accuracy: 0.1 * lambda, "λ = \(lambda)")
        }
    }

    func testImpulseNoiseSaltsAndPeppersTheSeverityFraction() throws {
        let out = try Corruption.impulseNoise.apply(to: constant(0.5), severity: 5, seed: 6).toArray()
        let salt = out.filter { $0 == 1 }.count, pepper = out.filter { $0 == 0 }.count
        XCTAssertEqual(salt + pepper + out.filter { $0 == 0.5 }.count, out.count)
        XCTAssertEqual(Double(salt + pepper) / Double(out.count), 0.07, accuracy: 0.02)
        XCTAssertEqual(Double(salt) / Double(salt + pepper), 0.5, accuracy: 0.15)
    }

    func testFogSpansThePlasmaRange() throws {
        // Constant 0.5: out = (0.5 + t·plasma)·0.5 / (0.5 + t), plasma covering [0, 1] on a 32 × 32 image.
        for (severity, t) in [(1, Float(0.2)), (5, 1.5)] {
            let out = try Corruption.fog.apply(to: constant(0.5), severity: severity, seed: 2).toArray()
            XCTAssertEqual(out.max()!, 0.5, accuracy: 1e-6)
            XCTAssertEqual(out.min()!, 0.25 / (0.5 + t), accuracy: 1e-6)
            XCTAssertEqual(Array(out[0..<1024]), Array(out[1024..<2048]), "one plasma map for all channels")
        }
        XCTAssertNotEqual(try Corruption.fog.apply(to: constant(0.5), severity: 3, seed: 2).toArray(),
                          try Corruption.fog.apply(to: constant(0.5), severity: 3, seed: 3).toArray())
        // Images larger than 32 pixels use a larger map.
        let big = try Corruption.fog.apply(to: Tensor(repeating: 0.5, shape: [3, 40, 33]), severity: 2, seed: 2)
        XCTAssertEqual(big.shape, [3, 40, 33])
        XCTAssertTrue(big.toArray().allSatisfy { $0 >= 0.25 / 1.0 - 1e-6 && $0 <= 0.5 + 1e-6 })
    }
}
