import Foundation
import TVPCommands
import TVPEngine
import TVPPipeline
import TVPPrompting
import XCTest

/// `tvp-run runs`, `tvp-run diff` and `tvp-run prompt` on what runs leave behind: two runs of the
/// toy pipeline that differ in one `--set`, and a sweep.
final class CompareCommandTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws {
        world = try ToyWorld.make()
        TVPRunCommand.backend.set { TinyBackend() }
    }

    override func tearDown() {
        TVPRunCommand.backend.set { nil }
        world.remove()
    }

    var common: [String] { ["--manifest", world.manifestPath, "--cache", world.cacheRoot, "--runs", world.runsRoot, "-q"] }

    /// What `body` prints on standard output (through `print`).
    func standardOutput(_ body: () -> Int32) throws -> (code: Int32, text: String) {
        let path = world.root + "/stdout-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: nil)
        let file = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        fflush(stdout)
        let saved = dup(STDOUT_FILENO)
        dup2(file.fileDescriptor, STDOUT_FILENO)
        let code = body()
        fflush(stdout)
        dup2(saved, STDOUT_FILENO)
        close(saved)
        try file.close()
        return (code, try String(contentsOfFile: path, encoding: .utf8))
    }

    func testRunsListsBothRunsAndDiffNamesTheChangedParameterWithAPairedTest() throws {
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "--set", "train.lr=0.25"] + common), 0)
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "--set", "train.lr=1"] + common), 0)

        let listed = try standardOutput { TVPRunCommand.main(["runs", "--runs", world.runsRoot]) }
        XCTAssertEqual(listed.code, 0)
        let lines = listed.text.components(separatedBy: "\n")
        XCTAssertTrue(lines[0].hasPrefix("toy: 2 runs, newest first"), listed.text)
        let header = lines[1]
        for column in ["when (UTC)", "status", "tvp", "overrides", "n", "digits zero-shot", "digits VP", "digits TVP", "claims"] {
            XCTAssertTrue(header.contains(column), "\(column) missing: \(header)")
        }
        XCTAssertTrue(lines[2].contains("train.lr=1") && lines[3].contains("train.lr=0.25"), "newest first:\n\(listed.text)")
        XCTAssertTrue(lines[2].contains("finished") && lines[2].contains(tvpVersion) && lines[2].contains("hold (2)"), lines[2])
        XCTAssertNotNil(lines[2].range(of: #"  6  +\d+\.\d / \d+\.\d"#, options: .regularExpression), "n, then surrogate / targets: \(lines[2])")

        let filtered = try RunListing(runs: RunRecord.all(in: world.runsRoot), filters: [try .init(parsing: "train.lr=0.25")])
        XCTAssertEqual(filtered.runs.map { $0.run.overrides }, [["--set train.lr=0.25"]])
        XCTAssertEqual(TVPRunCommand.main(["runs", "--runs", world.runsRoot, "--where", "trian.lr=1"]), 2, "an unknown key is a usage error")
        let json = try standardOutput { TVPRunCommand.main(["runs", "toy", "--runs", world.runsRoot, "--json", "--where", "status=finished"]) }
        let runs = try XCTUnwrap(try JSONValue.parse(json.text).arrayValue)
        XCTAssertEqual(runs.count, 2)
        let metrics = try XCTUnwrap(runs[0]["points"]?.arrayValue?.first?["metrics"]?.arrayValue)
        XCTAssertEqual(metrics.map { $0["protocol"]?.stringValue }, ["zero-shot-official", "vp", "tvp"])
        XCTAssertEqual(metrics[2]["n"], 6)
        XCTAssertNotNil(metrics[2]["models"]?["tiny-b"]?.doubleValue)

        // The diff of the two runs: the changed parameter, and paired tests on the same six items.
        let folders = runs.compactMap { $0["folder"]?.stringValue }
        let diff = try RunDiff(try RunRecord.point(at: folders[1]), try RunRecord.point(at: folders[0]))
        XCTAssertEqual(diff.parameters.map(\.key), ["train.lr"])
        XCTAssertEqual(diff.parameters.first?.a, "0.25")
        XCTAssertEqual(diff.parameters.first?.b, "1")
        XCTAssertEqual(diff.rows.count, 6, "3 protocols × 2 models")
        XCTAssertTrue(diff.rows.allSatisfy { $0.paired?.items == 6 }, "the same test split: every row is paired")
        let zeroShot = try XCTUnwrap(diff.rows.first { $0.evaluation == .zeroShotOfficial })
        XCTAssertEqual(zeroShot.paired?.difference, 0, "zero-shot does not depend on the learning rate")
        XCTAssertEqual(zeroShot.paired?.p, 1)
        let html = world.root + "/diff.html"
        let printed = try standardOutput { TVPRunCommand.main(["diff", folders[1], folders[0], "--html", html]) }
        XCTAssertEqual(printed.code, 0)
        XCTAssertTrue(printed.text.contains("parameters that differ (resolved config, 1):"), printed.text)
        XCTAssertNotNil(printed.text.range(of: #"train\.lr +0\.25 +1\n"#, options: .regularExpression), printed.text)
        XCTAssertTrue(printed.text.contains("paired bootstrap CI and the exact McNemar p"), printed.text)
        XCTAssertNotNil(printed.text.range(of: #"zero-shot +tiny-a \(surrogate\) .* 0\.0 \[0\.0, 0\.0\] p=1 +6"#, options: .regularExpression),
                        printed.text)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("digits · TVP training loss") && page.contains("B total") && page.contains("stroke-dasharray"), page)
        XCTAssertEqual(TVPRunCommand.main(["diff", folders[0]]), 2)
        XCTAssertEqual(TVPRunCommand.main(["diff", folders[0], world.root]), 2, "not a run folder")
    }

    func testDiffRefusesASweepFolderAndComparesItsPoints() throws {
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "-m", "train.lr=0.5,1", "--set", "report.images=false"] + common), 0)
        let runs = RunRecord.all(in: world.runsRoot)
        XCTAssertEqual(runs.count, 1)
        XCTAssertTrue(runs[0].isSweep)
        XCTAssertEqual(runs[0].overrides, ["--set report.images=false", "-m train.lr=0.5,1"])
        XCTAssertThrowsError(try RunRecord.point(at: runs[0].folder)) { error in
            XCTAssertTrue("\(error)".contains("is a sweep of 2 points; name one of its points: \(runs[0].folder)/points/lr=0.5"), "\(error)")
        }
        let diff = try RunDiff(try RunRecord.point(at: runs[0].folder + "/points/lr=0.5"), try RunRecord.point(at: runs[0].folder + "/points/lr=1"))
        XCTAssertEqual(diff.parameters.map(\.key), ["train.lr"])
        XCTAssertTrue(diff.rows.allSatisfy { $0.paired != nil }, "the points share their test split")
        let listing = try RunListing(runs: runs, filters: [try .init(parsing: "train.lr=1")])
        XCTAssertEqual(listing.runs.first?.points.map(\.label), ["lr=1"])
        XCTAssertTrue(listing.text.contains("(sweep of 2 points, 1 match)"), listing.text)
    }

    func testRunFoldersHoldThePromptsThatPromptShowAndExportRead() throws {
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath] + common), 0)
        let run = try XCTUnwrap(RunRecord.all(in: world.runsRoot).first)
        let saved = run.folder + "/prompt-digits-tvp.safetensors"
        let prompt = try PromptFile.loadPrompt(saved)
        XCTAssertEqual(prompt.kind, "padding")
        XCTAssertEqual(try PromptFile.metadata(saved)["variant"], "tvp")
        let png = world.root + "/prompt.png", pth = world.root + "/prompt.pth"
        XCTAssertEqual(TVPRunCommand.runPrompt(["show", saved, png]), 0)
        XCTAssertEqual(TVPRunCommand.runPrompt(["export", saved, pth]), 0)
        XCTAssertEqual(try PromptFile.loadPrompt(pth).values.toArray(), prompt.values.toArray())

        // The cache's own entry of the training: its folder, or its payload.
        let stages = run.meta["stages"]?.arrayValue ?? []
        let key = try XCTUnwrap(stages.first { $0["name"]?.stringValue == "train[digits/tvp]" }?["key"]?.stringValue)
        let entry = world.cacheRoot + "/stages/\(key.prefix(2))/\(key)"
        XCTAssertEqual(TVPRunCommand.runPrompt(["show", entry + "/payload.safetensors", png]), 0)
        XCTAssertEqual(TVPRunCommand.runPrompt(["export", entry, pth]), 0)
        XCTAssertEqual(try PromptFile.loadPrompt(pth).values.toArray(), prompt.values.toArray())

        // What is not a prompt is refused, saying what to name.
        let evaluation = try XCTUnwrap(stages.first { $0["name"]?.stringValue == "eval[digits/tiny-b/tvp]" }?["key"]?.stringValue)
        XCTAssertThrowsError(try PromptSource.load(world.cacheRoot + "/stages/\(evaluation.prefix(2))/\(evaluation)/payload.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("is the cache payload of stage 'eval[digits/tiny-b/tvp]', which holds no trained prompt"), "\(error)")
        }
        XCTAssertThrowsError(try PromptSource.load(run.folder)) { error in
            XCTAssertTrue("\(error)".contains("it holds 2 prompts (prompt-digits-tvp.safetensors, prompt-digits-vp.safetensors): name one"), "\(error)")
        }
        XCTAssertEqual(TVPRunCommand.runPrompt(["show", run.folder + "/results.json", png]), 1)
    }

    func testAFolderWrittenBeforeOverridesWereRecordedGetsThemFromItsCommandLine() throws {
        XCTAssertEqual(TVPRunCommand.main([world.pipelinePath, "train.lr=0.25", "-m", "loss.fca=0,0.005"] + common), 0)
        let folder = try XCTUnwrap(RunRecord.all(in: world.runsRoot).first?.folder)
        let path = folder + "/meta.json"
        guard case .object(var meta) = try JSONValue.parse(String(contentsOfFile: path, encoding: .utf8)) else { return XCTFail("meta.json") }
        XCTAssertEqual(meta["overrides"], ["--set train.lr=0.25", "-m loss.fca=0,0.005"])
        meta["overrides"] = nil
        try JSONValue.object(meta).canonicalText.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try RunRecord(folder: folder).overrides, [], "the library reads what meta.json records")
        let listed = try standardOutput { TVPRunCommand.main(["runs", "--runs", world.runsRoot, "--json"]) }
        XCTAssertEqual(listed.code, 0)
        XCTAssertEqual(try JSONValue.parse(listed.text).arrayValue?.first?["overrides"], ["--set train.lr=0.25", "-m loss.fca=0,0.005"])
    }

    func testARunInProgressAndAKilledOneAreListed() throws {
        let parent = world.runsRoot + "/toy"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        func marker(pid: Int32, started: String) throws {
            let json: JSONValue = ["pipeline": "toy", "started": .string(started), "pid": .integer(Int(pid)),
                                   "host": .string(ProcessInfo.processInfo.hostName), "version": "0.1.0", "overrides": ["--set train.lr=2"],
                                   "points": 1]
            try json.canonicalText.write(toFile: parent + "/.running-\(pid)-x.json", atomically: true, encoding: .utf8)
        }
        try marker(pid: getpid(), started: "2026-01-02T03:04:05Z")
        try marker(pid: Int32.max, started: "2026-01-01T03:04:05Z")
        let listing = try RunListing(runs: RunRecord.all(in: world.runsRoot), filters: [])
        XCTAssertEqual(listing.runs.map { $0.run.status }, [.running, .interrupted])
        XCTAssertTrue(listing.text.contains("2026-01-02 03:04  running      running      0.1.0  train.lr=2"), listing.text)
        let failed = try RunListing(runs: RunRecord.all(in: world.runsRoot), filters: [try .init(parsing: "status=interrupted")])
        XCTAssertEqual(failed.runs.count, 1)
    }
}
