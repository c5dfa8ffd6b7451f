import Foundation
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPTensor
import XCTest

final class EngineCacheTests: XCTestCase {
    var root = ""

    override func setUp() { root = temporaryCacheRoot(removedAfter: self) }

    func manifest(_ value: Int) -> StageManifest {
        StageManifest(kind: "constant", parameters: ["value": .integer(value)], inputKeys: [], assets: [:], code: "1")
    }

    func output(_ value: Float) throws -> StageOutput {
        StageOutput(tensors: ["v": try Tensor([value, value], shape: [2])], result: ["value": .double(Double(value))])
    }

    func testComputeWritesTheLayoutOnceAndReadsItBackLazily() throws {
        let cache = try StageCache(root: root)
        let m = manifest(7)
        var calls = 0
        XCTAssertEqual(try cache.compute(manifest: m, stageID: "seven", inputIDs: []) { calls += 1; return try output(7) }.isComputed, true)
        let folder = cache.directory(for: m.key)
        XCTAssertEqual(folder, root + "/stages/" + m.key.hex.prefix(2) + "/" + m.key.hex)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder)),
                       ["manifest.json", "payload.safetensors", "result.json", "done", "lock"])
        let storedManifest = try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)
        XCTAssertEqual(sha256Hex(storedManifest), m.key.hex)
        XCTAssertEqual(try cache.manifest(for: m.key), m)
        XCTAssertEqual(cache.record(for: m.key)?.stageID, "seven")
        XCTAssertEqual(cache.lastKey(forStageID: "seven"), m.key)
        XCTAssertTrue(cache.contains(m.key))

        XCTAssertEqual(try cache.compute(manifest: m, stageID: "seven", inputIDs: []) { calls += 1; return try output(0) }, .foundFinished)
        XCTAssertEqual(calls, 1)
        let payload = try StageCache(root: root).payload(for: m.key)
        XCTAssertEqual(try payload.result(), ["value": 7])
        XCTAssertEqual(try payload.tensor("v").shape, [2])
        XCTAssertEqual(try payload.tensor("v").data[1], 7)

        // A stage may produce a document only.
        let documentOnly = manifest(8)
        _ = try cache.compute(manifest: documentOnly, stageID: "eight", inputIDs: []) { StageOutput(result: ["ok": true]) }
        XCTAssertEqual(try cache.payload(for: documentOnly.key).tensorNames(), [])
        XCTAssertEqual(try cache.payload(for: documentOnly.key).result(), ["ok": true])
    }

    func testTwoCachesOnOneFolderComputeAKeyOnceAcrossThreads() throws {
        let m = manifest(1)
        let counter = ExecutionCounter()
        let outcomes = LineLog()
        let group = DispatchGroup()
        for worker in 0..<2 {
            let cache = try StageCache(root: root)  // separate objects: separate lock file descriptions
            group.enter()
            Thread {
                let outcome = try? cache.compute(manifest: m, stageID: "one", inputIDs: []) {
                    counter.hit("one")
                    Thread.sleep(forTimeInterval: 0.05)
                    return try self.output(Float(worker))
                }
                outcomes.append(outcome.map { "\($0)" } ?? "error")
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(counter.count("one"), 1)
        XCTAssertEqual(outcomes.lines.filter { $0 == "foundFinished" }.count, 1, "\(outcomes.lines)")
    }

    func testAnotherProcessHoldingTheLockIsWaitedForAndItsEntryUsed() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { throw XCTSkip("flock(1) is not installed") }
        let m = manifest(5)
        // Stage a finished entry in another cache, as another tvp-run would compute it.
        let other = root + "-other"
        defer { try? FileManager.default.removeItem(atPath: other) }
        _ = try StageCache(root: other).compute(manifest: m, stageID: "five", inputIDs: []) { try output(5) }
        let cache = try StageCache(root: root)
        let folder = cache.directory(for: m.key)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A second process takes the entry's lock, says so, works a little, then publishes the entry.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        let staged = try StageCache(root: other).directory(for: m.key)
        process.arguments = [folder + "/lock", "sh", "-c",
                             "echo locked; sleep 0.2; cp '\(staged)'/manifest.json '\(staged)'/payload.safetensors '\(staged)'/result.json '\(staged)'/done '\(folder)'/"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        XCTAssertEqual(String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self), "locked\n")
        var waited = false
        var called = false
        let outcome = try cache.compute(manifest: m, stageID: "five", inputIDs: [], onWait: { waited = true }) {
            called = true
            return try output(0)
        }
        process.waitUntilExit()
        XCTAssertTrue(waited)
        XCTAssertFalse(called)
        XCTAssertEqual(outcome, .foundFinished)
        XCTAssertEqual(try cache.payload(for: m.key).result(), ["value": 5])
    }

    func testAFailedComputeLeavesNoFinishedEntry() throws {
        let cache = try StageCache(root: root)
        let m = manifest(3)
        XCTAssertThrowsError(try cache.compute(manifest: m, stageID: "three", inputIDs: []) {
            throw PipelineError.stage("three", "boom")
        })
        XCTAssertFalse(cache.contains(m.key))
        XCTAssertNil(cache.lastKey(forStageID: "three"))
        // A killed run may leave files without `done`: the entry counts as unfinished, not cached.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: cache.directory(for: m.key) + "/manifest.json"))
        XCTAssertTrue(cache.hasUnfinishedEntry(m.key))
        XCTAssertFalse(cache.contains(m.key))
        XCTAssertTrue(try cache.compute(manifest: m, stageID: "three", inputIDs: []) { try output(3) }.isComputed)
        XCTAssertEqual(try cache.manifest(for: m.key), m)
    }

    func testListUsageAndGarbageCollection() throws {
        let cache = try StageCache(root: root)
        for value in 0..<3 {
            _ = try cache.compute(manifest: manifest(value), stageID: "c\(value)", inputIDs: []) { try output(Float(value)) }
        }
        let entries = try cache.entries()
        XCTAssertEqual(Set(entries.map(\.key)), Set((0..<3).map { manifest($0).key }))
        XCTAssertEqual(entries.compactMap { $0.record?.stageID }.sorted(), ["c0", "c1", "c2"])
        let usage = try cache.diskUsage()
        XCTAssertEqual(usage.entries, 3)
        XCTAssertEqual(usage.bytes, entries.reduce(0) { $0 + $1.bytes })
        XCTAssertGreaterThan(usage.bytes, 3 * 100)
        let listing = StageCache.listing(entries).split(separator: "\n")
        XCTAssertEqual(listing.count, 4)
        XCTAssertTrue(listing[0].hasPrefix("key           kind      stage"), String(listing[0]))
        XCTAssertTrue(listing[1].hasPrefix(manifest(0).key.short + "  constant  c0"), String(listing[1]))

        // Young entries survive an age limit; then everything but the kept key goes.
        XCTAssertEqual(try cache.collectGarbage(keep: [], olderThan: 3600).removed, [])
        let report = try cache.collectGarbage(keep: [manifest(1).key])
        XCTAssertEqual(Set(report.removed), [manifest(0).key, manifest(2).key])
        XCTAssertGreaterThan(report.freedBytes, 0)
        XCTAssertEqual(try cache.entries().map(\.key), [manifest(1).key])
        XCTAssertNil(cache.lastKey(forStageID: "c0"))
        XCTAssertEqual(cache.lastKey(forStageID: "c1"), manifest(1).key)
    }

    /// A render stage's scenes live in renders/<key>: counted in its entry's size and removed with it;
    /// render folders no entry owns are removed too.
    func testRenderFoldersBelongToTheirEntry() throws {
        let cache = try StageCache(root: root)
        for value in 0..<2 { _ = try cache.compute(manifest: manifest(value), stageID: "r\(value)", inputIDs: []) { try output(Float(value)) } }
        let bare = try cache.entries().first { $0.key == manifest(0).key }!.bytes
        let drawn = cache.renderFolder(for: manifest(0).key) + "/images/train"
        try FileManager.default.createDirectory(atPath: drawn, withIntermediateDirectories: true)
        try Data(count: 5000).write(to: URL(fileURLWithPath: drawn + "/CLEVR_train_000000.png"))
        let orphan = cache.renderFolder(for: manifest(7).key)
        try FileManager.default.createDirectory(atPath: orphan, withIntermediateDirectories: true)
        try Data(count: 300).write(to: URL(fileURLWithPath: orphan + "/scene.json"))
        let kept = cache.renderFolder(for: manifest(1).key)
        try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
        XCTAssertEqual(try cache.entries().first { $0.key == manifest(0).key }!.bytes, bare + 5000)

        let report = try cache.collectGarbage(keep: [manifest(1).key])
        XCTAssertEqual(report.removed, [manifest(0).key])
        XCTAssertEqual(report.freedBytes, bare + 5000 + 300)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.renderFolder(for: manifest(0).key)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: orphan))
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept))
    }

    func testGarbageCollectionLeavesAnEntryARunIsComputing() throws {
        let cache = try StageCache(root: root)
        let m = manifest(9)
        _ = try cache.compute(manifest: m, stageID: "nine", inputIDs: []) {
            // While this entry is locked, gc must not remove it.
            let report = try StageCache(root: self.root).collectGarbage(keep: [])
            XCTAssertEqual(report.busy, [m.key])
            return try output(9)
        }
        XCTAssertTrue(cache.contains(m.key))
    }

    func testAnUnwritableCacheFolderIsOneClearError() {
        XCTAssertThrowsError(try StageCache(root: "/dev/null/cache")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cache /dev/null/cache: cannot create /dev/null/cache/stages"), "\(error)")
        }
    }
}

extension StageCache.ComputeOutcome {
    var isComputed: Bool { if case .computed = self { return true }; return false }
}
