import TVPCommands
import XCTest

final class CommandTests: XCTestCase {
    func testHelpVersionAndUnknownCommands() {
        XCTAssertEqual(TVPRunCommand.main(["--help"]), 0)
        XCTAssertEqual(TVPRunCommand.main(["--version"]), 0)
        XCTAssertEqual(TVPRunCommand.main(["frobnicate"]), 2)
        XCTAssertEqual(TVPRunCommand.main([]), 2)
        XCTAssertTrue(TVPRunCommand.usage.contains("tvp-run bench"))
        XCTAssertEqual(TVPRunCommand.main(["blas"]), 0)
        XCTAssertEqual(TVPRunCommand.main(["blas", "--coretype"]), 0)
        XCTAssertEqual(TVPRunCommand.main(["blas", "--frobnicate"]), 2)
    }
}
