import Foundation
import TVPTensor
import XCTest

/// The vectorized exponential behind sigmoid, SiLU and quick-GELU, against libm in Float64.
final class VectorMathTests: XCTestCase {
    func testSigmoidAndSiLUMatchDoublePrecisionOverTheWholeRange() throws {
        let values = stride(from: -120.0, through: 120.0, by: 0.0137).map { Float($0) } + [0, -0, 1e-8, -1e-8, 88.7, -87.3, 89, -104]
        let x = try Tensor(values, shape: [values.count])
        let s = sigmoid(x).toArray(), si = silu(x).toArray(), q = quickGELU(x).toArray()
        var worst = 0.0
        for (i, v) in values.enumerated() {
            let ref = 1 / (1 + Foundation.exp(-Double(v)))
            // The scaled argument is rounded to Float first, as every Float32 implementation does.
            let refQ = Double(v) / (1 + Foundation.exp(-Double(Float(1.702) * v)))
            XCTAssertTrue(s[i].isFinite && si[i].isFinite && q[i].isFinite, "non-finite at \(v)")
            worst = max(worst, abs(Double(s[i]) - ref) / max(ref, 1e-30))
            worst = max(worst, abs(Double(si[i]) - Double(v) * ref) / max(abs(Double(v) * ref), 1e-30))
            worst = max(worst, abs(Double(q[i]) - refQ) / max(abs(refQ), 1e-30))
        }
        print("sigmoid/silu/quickGELU max relative error vs Float64: \(worst)")
        XCTAssertLessThan(worst, 2e-6)
        XCTAssertEqual(sigmoid(try Tensor([200, -200], shape: [2])).toArray(), [1, 0])
    }
}
