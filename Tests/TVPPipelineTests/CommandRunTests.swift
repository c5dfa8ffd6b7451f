import Foundation
import TVPCommands
import TVPEngine
import TVPPipeline
import XCTest

/// The pipeline commands of `tvp-run`, end to end through `TVPRunCommand.main`.
final class CommandRunTests: XCTestCase {
    var world: ToyWorld!
    var lowerCasePath = ""

    override func setUpWithError() throws {
        world = try ToyWorld.make(file: "Pipelines/toy.yaml")
        lowerCasePath = world.root + "/pipelines/toy.yaml"
        TVPRunCommand.backend.set { TinyBackend() }
    }

    override func tearDown() {
        TVPRunCommand.backend.set { nil }
        world.remove()
    }

    var common: [String] { ["--manifest", world.manifestPath, "--cache", world.cacheRoot] }

    func testPathsResolveIgnoringCaseComponentByComponent() throws {
        XCTAssertFalse(FileManager.default.fileExists(atPath: lowerCasePath))
        XCTAssertEqual(resolvePathIgnoringCase(lowerCasePath), world.pipelinePath)
        XCTAssertEqual(resolvePathIgnoringCase(world.pipelinePath), world.pipelinePath)
        XCTAssertNil(resolvePathIgnoringCase(world.root + "/pipelines/nope.yaml"))
        try FileManager.default.createDirectory(atPath: world.root + "/PIPELINES", withIntermediateDirectories: true)
        XCTAssertNil(resolvePathIgnoringCase(lowerCasePath), "two spellings match: ambiguous")
    }

    func testPlanDagWhyAndHelp() {
        XCTAssertEqual(TVPRunCommand.main(["plan", lowerCasePath] + common), 0)
        XCTAssertEqual(TVPRunCommand.main(["dag", lowerCasePath, "--format", "mermaid"] + common), 0)
        XCTAssertEqual(TVPRunCommand.main(["dag", lowerCasePath, "--format", "svg"] + common), 2)
        XCTAssertEqual(TVPRunCommand.main(["why", lowerCasePath, "train[digits/tvp]"] + common), 0)
        XCTAssertEqual(TVPRunCommand.main(["why", lowerCasePath, "train[digits/tvpp]"] + common), 2)
        XCTAssertEqual(TVPRunCommand.main(["plan", lowerCasePath, "--sett", "x=1"] + common), 2)
        XCTAssertEqual(TVPRunCommand.main(["plan"]), 2)
        for command in ["plan", "dag", "why", "cache", "run"] { XCTAssertEqual(TVPRunCommand.main([command, "--help"]), 0, command) }
        XCTAssertEqual(TVPRunCommand.main([lowerCasePath, "--help"]), 0)
        XCTAssertEqual(TVPRunCommand.main(["plann"]), 2)
        XCTAssertTrue(TVPRunCommand.usage.contains("tvp-run plan FILE") && TVPRunCommand.usage.contains("Exit codes:"))
    }

    func testRunThenCacheCommands() throws {
        let run = [lowerCasePath, "train.lr=0.25", "--runs", world.runsRoot, "-q"] + common
        XCTAssertEqual(TVPRunCommand.main(run), 0)
        let runs = try FileManager.default.contentsOfDirectory(atPath: world.runsRoot + "/toy")
        XCTAssertEqual(runs.count, 1)
        let config = try String(contentsOfFile: world.runsRoot + "/toy/" + runs[0] + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"lr\":0.25"), config)
        XCTAssertEqual(TVPRunCommand.main(run + ["--only", "nope"]), 2, "an unknown stage name is a usage error")

        let cache = try StageCache(root: world.cacheRoot)
        XCTAssertEqual(try cache.entries().count, 15, "\((try? cache.entries().map { $0.record?.stageID ?? "?" }) ?? [])")
        XCTAssertEqual(TVPRunCommand.main(["cache", "ls", "--cache", world.cacheRoot]), 0)
        XCTAssertEqual(TVPRunCommand.main(["cache", "du", "--cache", world.cacheRoot]), 0)
        XCTAssertEqual(TVPRunCommand.main(["cache", "gc", "--cache", world.cacheRoot]), 2, "gc needs a rule")
        XCTAssertEqual(TVPRunCommand.main(["cache", "frob", "--cache", world.cacheRoot]), 2)
        // Keeping the pipeline as written (lr 0.5) drops what only lr=0.25 used: 2 trainings,
        // 4 prompted evaluations, the aggregate and the report.
        XCTAssertEqual(TVPRunCommand.main(["cache", "gc", "--keep-pipelines", lowerCasePath, "--manifest", world.manifestPath,
                                           "--cache", world.cacheRoot]), 0)
        XCTAssertEqual(try cache.entries().count, 7, "\((try? cache.entries().map { $0.record?.stageID ?? "?" }) ?? [])")
        XCTAssertEqual(TVPRunCommand.main(["cache", "gc", "--all", "--cache", world.cacheRoot]), 0)
        XCTAssertEqual(try cache.entries().count, 0)
    }

    func testARunWithoutABackendFailsOnlyTheModelStages() throws {
        TVPRunCommand.backend.set { nil }
        let code = TVPRunCommand.main([lowerCasePath, "--runs", world.runsRoot, "-q"] + common)
        XCTAssertEqual(code, 1)
        let cache = try StageCache(root: world.cacheRoot)
        XCTAssertEqual(Set(try cache.entries().compactMap { $0.record?.kind }), ["fetch", "load-split"])
    }
}
