import Foundation
import TVPTensor
import XCTest

/// Finite-difference gradient checks. The loss is L = Σ out · w for a fixed random `w`, summed in
/// Float64; each input value is nudged by ±eps and (L+ − L−) / 2eps is compared with the analytic
/// gradient from `backward()`. Returns the worst relative error and prints it per input.
func gradCheck(_ name: String, inputs: [Tensor], eps: Float = 1e-2, tolerance: Double = 2e-2,
               maxChecksPerInput: Int = 64, file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Tensor]) throws -> Tensor) throws {
    let probe = try withoutGrad { try f(inputs) }
    let w = Tensor.randn(probe.shape, seed: 77)
    func loss() throws -> Double {
        let out = try withoutGrad { try f(inputs) }
        var s = 0.0
        for i in 0..<out.count { s += Double(out.data[i]) * Double(w.data[i]) }
        return s
    }
    for t in inputs { t.grad = nil }
    let out = try f(inputs)
    try out.backward(seed: w)
    for (index, t) in inputs.enumerated() where t.requiresGrad {
        guard let grad = t.grad else { XCTFail("\(name): input \(index) got no gradient", file: file, line: line); continue }
        XCTAssertEqual(grad.shape, t.shape, file: file, line: line)
        var worst = 0.0
        let stride = max(1, t.count / maxChecksPerInput)
        for i in Swift.stride(from: 0, to: t.count, by: stride) {
            let saved = t.data[i]
            t.data[i] = saved + eps
            let plus = try loss()
            t.data[i] = saved - eps
            let minus = try loss()
            t.data[i] = saved
            let numeric = (plus - minus) / (2 * Double(eps))
            let analytic = Double(grad.data[i])
            let err = abs(numeric - analytic) / max(1, abs(numeric), abs(analytic))
            worst = max(worst, err)
            if err > tolerance {
                XCTFail("\(name): input \(index) \(t.shape) at \(i): analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
                break
            }
        }
        print("gradcheck \(name) input \(index) \(t.shape): max rel err \(String(format: "%.2e", worst))")
    }
}

/// Asserts two arrays agree elementwise within `tolerance` (absolute, scaled by magnitude).
func assertClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-4, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count \(message)", file: file, line: line)
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
    XCTAssertLessThanOrEqual(worst, tolerance, "max difference \(worst) \(message)", file: file, line: line)
}
