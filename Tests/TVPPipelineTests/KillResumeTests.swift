import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPTensor
import XCTest

/// `tvp-run` killed with SIGKILL in the middle of writing a stage's payload, then started again:
/// the real binary as a subprocess, on a pipeline whose fetch and load stages need no model backend.
final class KillResumeTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "tvp-kill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    /// The two load stages (about 12 MB of raw 256×256 images each), run one at a time so the order is fixed.
    static let loads = ["load[digits/train]", "load[digits/test]"]

    func testKillNineMidWriteThenRerunDoesOnlyWhatIsLeftAndMatchesAnUninterruptedRun() throws {
        let binary = try Self.tvpRunBinary()
        let world = try KillWorld.make(root: root, count: 48)
        func arguments(cache: String, runs: String) -> [String] {
            [world.pipelinePath, "--manifest", world.manifestPath, "--cache", cache, "--runs", runs,
             "--until", Self.loads.joined(separator: ","), "--threads", "1", "--offline"]
        }
        let cache = root + "/cache", runs = root + "/runs"

        // The keys of the three stages that will run, from `tvp-run plan`.
        let plan = try CLI.run(binary, ["plan", world.pipelinePath, "--manifest", world.manifestPath, "--cache", cache], in: root)
        XCTAssertEqual(plan.status, 0, "plan failed (the pipeline uses the model families of docs/pipelines.md): \(plan.output)")
        let keys = ["fetch[toy-digits]"] + Self.loads
        let short = try keys.map { try XCTUnwrap(CLI.shortKey(of: $0, inPlan: plan.output), "\($0) not in plan:\n\(plan.output)") }

        // Run 1: SIGKILL once fetch and the first load are done and the second load's payload is
        // being written (its temporary file exists).
        let killed = try CLI.start(binary, arguments(cache: cache, runs: runs), in: root, log: root + "/run1.log")
        var state: CacheState
        let deadline = Date().addingTimeInterval(60)
        while true {
            state = CacheState(cache: cache)
            if state.finished(short[0]) && state.finished(short[1]) && !state.temporaryFiles(short[2]).isEmpty {
                kill(killed.processIdentifier, SIGKILL)
                break
            }
            guard killed.isRunning, Date() < deadline else {
                killed.terminate()
                return XCTFail("tvp-run ended before the second load wrote its payload; log:\n\(CLI.read(root + "/run1.log"))")
            }
            usleep(500)
        }
        killed.waitUntilExit()
        XCTAssertEqual(killed.terminationReason, .uncaughtSignal)
        XCTAssertEqual(killed.terminationStatus, SIGKILL)
        state = CacheState(cache: cache)
        XCTAssertFalse(state.finished(short[2]), "the killed stage has no done marker")
        XCTAssertFalse(state.temporaryFiles(short[2]).isEmpty, "the kill left a half-written payload behind")
        XCTAssertEqual(CLI.visibleEntries(runs + "/toy"), [], "a killed run leaves no run folder")

        // The plan now sees two cached stages and the unfinished one.
        let replan = try CLI.run(binary, ["plan", world.pipelinePath, "--manifest", world.manifestPath, "--cache", cache], in: root)
        XCTAssertEqual(CLI.planLine(keys[0], replan.output)?.hasPrefix("cached"), true, replan.output)
        XCTAssertEqual(CLI.planLine(keys[1], replan.output)?.hasPrefix("cached"), true, replan.output)
        XCTAssertEqual(CLI.planLine(keys[2], replan.output)?.contains("an earlier run did not finish it"), true, replan.output)

        // Run 2: resumes. Only the killed stage runs; the others are found in the cache.
        let resumed = try CLI.run(binary, arguments(cache: cache, runs: runs), in: root)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("plan: 6 stages, 2 cached, 1 to run"), resumed.output)
        XCTAssertTrue(resumed.output.contains("run    \(keys[2])"), resumed.output)
        XCTAssertFalse(resumed.output.contains("run    \(keys[0])") || resumed.output.contains("run    \(keys[1])"), resumed.output)
        let meta = try JSONValue.parse(CLI.read(try XCTUnwrap(CLI.visibleEntries(runs + "/toy").first.map { runs + "/toy/\($0)/meta.json" })))
        XCTAssertEqual(meta["cache_hits"], 2)
        XCTAssertEqual(meta["computed"], 1)

        // Nothing partial is left: every entry is finished and complete, no temporary file anywhere.
        state = CacheState(cache: cache)
        XCTAssertEqual(state.allTemporaryFiles, [], "temporary files left in the cache")
        for key in short {
            XCTAssertTrue(state.finished(key), key)
            XCTAssertEqual(state.files(key).filter { $0 != "payload.safetensors" }, ["done", "lock", "manifest.json", "result.json"], key)
        }

        // Run 3, uninterrupted, into a fresh cache: the same entries, byte for byte (fetch results
        // name files in their own cache, so its paths are compared relative to the cache).
        let fresh = root + "/fresh"
        let clean = try CLI.run(binary, arguments(cache: fresh, runs: root + "/runs-fresh"), in: root)
        XCTAssertEqual(clean.status, 0, clean.output)
        let freshState = CacheState(cache: fresh)
        for key in short {
            XCTAssertEqual(state.files(key).contains("payload.safetensors"), freshState.files(key).contains("payload.safetensors"), key)
            for file in ["manifest.json"] + (freshState.files(key).contains("payload.safetensors") ? ["payload.safetensors"] : []) {
                XCTAssertEqual(try state.bytes(key, file), try freshState.bytes(key, file), "\(key)/\(file)")
            }
            XCTAssertEqual(String(decoding: try state.bytes(key, "result.json"), as: UTF8.self).replacingOccurrences(of: cache, with: "CACHE"),
                           String(decoding: try freshState.bytes(key, "result.json"), as: UTF8.self).replacingOccurrences(of: fresh, with: "CACHE"),
                           "\(key)/result.json")
        }
        XCTAssertEqual(try CLI.read(cache + "/assets/toy-digits/train-images-idx3-ubyte"),
                       try CLI.read(fresh + "/assets/toy-digits/train-images-idx3-ubyte"))
    }

    /// `tvp-run` in the products folder of this test bundle (`swift build --build-tests` builds it
    /// beside the tests), or `$TVP_RUN_BINARY`; skips when there is none.
    static func tvpRunBinary(file: String = #filePath) throws -> String {
        var candidates: [String] = []
        if let path = ProcessInfo.processInfo.environment["TVP_RUN_BINARY"], !path.isEmpty { candidates.append(path) }
        let bundle = Bundle.main.bundleURL
        candidates += [bundle.appendingPathComponent("tvp-run").path, bundle.deletingLastPathComponent().appendingPathComponent("tvp-run").path]
        for test in Bundle.allBundles where test.bundlePath.hasSuffix(".xctest") {
            candidates.append(test.bundleURL.deletingLastPathComponent().appendingPathComponent("tvp-run").path)
        }
        let package = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(package.appendingPathComponent(".build/debug/tvp-run").path)
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw XCTSkip("no tvp-run executable beside the tests (looked in \(candidates)); build it with `swift build --build-tests` or set TVP_RUN_BINARY")
    }
}

/// A dataset large enough that writing a load stage's payload takes a moment: `count` 8×8 gray
/// images per split (3 classes), stored as IDX files with a manifest fetching them from disk, and a
/// pipeline whose loads store them raw, [count, 1, 256, 256].
struct KillWorld {
    let manifestPath: String
    let pipelinePath: String

    static func make(root: String, count: Int) throws -> KillWorld {
        let manifest = try toyDigitsManifest(root: root, side: 256, counts: [("train", count), ("test", count)]) { split, count in
            let side = 256, offset = split == "train" ? 21 : 22
            return (0..<(count * side * side)).map { q in UInt8((q / (side * side) % 3) * 100 + (q % (side * side) * 7 + offset) % 40) }
        }
        let manifestPath = root + "/datasets.manifest"
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let pipelinePath = root + "/toy.yaml"
        try """
        name: toy
        data:
          digits:
            dataset: toy-digits
            train: train
            test: test
            question: "What is shown?"
            classes: [zero, one, two]
        models:
          smol: {family: llava, weights: {random: 1}}
        surrogate: smol
        prompt: {kind: padding, image_size: 224, frame: 30}
        loss: {fca: 0, tse: 0}
        evaluate: {protocols: [zero-shot-official]}

        """.write(toFile: pipelinePath, atomically: true, encoding: .utf8)
        return KillWorld(manifestPath: manifestPath, pipelinePath: pipelinePath)
    }
}

/// What a stage cache folder holds, by key prefix.
struct CacheState {
    let cache: String
    /// Entry folder → its file names, sorted.
    let entries: [String: [String]]

    init(cache: String) {
        self.cache = cache
        var entries: [String: [String]] = [:]
        let manager = FileManager.default
        for shard in (try? manager.contentsOfDirectory(atPath: cache + "/stages")) ?? [] {
            for key in (try? manager.contentsOfDirectory(atPath: cache + "/stages/" + shard)) ?? [] {
                entries[key] = ((try? manager.contentsOfDirectory(atPath: "\(cache)/stages/\(shard)/\(key)")) ?? []).sorted()
            }
        }
        self.entries = entries
    }

    func folder(_ short: String) -> String? {
        entries.keys.first { $0.hasPrefix(short) }.map { "\(cache)/stages/\($0.prefix(2))/\($0)" }
    }

    func files(_ short: String) -> [String] { entries.first { $0.key.hasPrefix(short) }?.value ?? [] }
    func finished(_ short: String) -> Bool { files(short).contains("done") }
    func temporaryFiles(_ short: String) -> [String] { files(short).filter { $0.contains(".tmp-") } }
    var allTemporaryFiles: [String] { entries.values.flatMap { $0 }.filter { $0.contains(".tmp-") || $0.contains(".partial") } }

    func bytes(_ short: String, _ file: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(folder(short), "no entry \(short)") + "/" + file))
    }
}

/// Running `tvp-run` as a child process.
enum CLI {
    static func start(_ binary: String, _ arguments: [String], in directory: String, log: String) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Runs to the end; returns the exit status and stdout + stderr.
    static func run(_ binary: String, _ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
        let log = NSTemporaryDirectory() + "tvp-cli-\(UUID().uuidString).log"   // not in `directory`: it may be the repository
        let process = try start(binary, arguments, in: directory, log: log)
        process.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: log) }
        return (process.terminationStatus, read(log))
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// The line of `tvp-run plan` output for `stage`, from its status on.
    static func planLine(_ stage: String, _ plan: String) -> String? {
        plan.split(separator: "\n").map(String.init).first { line in
            line.split(separator: " ", omittingEmptySubsequences: true).contains { $0 == stage }
        }
    }

    /// The 12-digit key prefix `tvp-run plan` shows for `stage`.
    static func shortKey(of stage: String, inPlan plan: String) -> String? {
        guard let line = planLine(stage, plan) else { return nil }
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let index = words.firstIndex(of: stage), index + 1 < words.count else { return nil }
        return words[index + 1]
    }

    /// The names in `folder` that do not start with a dot.
    static func visibleEntries(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }
}

/// The cache side of resuming, in process: what an unfinished run left is removed before recomputing.
final class UnfinishedEntryTests: XCTestCase {
    func testComputeRemovesTemporaryAndOrphanFilesOfAnUnfinishedEntry() throws {
        let cache = try StageCache(root: temporaryCacheRoot(removedAfter: self))
        let manifest = StageManifest(kind: "k", parameters: ["n": 1], inputKeys: [], assets: [:], code: "1")
        let folder = cache.directory(for: manifest.key)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertFalse(cache.hasUnfinishedEntry(manifest.key), "an empty folder (a run killed before writing) is just absent")
        for name in ["lock", "payload.safetensors.tmp-999999-1", "result.json"] {
            FileManager.default.createFile(atPath: folder + "/" + name, contents: Data("stale".utf8))
        }
        XCTAssertTrue(cache.hasUnfinishedEntry(manifest.key))
        let outcome = try cache.compute(manifest: manifest, stageID: "s", inputIDs: []) {
            StageOutput(tensors: ["x": try Tensor([1, 2], shape: [2])], result: ["ok": true])
        }
        XCTAssertTrue(outcome != .foundFinished)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(),
                       ["done", "lock", "manifest.json", "payload.safetensors", "result.json"])
        XCTAssertEqual(try cache.payload(for: manifest.key).result(), ["ok": true])
        XCTAssertFalse(cache.hasUnfinishedEntry(manifest.key))
    }
}
