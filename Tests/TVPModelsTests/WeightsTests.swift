import TVPModels
import TVPTensor
import XCTest

final class WeightsTests: XCTestCase {
    func testTakeChecksShapesAndFinishFailsOnUnusedKeys() throws {
        let w = Weights(["a.weight": Tensor(zeros: [2, 3]), "a.bias": Tensor(zeros: [2]), "extra": Tensor(zeros: [1])], source: "model.safetensors")
        XCTAssertEqual(try w.take("a.weight", shape: [2, -1]).shape, [2, 3])
        XCTAssertThrowsError(try w.take("a.bias", shape: [3])) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors") && "\(error)".contains("'a.bias'") && "\(error)".contains("[2]") && "\(error)".contains("[3]"), "\(error)")
        }
        XCTAssertThrowsError(try w.take("b.weight")) { XCTAssertTrue("\($0)".contains("missing tensor 'b.weight'") && "\($0)".contains("a.weight"), "\($0)") }
        _ = try w.take("a.bias")
        XCTAssertThrowsError(try w.finish()) { XCTAssertTrue("\($0)".contains("unused") && "\($0)".contains("extra"), "\($0)") }
        w.ignore { $0 == "extra" }
        XCTAssertNoThrow(try w.finish())
        XCTAssertNil(try w.takeIfPresent("nothing"))
    }
}
