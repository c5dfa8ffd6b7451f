import TVPTensor
import XCTest

/// The profile behind `tvp-run bench --zoo` charges work to the region it belongs to (times are
/// not asserted: only where they go, and the GEMM FLOPs, which are exact).
final class ProfileTests: XCTestCase {
    func testRegionsChargeTheirForwardTheirBackwardAndTheirGEMMs() throws {
        let x = Tensor.randn([4, 8], seed: 1, requiresGrad: true)
        let w = Tensor.randn([16, 8], seed: 2)                         // frozen: no weight-gradient GEMM
        Profile.start()
        let y = try profiled("layer") { try linear(x, w) }
        try profiled("loss") { y.sum() }.backward()
        let regions = Profile.stop()
        XCTAssertEqual(regions["layer"]?.entries, 1)
        XCTAssertEqual(regions["layer"]?.gemmFLOPs, 2 * 4 * 16 * 8)
        XCTAssertEqual(regions["layer backward"]?.gemmFLOPs, 2 * 4 * 8 * 16, "dX = dY·W only")
        XCTAssertEqual(regions["loss"]?.gemmFLOPs ?? 0, 0)
        XCTAssertNotNil(regions["loss backward"])
        XCTAssertEqual(regions["autodiff"]?.entries, 1)
        XCTAssertGreaterThan(regions["allocation"]?.entries ?? 0, 0)
        XCTAssertNotNil(x.grad)
        XCTAssertTrue(Profile.stop().isEmpty, "a stopped profile records nothing")
    }

    func testWithoutAProfileRegionsOnlyRunTheirBody() {
        XCTAssertEqual(profiled("idle") { 2 + 2 }, 4)
        XCTAssertTrue(Profile.stop().isEmpty)
    }
}
