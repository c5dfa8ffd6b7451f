import Foundation
import TVPPipeline
import XCTest

/// A halving search (the tiny LLaVA checkpoint, three learning rates, rungs at 1, 2 and 8 steps)
/// killed with SIGKILL once its second rung is in the cache, then run again: the real binary as a
/// subprocess. The rerun trains only the rungs the kill left and writes the uninterrupted run's table.
final class HalvingKillTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: PromptingBackendTests.fixtures + "/llava-tiny/model.safetensors") else {
            throw XCTSkip("the tiny LLaVA checkpoint of TVPModelsTests/Fixtures is absent")
        }
        root = NSTemporaryDirectory() + "tvp-halving-kill-\(UUID().uuidString)"
        try SlurmClusterTests.copyTinyLLaVA(into: root)
    }

    override func tearDown() { if !root.isEmpty { try? FileManager.default.removeItem(atPath: root) } }

    func testASearchKilledAfterARungResumesToTheUninterruptedTable() throws {
        let binary = try KillResumeTests.tvpRunBinary()
        let world = try ToyWorld.make(pipeline: SlurmClusterTests.searchPipeline(root: root, rungs: "[1, 2, 8]", epochs: 4))
        defer { world.remove() }
        func args(_ cache: String, _ runs: String) -> [String] {
            [world.pipelinePath, "--manifest", world.manifestPath, "--cache", cache, "--runs", runs, "--threads", "1", "--offline"]
        }
        let reference = try CLI.run(binary, args(root + "/cache-reference", root + "/runs-reference"), in: world.root)
        XCTAssertEqual(reference.status, 0, reference.output)

        // Killed once both points of the second rung are in the cache (the third rung is training).
        let cache = root + "/cache", runs = root + "/runs"
        let killed = try CLI.start(binary, args(cache, runs), in: world.root, log: root + "/killed.log")
        let deadline = Date().addingTimeInterval(120)
        while rungEntries(cache, steps: 2) < 2 {
            guard killed.isRunning, Date() < deadline else {
                killed.terminate()
                return XCTFail("tvp-run ended before its second rung was cached; log:\n\(CLI.read(root + "/killed.log"))")
            }
            usleep(1000)
        }
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        XCTAssertEqual(killed.terminationReason, .uncaughtSignal)
        XCTAssertEqual(CLI.visibleEntries(runs + "/sweep"), [], "a killed search leaves no run folder")

        let resumed = try CLI.run(binary, args(cache, runs), in: world.root)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let plans = resumed.output.split(separator: "\n").filter { $0.hasPrefix("plan: ") }
        XCTAssertEqual(plans.count, 4, resumed.output)
        XCTAssertTrue(plans[0].hasSuffix("0 to run") && plans[1].hasSuffix("0 to run"), "the first two rungs are replayed: \(plans)")
        XCTAssertEqual(try summary(runs), try summary(root + "/runs-reference"))
    }

    /// Finished cache entries of the rung stages `train[…/STEPS]`.
    func rungEntries(_ cache: String, steps: Int) -> Int {
        let state = CacheState(cache: cache)
        return state.entries.filter { key, files in
            files.contains("done") && CLI.read("\(cache)/stages/\(key.prefix(2))/\(key)/result.json").contains("\"rung_steps\":\(steps),")
        }.count
    }

    func summary(_ runs: String) throws -> String {
        let folders = CLI.visibleEntries(runs + "/sweep")
        XCTAssertEqual(folders.count, 1, "\(folders)")
        return try String(contentsOfFile: "\(runs)/sweep/\(try XCTUnwrap(folders.first))/summary.csv", encoding: .utf8)
    }
}
