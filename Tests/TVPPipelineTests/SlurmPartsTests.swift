import Foundation
import TVPCommands
import TVPEngine
import TVPPipeline
import XCTest

/// The Slurm executor's parts that need no cluster: the work split, the job scripts, squeue's
/// output, the status table, and the cache entry lease (expiry and takeover).
final class SlurmPartsTests: XCTestCase {
    func testASweepSplitsIntoSharedStagesOneUnitPerPointAndTheFinalStages() throws {
        let world = try ToyWorld.make()
        defer { world.remove() }
        let session = try world.session(multirun: ["train.lr=0.5,1"], backend: TinyBackend())
        let split = WorkSplit(session: session)
        let names = { (nodes: [Int]) in Set(nodes.map { session.graph.nodes[$0].stage.id }) }
        XCTAssertEqual(split.unitKind, "point")
        XCTAssertEqual(split.units.map(\.label), ["lr=0.5", "lr=1"])
        XCTAssertEqual(split.units.map(\.id), [0, 1])
        // The learning rate changes training and what reads the prompts; loading, clean features,
        // guide text and zero-shot evaluations are the same computation for both points.
        XCTAssertEqual(names(split.shared), ["fetch[toy-digits]", "load[digits/train]", "load[digits/test]", "features[digits/tiny-a]",
                                             "text[digits/clip]", "eval[digits/tiny-a/zero-shot-official]",
                                             "eval[digits/tiny-b/zero-shot-official]"])
        for unit in split.units {
            XCTAssertEqual(names(unit.nodes), ["train[digits/vp]", "train[digits/tvp]", "eval[digits/tiny-a/vp]", "eval[digits/tiny-b/vp]",
                                               "eval[digits/tiny-a/tvp]", "eval[digits/tiny-b/tvp]"])
        }
        XCTAssertEqual(split.final.map { session.graph.nodes[$0].stage.kind }, ["aggregate", "report", "aggregate", "report"])
        // Every node is in exactly one piece, and no unit reads another unit's stage.
        let all = split.shared + split.units.flatMap(\.nodes) + split.final
        XCTAssertEqual(all.count, session.graph.nodes.count)
        XCTAssertEqual(Set(all).count, all.count)
        for unit in split.units {
            let others = Set(split.units.filter { $0.id != unit.id }.flatMap(\.nodes))
            for node in unit.nodes { XCTAssertTrue(session.graph.ancestors(of: node).isDisjoint(with: others)) }
        }
    }

    func testOnePipelineSplitsIntoOneUnitPerEvaluatedModel() throws {
        let world = try ToyWorld.make()
        defer { world.remove() }
        let session = try world.session(backend: TinyBackend())
        let split = WorkSplit(session: session)
        XCTAssertEqual(split.unitKind, "model")
        XCTAssertEqual(split.units.map(\.label), ["tiny-a", "tiny-b"])
        for unit in split.units {
            XCTAssertEqual(unit.nodes.map { session.graph.nodes[$0].stage.id },
                           ["zero-shot-official", "vp", "tvp"].map { "eval[digits/\(unit.label)/\($0)]" })
        }
        XCTAssertTrue(split.shared.allSatisfy { session.graph.nodes[$0].stage.kind != "evaluate" })
        XCTAssertEqual(split.final.count, 2)
    }

    func testADryRunWritesReadableScriptsForWhatIsMissingAndSubmitsNothing() throws {
        let world = try ToyWorld.make()
        defer { world.remove() }
        TVPRunCommand.backend.set { TinyBackend() }
        defer { TVPRunCommand.backend.set { nil } }
        let common = ["--manifest", world.manifestPath, "--cache", world.cacheRoot, "--runs", world.runsRoot, "--offline", "-q"]
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "-m", "train.lr=0.5,1", "--executor", "slurm", "--dry-run",
                                           "--partition", "cpu", "--sbatch-arg=--mem=2G"] + common), 0)
        let folders = try FileManager.default.contentsOfDirectory(atPath: world.runsRoot + "/toy")
        XCTAssertEqual(folders.count, 1)
        let folder = world.runsRoot + "/toy/" + folders[0]
        XCTAssertTrue(folders[0].hasPrefix("slurm-"), folders[0])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder)),
                       ["shared.sbatch", "units.sbatch", "aggregate.sbatch", "submit.sh", "run.json", "units.tsv", "logs", "markers"],
                       "a dry run submits nothing, so there is no jobs file")
        let units = try String(contentsOfFile: folder + "/units.sbatch", encoding: .utf8)
        XCTAssertTrue(units.contains("#SBATCH --array=0-1\n") && units.contains("#SBATCH --partition=cpu\n") && units.contains("#SBATCH --mem=2G\n"), units)
        XCTAssertTrue(units.contains(" -m train.lr=0.5,1 --manifest \(world.manifestPath) --cache \(world.cacheRoot) --offline --unit "), units)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: folder + "/submit.sh"))
        let table = try String(contentsOfFile: folder + "/units.tsv", encoding: .utf8)
        XCTAssertTrue(table.hasPrefix("unit\tlabel\tat submission\tstages\n0\tlr=0.5\tsubmitted\ttoy[lr=0.5]/train[digits/vp] "), table)

        // Workers run the shared stages and unit 1 here; then a dry run has only unit 0 left.
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "-m", "train.lr=0.5,1", "--unit", "shared"] + common), 0)
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "-m", "train.lr=0.5,1", "--unit", "1"] + common), 0)
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "-m", "train.lr=0.5,1", "--unit", "7"] + common), 2)
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "-m", "train.lr=0.5,1", "--executor", "slurm", "--dry-run"] + common), 0)
        let second = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: world.runsRoot + "/toy").filter { $0 != folders[0] }.first)
        let rerun = try String(contentsOfFile: world.runsRoot + "/toy/\(second)/units.sbatch", encoding: .utf8)
        XCTAssertTrue(rerun.contains("#SBATCH --array=0\n"), rerun)
        XCTAssertFalse(FileManager.default.fileExists(atPath: world.runsRoot + "/toy/\(second)/shared.sbatch"), "the shared stages are cached")
    }

    func testArraySpecsCompressRuns() {
        XCTAssertEqual(SlurmScripts.arraySpec([0, 2, 3, 4, 7]), "0,2-4,7")
        XCTAssertEqual(SlurmScripts.arraySpec([5]), "5")
        XCTAssertEqual(SlurmScripts.arraySpec([3, 1, 2, 2]), "1-3")
    }

    func testJobScriptsCarryTheOptionsTheChainAndTheMarkers() {
        let options = SlurmOptions(partition: "gpu", time: "2:00:00", gpusPerTask: 1, cpusPerTask: 4, arrayLimit: 2,
                                   extraArguments: ["--account=lab"])
        let scripts = SlurmScripts(pipeline: "toy", folder: "/runs/toy/slurm-1", workingDirectory: "/work dir",
                                   command: ["/bin/tvp-run", "/p/toy.yaml", "--set", "train.lr=0.5", "--cache", "/c"],
                                   runsDirectory: "/runs", shared: true, units: [0, 2, 3], options: options, threadsGiven: false)
        XCTAssertEqual(scripts.jobs.map(\.file), ["shared.sbatch", "units.sbatch", "aggregate.sbatch"])
        let units = scripts.jobs[1].text
        for line in ["#!/bin/bash", "#SBATCH --job-name=tvp-toy-units", "#SBATCH --array=0,2-3%2", "#SBATCH --output=/runs/toy/slurm-1/logs/unit-%a.log",
                     "#SBATCH --chdir=/work dir", "#SBATCH --kill-on-invalid-dep=yes", "#SBATCH --partition=gpu", "#SBATCH --time=2:00:00",
                     "#SBATCH --gpus-per-task=1", "#SBATCH --cpus-per-task=4", "#SBATCH --account=lab",
                     "marker=/runs/toy/slurm-1/markers/unit-${SLURM_ARRAY_TASK_ID}",
                     "/bin/tvp-run /p/toy.yaml --set train.lr=0.5 --cache /c --unit \"$SLURM_ARRAY_TASK_ID\" --threads ${SLURM_CPUS_PER_TASK:-1} &"] {
            XCTAssertTrue(units.split(separator: "\n").contains { $0 == line }, "missing line \(line) in:\n\(units)")
        }
        XCTAssertFalse(scripts.jobs[0].text.contains("--kill-on-invalid-dep"), "the first job depends on nothing")
        XCTAssertTrue(scripts.jobs[0].text.contains("--cache /c --unit shared --threads"))
        XCTAssertTrue(scripts.jobs[2].text.contains("--cache /c --runs /runs --threads"), scripts.jobs[2].text)
        XCTAssertEqual(scripts.submitScript.components(separatedBy: "id=$(sbatch --parsable $dependency ").count, 4)
        XCTAssertTrue(scripts.submitScript.contains("dependency=--dependency=afterok:$id"))
        // Without missing shared stages or units, only the aggregation, depending on nothing.
        let only = SlurmScripts(pipeline: "toy", folder: "/f", workingDirectory: "/w", command: ["/t"], runsDirectory: "/r", shared: false,
                                units: [], options: SlurmOptions(), threadsGiven: true)
        XCTAssertEqual(only.jobs.map(\.name), ["aggregate"])
        XCTAssertFalse(only.jobs[0].text.contains("--threads"), "a given --threads is already in the command")
        XCTAssertFalse(only.jobs[0].text.contains("#SBATCH --partition"))
    }

    func testSqueueOutputParsesPlainJobsTasksAndPendingRanges() {
        let output = """
        101|PENDING|Dependency
        100_3|RUNNING|None
        100_[5-7,9%2]|PENDING|JobArrayTaskLimit
        100_4|COMPLETING|None

        """
        let entries = QueueEntry.parse(output)
        XCTAssertEqual(entries.map(\.jobID), ["101", "100", "100", "100", "100", "100", "100"])
        XCTAssertEqual(entries.map(\.task), [nil, 3, 5, 6, 7, 9, 4])
        XCTAssertEqual(entries[0].reason, "Dependency")
        XCTAssertEqual(entries[2].state, "PENDING")
        XCTAssertEqual(entries[6].state, "COMPLETING")
        XCTAssertEqual(QueueEntry.parse("garbage\n\n"), [])
    }

    func testClusterOptionsAreUsageErrorsWithoutTheSlurmExecutor() {
        XCTAssertEqual(TVPRunCommand.main(["x.yaml", "--partition", "gpu"]), 2)
        XCTAssertEqual(TVPRunCommand.main(["x.yaml", "--executor", "kubernetes"]), 2)
        XCTAssertEqual(TVPRunCommand.main(["x.yaml", "--executor", "slurm", "--unit", "0"]), 2)
        XCTAssertEqual(TVPRunCommand.main(["x.yaml", "--unit", "first"]), 2)
        XCTAssertEqual(TVPRunCommand.main(["status", "/nowhere/run"]), 2)
        XCTAssertEqual(TVPRunCommand.main(["cancel"]), 2)
    }

    func testStatusReadsTheCacheTheQueueAndTheMarkers() throws {
        let root = NSTemporaryDirectory() + "tvp-status-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = try StageCache(root: root + "/cache")
        func key(_ n: Int) -> StageKey { StageManifest(kind: "k", parameters: ["n": .integer(n)], inputKeys: [], assets: [:], code: "1").key }
        for n in [0, 1] {
            _ = try cache.compute(manifest: StageManifest(kind: "k", parameters: ["n": .integer(n)], inputKeys: [], assets: [:], code: "1"),
                                  stageID: "s\(n)", inputIDs: []) { StageOutput() }
        }
        let folder = root + "/run"
        try FileManager.default.createDirectory(atPath: folder + "/markers", withIntermediateDirectories: true)
        func piece(_ keys: [Int]) -> String { "{\"keys\": [\(keys.map { "\"\(key($0).hex)\"" }.joined(separator: ", "))]}" }
        try """
        {"cache": "\(cache.root)", "shared": \(piece([0])), "final": \(piece([9])), "shared_submitted": true, "submitted_units": [0, 1, 2, 3],
         "units": [{"id": 0, "label": "a", "keys": ["\(key(1).hex)"]}, {"id": 1, "label": "b", "keys": ["\(key(2).hex)"]},
                   {"id": 2, "label": "c", "keys": ["\(key(3).hex)"]}, {"id": 3, "label": "d", "keys": ["\(key(4).hex)"]}]}
        """.write(toFile: folder + "/run.json", atomically: true, encoding: .utf8)
        try "shared 7\nunits 8\naggregate 9\n".write(toFile: folder + "/jobs", atomically: true, encoding: .utf8)
        try "exit status 1\n".write(toFile: folder + "/markers/unit-1.failed", atomically: true, encoding: .utf8)
        try "job=8 host=n1\n".write(toFile: folder + "/markers/unit-3.started", atomically: true, encoding: .utf8)
        let status = try SlurmRunStatus.read(folder: folder, queue: QueueEntry.parse("8_2|RUNNING|None\n9|PENDING|Dependency\n"))
        XCTAssertEqual(status.rows.map(\.name), ["shared", "unit 0 (a)", "unit 1 (b)", "unit 2 (c)", "unit 3 (d)", "aggregate"])
        XCTAssertEqual(status.rows.map(\.state), ["done", "done", "failed", "running", "failed", "pending"])
        XCTAssertEqual(status.rows[2].detail, "exit status 1")
        XCTAssertEqual(status.rows[2].log, folder + "/logs/unit-1.log")
        XCTAssertTrue(status.rows[4].detail.contains("ended without finishing"), status.rows[4].detail)
        XCTAssertEqual(status.rows[5].detail, "job 9 pending (Dependency)")
        XCTAssertTrue(status.text.contains("log of unit 1 (b): \(folder)/logs/unit-1.log"), status.text)
        XCTAssertTrue(status.text.contains("2 done, 1 running, 1 pending, 2 failed"), status.text)
        // Without the queue, an unfinished unit with no marker is unknown, not failed.
        let blind = try SlurmRunStatus.read(folder: folder, queue: [], queueProblem: "squeue is not installed here")
        XCTAssertEqual(blind.rows[3].state, "unknown")
        XCTAssertTrue(blind.text.contains("note: squeue failed"))
    }
}
