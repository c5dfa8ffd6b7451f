import Foundation
import TVPData
import TVPPipeline
import XCTest

/// `tvp-run --executor slurm` on a real single-node Slurm cluster (scripts/slurm-test-cluster): a
/// two-point sweep of the tiny LLaVA checkpoint runs through sbatch and gives the same table as the
/// local executor; a cancelled array task is finished by submitting the same command again.
/// Skips (with the script's reason) where Slurm cannot be installed or started.
final class SlurmClusterTests: XCTestCase {
    var root = ""
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    override func setUpWithError() throws {
        let start = try CLI.runProgram(Self.package + "/scripts/slurm-test-cluster", ["start"])
        if let line = start.output.split(separator: "\n").first(where: { $0.contains("unavailable") }) {
            throw XCTSkip("no Slurm test cluster: \(line)")
        }
        guard start.status == 0, let conf = start.output.split(separator: "\n").first(where: { $0.hasPrefix("export SLURM_CONF=") }) else {
            throw XCTSkip("scripts/slurm-test-cluster start did not report a cluster: \(start.output)")
        }
        setenv("SLURM_CONF", String(conf.dropFirst("export SLURM_CONF=".count)), 1)
        guard FileManager.default.fileExists(atPath: PromptingBackendTests.fixtures + "/llava-tiny/model.safetensors") else {
            throw XCTSkip("the tiny LLaVA checkpoint of TVPModelsTests/Fixtures is absent")
        }
        // A folder every job can reach (the tests and the cluster share this machine's filesystem).
        root = NSTemporaryDirectory() + "tvp-slurm-\(UUID().uuidString)"
        try Self.copyTinyLLaVA(into: root)
    }

    /// The tiny LLaVA checkpoint of TVPModelsTests/Fixtures, with a tokenizer, as `folder/llava-tiny`.
    static func copyTinyLLaVA(into folder: String) throws {
        let llava = folder + "/llava-tiny"
        try FileManager.default.createDirectory(atPath: llava, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors", "preprocessor_config.json"] {
            try FileManager.default.copyItem(atPath: PromptingBackendTests.fixtures + "/llava-tiny/" + file, toPath: llava + "/" + file)
        }
        try PromptingBackendTests.wordPieceJSON(addedImageToken: 69).write(toFile: llava + "/tokenizer.json", atomically: true, encoding: .utf8)
    }

    override func tearDown() { if !root.isEmpty { try? FileManager.default.removeItem(atPath: root) } }

    func pipeline() -> String { Self.pipeline(root: root) }

    /// A halving search over three learning rates (`rungs`), each training VP to validation on 2 of 6 items.
    static func searchPipeline(root: String, rungs: String = "[1, 2, 4]", epochs: Int = 2) -> String {
        pipeline(root: root).replacingOccurrences(of: "train: {split: train, limit: 4}", with: "train: {split: train, limit: 6}")
            .replacingOccurrences(of: "loss: {fca: 0.005, tse: 0}", with: "loss: {fca: 0, tse: 0}")
            .replacingOccurrences(of: "train: {epochs: 1, batch: 2, lr: 1}",
                                  with: "train: {epochs: \(epochs), batch: 2, optimizer: adam, lr: 0.01, validation: 2, validate_every: 1}")
            .replacingOccurrences(of: "protocols: [zero-shot-official, vp, tvp]", with: "protocols: [zero-shot-official, vp]")
            .replacingOccurrences(of: "  train.lr: [0.5, 2]", with: "  train.lr: [0.001, 0.01, 0.1]\n  prune: halving\n  rungs: \(rungs)")
    }

    static func pipeline(root: String) -> String {
        """
        name: sweep
        \(toyDigitsData(train: 4, test: 3))
        models:
          llava: {family: llava, weights: {path: \(root)/llava-tiny}}
        surrogate: llava
        prompt: {kind: padding, image_size: 32, frame: 4}
        loss: {fca: 0.005, tse: 0}
        train: {epochs: 1, batch: 2, lr: 1}
        evaluate: {protocols: [zero-shot-official, vp, tvp], metrics: [accuracy], batch: 3}
        sweep:
          train.lr: [0.5, 2]

        """
    }

    func testASweepRunsThroughSlurmLikeLocallyAndACancelledTaskIsResubmitted() throws {
        let binary = try KillResumeTests.tvpRunBinary()
        let world = try ToyWorld.make(pipeline: pipeline())
        defer { world.remove() }
        let args = arguments(world)
        // The reference: the local executor.
        let localTable = try localSummary(binary, world)

        // Through Slurm: shared stages, a two-task array, the aggregation.
        let cache = root + "/cache", runs = root + "/runs"
        let submitted = try CLI.run(binary, args(cache, runs) + ["--executor", "slurm"], in: world.root)
        XCTAssertEqual(submitted.status, 0, submitted.output)
        XCTAssertTrue(submitted.output.contains("2 of 2 units (one per point) to run: 0-1"), submitted.output)
        let folder = try runFolder(submitted.output)
        for file in ["shared.sbatch", "units.sbatch", "aggregate.sbatch", "submit.sh", "run.json", "units.tsv", "jobs"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + file), file)
        }
        try waitForJobs(folder)
        let status = try CLI.run(binary, ["status", folder], in: world.root)
        XCTAssertTrue(status.output.contains("4 done"), status.output)
        XCTAssertEqual(try summary(runs), localTable, "the Slurm run's table is the local one")

        // Cancel task 1 of the array as soon as it exists, let the rest end, then submit again.
        let cache2 = root + "/cache2", runs2 = root + "/runs2"
        let first = try CLI.run(binary, args(cache2, runs2) + ["--executor", "slurm", "--array-limit", "1"], in: world.root)
        XCTAssertEqual(first.status, 0, first.output)
        let folder2 = try runFolder(first.output)
        let unitsJob = try XCTUnwrap(try jobs(folder2)["units"])
        let cancel = try CLI.runProgram("/usr/bin/env", ["scancel", "\(unitsJob)_1"])
        XCTAssertEqual(cancel.status, 0, cancel.output)
        try waitForJobs(folder2)
        let broken = try CLI.run(binary, ["status", folder2], in: world.root)
        XCTAssertTrue(broken.output.contains("unit 0 (lr=0.5)") && broken.output.split(separator: "\n").contains { $0.contains("unit 1 (lr=2)") && !$0.contains("done") },
                      broken.output)
        XCTAssertTrue(broken.output.contains("Submit the same command again"), broken.output)
        XCTAssertEqual(CLI.visibleEntries(runs2 + "/sweep").filter { !$0.hasPrefix("slurm-") }, [], "the aggregation did not run")

        let again = try CLI.run(binary, args(cache2, runs2) + ["--executor", "slurm"], in: world.root)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("shared stages cached; 1 of 2 units (one per point) to run: 1"), again.output)
        let folder3 = try runFolder(again.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder3 + "/shared.sbatch"))
        try waitForJobs(folder3)
        XCTAssertEqual(try summary(runs2), localTable)
    }

    func testAHalvingSearchRunsThroughSlurmRungByRungLikeLocally() throws {
        let binary = try KillResumeTests.tvpRunBinary()
        let world = try ToyWorld.make(pipeline: Self.searchPipeline(root: root))
        defer { world.remove() }
        let args = arguments(world)
        let localTable = try localSummary(binary, world)
        XCTAssertTrue(localTable.contains("validation_accuracy"), localTable)

        // Three rungs, each submitted and awaited; then the evaluation and aggregation, not awaited.
        setenv("TVP_SLURM_POLL_SECONDS", "1", 1)
        let submitted = try CLI.run(binary, args(root + "/cache", root + "/runs") + ["--executor", "slurm"], in: world.root)
        XCTAssertEqual(submitted.status, 0, submitted.output)
        for line in ["rung 1 of 3, 3 points to 1 steps", "rung 2 of 3, 2 points to 2 steps", "rung 3 of 3, 1 point to 4 steps",
                     "the evaluation of the last rung's points"] {
            XCTAssertTrue(submitted.output.contains(line), "no '\(line)' in:\n\(submitted.output)")
        }
        let folder = try runFolder(submitted.output)
        XCTAssertTrue(try String(contentsOfFile: folder + "/units.sbatch", encoding: .utf8).contains("--round 4"))
        try waitForJobs(folder)
        XCTAssertEqual(try summary(root + "/runs"), localTable, "the Slurm search's table is the local one")
        // Submitted again, everything is cached.
        let again = try CLI.run(binary, args(root + "/cache", root + "/runs") + ["--executor", "slurm"], in: world.root)
        XCTAssertTrue(again.output.contains("nothing to submit"), again.output)
    }

    // MARK: helpers

    /// The `tvp-run` arguments of `world`'s pipeline with a cache and runs folder.
    func arguments(_ world: ToyWorld) -> (String, String) -> [String] {
        { cache, runs in [world.pipelinePath, "--manifest", world.manifestPath, "--cache", cache, "--runs", runs, "--threads", "1", "--offline"] }
    }

    /// The summary.csv of a local run of `world`'s pipeline (the reference).
    func localSummary(_ binary: String, _ world: ToyWorld) throws -> String {
        let local = try CLI.run(binary, arguments(world)(root + "/cache-local", root + "/runs-local"), in: world.root)
        XCTAssertEqual(local.status, 0, local.output)
        return try summary(root + "/runs-local")
    }

    /// The `summary.csv` of the one local-style run folder under `runs/sweep`.
    func summary(_ runs: String) throws -> String {
        let folders = CLI.visibleEntries(runs + "/sweep").filter { !$0.hasPrefix("slurm-") }
        XCTAssertEqual(folders.count, 1, "\(folders)")
        return try String(contentsOfFile: "\(runs)/sweep/\(try XCTUnwrap(folders.first))/summary.csv", encoding: .utf8)
    }

    func runFolder(_ output: String) throws -> String {
        let line = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix("run folder: ") }, output)
        return String(line.dropFirst("run folder: ".count))
    }

    func jobs(_ folder: String) throws -> [String: String] {
        var jobs: [String: String] = [:]
        for line in try String(contentsOfFile: folder + "/jobs", encoding: .utf8).split(separator: "\n") {
            let words = line.split(separator: " ")
            jobs[String(words[0])] = String(words[1])
        }
        return jobs
    }

    /// Waits until none of the folder's jobs is in the queue (at most 5 minutes).
    func waitForJobs(_ folder: String) throws {
        let ids = Set(try jobs(folder).values)
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let queue = try CLI.runProgram("/usr/bin/env", ["squeue", "-h", "-r", "-o", "%i"])
            let queued = queue.output.split(separator: "\n").map { String($0.split(separator: "_")[0]) }
            if queue.status == 0 && !queued.contains(where: ids.contains) { return }
            usleep(500_000)
        }
        XCTFail("the jobs of \(folder) did not finish within 5 minutes")
    }
}

extension CLI {
    /// Runs any program to the end (through the fetcher's process runner); returns its exit status
    /// and stdout + stderr.
    static func runProgram(_ program: String, _ arguments: [String]) throws -> CommandResult {
        try ProcessRunner.run(CommandRequest(executable: program, arguments: arguments,
                                             directory: FileManager.default.currentDirectoryPath))
    }
}
