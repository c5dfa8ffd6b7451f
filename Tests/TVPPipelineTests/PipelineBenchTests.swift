import Foundation
import TVPCommands
import TVPPipeline
import XCTest

/// `tvp-run bench --pipeline` at a tiny size: every stage of the rerun is cached and every number is measured.
final class PipelineBenchTests: XCTestCase {
    func testTinyPipelineBenchmarkRerunsFullyCached() throws {
        var bench = PipelineBenchmark()
        bench.tasks = 1
        bench.images = 8
        bench.points = 2
        bench.iterations = 1
        var lines: [String] = []
        let result = try bench.run { lines.append($0) }
        // 1 task: fetch, 2 loads (corruptions are applied when evaluating), features, text, vp
        // training, 12 zero-shot and vp evaluations shared; per point: tvp training, 6 tvp
        // evaluations, aggregate, report.
        XCTAssertEqual(result.stages, 18 + 2 * 9)
        XCTAssertEqual(result.cachedStages, result.stages)
        XCTAssertGreaterThan(result.planSeconds, 0)
        XCTAssertGreaterThan(result.cachedRerunSeconds, 0)
        XCTAssertEqual(result.bookkeeping.map(\.kind), StageKinds.all)
        XCTAssertTrue(result.bookkeeping.allSatisfy { $0.seconds > 0 })
        XCTAssertNotNil(result.bookkeeping.first { $0.kind == StageKinds.loadSplit }?.body)
        XCTAssertEqual(lines.count, 5 + StageKinds.all.count, lines.joined(separator: "\n"))
    }

    func testOptionsAreChecked() {
        XCTAssertEqual(PipelineBenchmark.main(["--help"]), 0)
        XCTAssertEqual(PipelineBenchmark.main(["--images", "0"]), 2)
        XCTAssertEqual(PipelineBenchmark.main(["--imagez", "3"]), 2)
    }
}
