import Foundation
import TVPPipeline
import XCTest

/// Numbers are checked in the type they are used in and against sane bounds, and sweeps have a
/// point limit, before anything runs.
final class ConfigBoundsTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws { world = try ToyWorld.make() }
    override func tearDown() { world.remove() }

    func message(overrides: [String] = [], multirun: [String] = []) -> String {
        yamlError({ try self.world.load(overrides: overrides, multirun: multirun) }).map { "\($0)" } ?? ""
    }

    func testNumbersBeyondAFloatOrBeyondSaneBoundsAreRefused() {
        XCTAssertEqual(message(overrides: ["train.lr=1e308"]),
                       "--set train.lr=1e308:1:16: 'train.lr' must be a finite number > 0 and ≤ 10000, found 1e308 (beyond the largest 32-bit float the trainer computes in)")
        XCTAssertTrue(message(overrides: ["train.lr=1e5"]).hasSuffix("'train.lr' must be a finite number > 0 and ≤ 10000, found 1e5"),
                      message(overrides: ["train.lr=1e5"]))
        XCTAssertTrue(message(overrides: ["loss.fca=1e300"]).contains("'loss.fca' must be a finite number ≥ 0 and ≤ 10000, found 1e300"))
        XCTAssertTrue(message(overrides: ["loss.tse=.inf"]).contains("'loss.tse' must be a finite number"))
        XCTAssertTrue(message(overrides: ["train.epochs=1000000000"]).contains("'train.epochs' must be from 1 to 100000"))
        XCTAssertTrue(message(overrides: ["evaluate.batch=100000"]).contains("'evaluate.batch' must be from 1 to 4096"))
        XCTAssertEqual(try world.load(overrides: ["train.lr=10000"]).points[0].spec.train.lr, 10000)
    }

    func testHugeSweepsAreRefusedBeforeTheyAreExpanded() throws {
        let values = (0..<1000).map(String.init).joined(separator: ",")
        // A million points would take minutes to validate: the count is checked first.
        let refused = message(multirun: ["train.seed=\(values)", "train.batch=\(values)"])
        XCTAssertTrue(refused.contains("the sweep has 1000000 points (1000 (train.seed) × 1000 (train.batch)); at most 1000 are expanded"), refused)
        XCTAssertTrue(refused.contains("--max-points"), refused)
        // Within the limit, and with a larger limit, the sweep loads.
        XCTAssertEqual(try world.load(multirun: ["train.seed=1,2,3"]).points.count, 3)
        let loaded = try PipelineLoader.load(path: world.pipelinePath, multirun: [try MultirunOverride(parsing: "train.seed=1,2"), try MultirunOverride(parsing: "train.batch=1,2")],
                                             maxPoints: 4, context: world.context(TinyBackend()))
        XCTAssertEqual(loaded.points.count, 4)
        XCTAssertTrue(yamlError({ try PipelineLoader.load(path: self.world.pipelinePath, multirun: [try MultirunOverride(parsing: "train.seed=1,2,3")],
                                                          maxPoints: 2, context: self.world.context(TinyBackend())) })
            .map { "\($0)".contains("the sweep has 3 points") } ?? false)
    }
}
