import Foundation
import TVPPipeline
import XCTest

/// `seeds: N`: N trainings from `train.seed` on, as the innermost sweep axis; what does not depend on
/// the seed runs once; the run folder and the terminal report mean ± sd over the seeds.
final class SeedsTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws { world = try ToyWorld.make() }
    override func tearDown() { world.remove() }

    func testSeedsBecomeASweepFromTheFilesSeedAndSharedStagesRunOnce() throws {
        let loaded = try world.load(overrides: ["+seeds=3"])
        XCTAssertEqual(loaded.points.map(\.label), ["seed=7", "seed=8", "seed=9"], "from the toy file's train.seed 7")
        XCTAssertEqual(loaded.points.map(\.spec.train.seed), [7, 8, 9])
        XCTAssertEqual(try world.load(overrides: ["+seeds=1"]).points.count, 1)
        // Innermost: another axis varies slowest.
        let grid = try world.load(overrides: ["+seeds=2"], multirun: ["loss.fca=0,0.5"])
        XCTAssertEqual(grid.points.map(\.label), ["fca=0,seed=7", "fca=0,seed=8", "fca=0.5,seed=7", "fca=0.5,seed=8"])

        let session = try world.session(overrides: ["+seeds=3"], backend: TinyBackend())
        let ids = session.graph.nodes.map(\.name)
        // One zero-shot evaluation per model serves the three seeds; each seed trains its own prompts.
        XCTAssertEqual(ids.filter { $0.contains("zero-shot") }.count, Set(loaded.points[0].spec.evaluatedModels).count, "\(ids)")
        XCTAssertEqual(ids.filter { $0.hasSuffix("train[digits/vp]") }.count, 3, "\(ids)")
        let result = try world.run(session)
        XCTAssertTrue(result.summary.contains("across training seeds"), result.summary)
        let folder = try XCTUnwrap(result.folder)
        let seeds = try String(contentsOfFile: folder + "/seeds.md", encoding: .utf8)
        XCTAssertTrue(seeds.contains("| all | digits |"), seeds)
        XCTAssertTrue(seeds.contains("vp − zero-shot-official"), seeds)
    }

    func testBadSeedCountsAndTwoSeedSourcesAreLocatedErrors() throws {
        let zero = try XCTUnwrap(yamlError { try self.world.load(overrides: ["+seeds=0"]) })
        XCTAssertTrue(zero.message.contains("1 to 1000"), zero.message)
        let both = try XCTUnwrap(yamlError { try self.world.load(overrides: ["+seeds=2"], multirun: ["train.seed=1,2"]) })
        XCTAssertTrue(both.message.contains("keep one"), both.message)
    }

    func testMeanSDAndTIntervalOverSeeds() {
        let (mean, sd, half) = SeedSummary.meanSDHalfWidth([30, 32, 34])
        XCTAssertEqual(mean, 32, accuracy: 1e-12)
        XCTAssertEqual(sd, 2, accuracy: 1e-12)
        XCTAssertEqual(half ?? 0, 4.303 * 2 / 3.0.squareRoot(), accuracy: 1e-9)   // t(0.975, 2 df) = 4.303
        XCTAssertNil(SeedSummary.meanSDHalfWidth([5]).half)
    }
}
