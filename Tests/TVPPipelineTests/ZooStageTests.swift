import Foundation
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPTensor
import XCTest

/// The zoo build file (Pipelines/zoo.yaml) as engine stages: validated with file:line:column
/// errors, planned, cached, resumed, and rebuilt one connector at a time.
final class ZooStageTests: XCTestCase {
    var folder = ""
    /// The repository root: its datasets.manifest names the zoo's assets.
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "tvp-zoo-stages-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func write(_ text: String) throws -> String {
        let path = folder + "/zoo.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run(_ arguments: [String], cache: String? = nil) throws -> (status: Int32, output: String) {
        try CLI.run(try KillResumeTests.tvpRunBinary(), arguments + ["--manifest", repository + "/datasets.manifest", "--cache", cache ?? folder + "/cache"],
                    in: folder)
    }

    func testBadZooFilesAreRefusedWithTheirPlace() throws {
        let cases: [(String, String, [String])] = [
            ("build: zoo\noutput: out\nscale: huge\n", "zoo.yaml:3:8", ["'huge'", "full", "tiny"]),
            ("build: zoo\noutput: out\nmodels: [zoo-effnet-mlp, zoo-effnet-pol]\n", "zoo.yaml:3:26", ["did you mean 'zoo-effnet-pool'?"]),
            ("build: zoo\noutput: out\nepochs: 3\n", "zoo.yaml:3:1", ["epochs"]),
            ("build: ensemble\noutput: out\n", "zoo.yaml:1:8", ["only one is 'zoo'"]),
            ("build: zoo\nscale: tiny\n", "zoo.yaml:1:1", ["missing required key 'output'"]),
            ("build: zoo\noutput: out\nmodels: [zoo-effnet-pool]\nconnectors: {zoo-vit-mlp: {epochs: 2}}\n", "zoo.yaml:4:14", ["zoo-vit-mlp"]),
            ("build: zoo\noutput: out\nconnectors: {zoo-vit-mlp: {epochs: 0}}\n", "zoo.yaml:3:36", ["from 1 to 1000"]),
        ]
        for (text, place, words) in cases {
            let path = try write(text)
            for command in [["plan", path], [path]] {
                let result = try run(command)
                XCTAssertEqual(result.status, 2, "\(command) on\n\(text)\n\(result.output)")
                XCTAssertTrue(result.output.contains(place), "\(place) not in:\n\(result.output)")
                for word in words { XCTAssertTrue(result.output.contains(word), "\(word) not in:\n\(result.output)") }
            }
        }
    }

    /// `plan` lists the zoo's stages (no asset is read: the manifest's checksums key them), each to
    /// run for want of a cache entry; `--set scale=tiny` and `--set models=[…]` shape the graph.
    func testPlanListsTheZoosStages() throws {
        let path = try write("build: zoo\noutput: built\nmodels: [zoo-effnet-qformer, zoo-vit-mlp]\n")
        let full = try run(["plan", path])
        XCTAssertEqual(full.status, 0, full.output)
        let tiny = try run(["plan", path, "--set", "scale=tiny"])
        XCTAssertEqual(tiny.status, 0, tiny.output)
        let stages = ["fetch[fashion-mnist]", "fetch[mnist-5k]", "fetch[efficientnet-lite0]", "fetch[smollm2-135m-instruct]", "fetch[all-minilm-l6-v2]",
                      "render[train/16/128px/seed1]", "render[val/4/128px/seed0]", "vit", "features[efficientnet-stage6]", "features[vit]",
                      "match[zoo-effnet-qformer]", "connector[zoo-effnet-qformer]", "match[zoo-vit-mlp]", "connector[zoo-vit-mlp]",
                      "features[guide]", "guide", "zero-shot"]
        for stage in stages {
            XCTAssertEqual(CLI.planLine(stage, tiny.output)?.hasPrefix("to run"), true, "\(stage):\n\(tiny.output)")
            XCTAssertEqual(CLI.planLine(stage, tiny.output)?.contains("no cache entry"), true, "\(stage):\n\(tiny.output)")
        }
        XCTAssertTrue(tiny.output.contains("\(stages.count) stages: 0 cached, \(stages.count) to run"), tiny.output)
        XCTAssertTrue(full.output.contains("render[train/4800/128px/seed1]") && full.output.contains("render[val/100/128px/seed0]"), full.output)
        XCTAssertNil(CLI.planLine("match[zoo-effnet-pool]", full.output), full.output)
        // The tiny and the full build share only the fetches.
        for stage in stages where !stage.hasPrefix("fetch[") {
            XCTAssertNotEqual(CLI.shortKey(of: stage, inPlan: full.output), CLI.shortKey(of: stage, inPlan: tiny.output), stage)
        }
        // On Slurm each model's matching and training is an array task.
        let slurm = try run([path, "--set", "scale=tiny", "--executor", "slurm", "--dry-run", "--runs", folder + "/runs"])
        XCTAssertEqual(slurm.status, 0, slurm.output)
        XCTAssertTrue(slurm.output.contains("2 of 2 units (one per model) to run"), slurm.output)
    }

    /// A real tiny build through the stages (the zoo's parts from the real asset cache): it writes
    /// the weight files and the zero-shot table; a second run is all cached and writes the files
    /// back; one connector's options rerun its training and the zero-shot table only; a build
    /// killed halfway resumes from its finished stages and writes the same files, byte for byte.
    func testATinyBuildCachesRebuildsOneConnectorAndResumes() throws {
        let assets = (ProcessInfo.processInfo.environment["TVP_CACHE"] ?? (NSHomeDirectory() + "/.cache/tvp")) + "/assets"
        for file in ["smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "efficientnet-lite0/efficientnet-lite0-57934424.pth",
                     "all-minilm-l6-v2/model.safetensors", "fashion-mnist/t10k-images-idx3-ubyte.gz", "mnist-5k/mnist_5k.csv.gz"]
            where !FileManager.default.fileExists(atPath: assets + "/" + file) {
            throw XCTSkip("the zoo's parts are not in \(assets) (missing \(file)): run scripts/test, which fetches them")
        }
        // Private caches; the assets are linked from the real one.
        func cache(_ name: String) throws -> String {
            let path = folder + "/" + name
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: path + "/assets", withDestinationPath: assets)
            return path
        }
        let first = try cache("cache"), second = try cache("cache-killed")
        let path = try write("build: zoo\noutput: built\nscale: tiny\nmodels: [zoo-effnet-pool, zoo-vit-mlp]\n")
        let files = ["zoo-effnet-pool.safetensors", "zoo-vit-mlp.safetensors", "zoo-vit-tower.safetensors", "zoo-guide.safetensors"]
        func digests(_ output: String) throws -> [String: String] {
            Dictionary(uniqueKeysWithValues: try files.map { ($0, try fileSHA256(folder + "/" + output + "/" + $0).sha256 ?? "") })
        }

        let built = try run([path, "--offline"], cache: first)
        XCTAssertEqual(built.status, 0, built.output)
        XCTAssertTrue(built.output.contains("| model | clevr-counting | fashion-mnist | mnist | pope-adversarial |"), built.output)
        XCTAssertTrue(built.output.contains("| zoo-effnet-pool | ") && built.output.contains("| zoo-vit-mlp | "), built.output)
        XCTAssertTrue(built.output.contains("written to \(folder)/built"), built.output)
        let written = try digests("built")
        let total = try XCTUnwrap(built.output.range(of: #"plan: \d+ stages"#, options: .regularExpression).map { built.output[$0] })

        // All cached; a deleted weight file is written back from the cache.
        try FileManager.default.removeItem(atPath: folder + "/built/zoo-vit-mlp.safetensors")
        let again = try run([path, "--offline"], cache: first)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("done: 0 computed"), again.output)
        XCTAssertEqual(try digests("built"), written)

        // One connector's training changes: its training stage and the zero-shot table rerun, nothing else.
        let change = ["--set", "connectors={zoo-effnet-pool: {epochs: 2}}"]
        let plan = try run(["plan", path] + change, cache: first)
        XCTAssertEqual(plan.status, 0, plan.output)
        let toRun = plan.output.split(separator: "\n").filter { $0.hasPrefix("to run") }.map { $0.split(separator: " ")[2] }
        XCTAssertEqual(toRun, ["connector[zoo-effnet-pool]", "zero-shot"], plan.output)
        XCTAssertEqual(CLI.planLine("connector[zoo-effnet-pool]", plan.output)?.contains("epochs: 1 → 2"), true, plan.output)
        let rebuilt = try run([path, "--offline"] + change, cache: first)
        XCTAssertEqual(rebuilt.status, 0, rebuilt.output)
        XCTAssertTrue(rebuilt.output.contains("done: 2 computed"), rebuilt.output)
        let changed = try digests("built")
        XCTAssertNotEqual(changed["zoo-effnet-pool.safetensors"], written["zoo-effnet-pool.safetensors"])
        for file in files where file != "zoo-effnet-pool.safetensors" { XCTAssertEqual(changed[file], written[file], file) }

        // Killed once the ViT is trained, then run again into another output: the finished stages are
        // kept and the files are those of the uninterrupted build.
        let resumedPath = try write("build: zoo\noutput: resumed\nscale: tiny\nmodels: [zoo-effnet-pool, zoo-vit-mlp]\n")
        let killed = try CLI.start(try KillResumeTests.tvpRunBinary(),
                                   [resumedPath, "--offline", "--manifest", repository + "/datasets.manifest", "--cache", second],
                                   in: folder, log: folder + "/killed.log")
        let deadline = Date().addingTimeInterval(600)
        while killed.isRunning && !CLI.read(folder + "/killed.log").contains("done   vit") && Date() < deadline { usleep(100_000) }
        XCTAssertTrue(killed.isRunning, "the build ended before it could be killed:\n\(CLI.read(folder + "/killed.log"))")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        let resumed = try run([resumedPath, "--offline"], cache: second)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains(String(total)), resumed.output)
        XCTAssertNil(resumed.output.range(of: #"plan: \d+ stages, 0 cached"#, options: .regularExpression), resumed.output)
        XCTAssertFalse(resumed.output.contains("run    vit"), resumed.output)
        XCTAssertEqual(try digests("resumed"), written)
    }
}

/// A stage's work folder: kept when a run leaves the entry unfinished (what a killed training
/// resumes from), gone once the entry is finished.
final class ZooStageWorkFolderTests: XCTestCase {
    func testTheWorkFolderSurvivesAnUnfinishedRunAndGoesWhenTheEntryIsFinished() throws {
        let cache = try StageCache(root: temporaryCacheRoot(removedAfter: self))
        let manifest = StageManifest(kind: "k", parameters: ["n": 1], inputKeys: [], assets: [:], code: "1")
        let work = cache.workDirectory(for: manifest.key), folder = cache.directory(for: manifest.key)
        struct Killed: Error {}
        XCTAssertThrowsError(try cache.compute(manifest: manifest, stageID: "s", inputIDs: []) {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            try Data("epoch 1".utf8).write(to: URL(fileURLWithPath: work + "/checkpoint"))
            FileManager.default.createFile(atPath: folder + "/payload.safetensors.tmp-999999-1", contents: Data("stale".utf8))
            throw Killed()
        })
        XCTAssertTrue(cache.hasUnfinishedEntry(manifest.key))
        var seen = ""
        _ = try cache.compute(manifest: manifest, stageID: "s", inputIDs: []) {
            seen = String(decoding: try Data(contentsOf: URL(fileURLWithPath: work + "/checkpoint")), as: UTF8.self)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/payload.safetensors.tmp-999999-1"), "leftovers other than the work folder go")
            return StageOutput(result: ["ok": true])
        }
        XCTAssertEqual(seen, "epoch 1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(),
                       ["done", "lock", "manifest.json", "result.json"])
        XCTAssertNil(cache.damage(of: manifest.key))
    }
}
