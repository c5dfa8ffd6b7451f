import Foundation
import TVPEngine
import TVPPipeline
import XCTest

/// A finished entry is sealed (size and SHA-256 of its files in `done`); a damaged one is never served.
final class CacheSealTests: XCTestCase {
    var root = ""
    let counter = ExecutionCounter()
    let log = LineLog()

    override func setUp() { root = temporaryCacheRoot(removedAfter: self) }

    func stages() -> [Stage] {
        [sourceStage("load", values: [1, 2, 3, 4], counter: counter),
         sumStage("double", inputs: ["load"], scale: 2, counter: counter)]
    }

    func runStages() throws -> ExecutionReport {
        let log = self.log
        return try Executor(graph: try StageGraph(stages: stages()), cache: try StageCache(root: root),
                            options: ExecutorOptions(threads: 1, log: { log.append($0) })).run()
    }

    /// Flips `count` bytes of `file` of the entry of node `index`, in the middle of the file, keeping its size.
    func damage(node index: Int, file: String, count: Int) throws -> String {
        let cache = try StageCache(root: root)
        let path = cache.directory(for: try StageGraph(stages: stages()).nodes[index].key) + "/" + file
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let start = max(0, bytes.count / 2 - count / 2)
        for offset in start..<min(bytes.count, start + count) { bytes[offset] ^= 0xFF }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testEntriesRecordTheSealOfTheirFiles() throws {
        _ = try runStages()
        let cache = try StageCache(root: root)
        let key = try StageGraph(stages: stages()).nodes[1].key
        let record = try XCTUnwrap(cache.record(for: key))
        XCTAssertEqual(Set(record.files.keys), ["payload.safetensors", "result.json", "manifest.json"])
        let payload = cache.directory(for: key) + "/payload.safetensors"
        let size = try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: payload))[.size] as? NSNumber).intValue
        XCTAssertEqual(record.files["payload.safetensors"]?.bytes, size)
        XCTAssertEqual(record.files["payload.safetensors"]?.sha256.count, 64)
        XCTAssertNil(cache.damage(of: key))
    }

    func testFlippedPayloadBytesAreRecomputedNotServed() throws {
        _ = try runStages()
        // The payload of `double`: 16 bytes of F32 data after the header; flip them all (same size).
        let cache = try StageCache(root: root)
        let graph = try StageGraph(stages: stages())
        let path = cache.directory(for: graph.nodes[1].key) + "/payload.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for offset in (bytes.count - 16)..<bytes.count { bytes[offset] ^= 0x5A }
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        XCTAssertEqual(cache.damage(of: graph.nodes[1].key)?.hasPrefix("payload.safetensors has SHA-256"), true)
        guard case .toRun(let reasons) = try graph.plan(cache: cache)[1].status, case .damaged(let problem) = reasons.first else {
            return XCTFail("plan must call the damaged entry to run")
        }
        XCTAssertTrue(problem.contains("payload.safetensors"), problem)
        XCTAssertTrue(try graph.why("double", cache: cache).contains("damaged"))

        counter.reset()
        let report = try runStages()
        XCTAssertEqual(report.computed, ["double"])
        XCTAssertEqual(counter.count("double"), 1)
        XCTAssertTrue(log.lines.contains { $0.hasPrefix("damaged double: payload.safetensors has SHA-256") }, "\(log.lines)")
        let x = try cache.payload(for: graph.nodes[1].key).tensor("x")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: x.data, count: x.count)), [2, 4, 6, 8])
        XCTAssertNil(cache.damage(of: graph.nodes[1].key))
    }

    func testDamagedResultOrTruncatedFileIsFound() throws {
        _ = try runStages()
        let cache = try StageCache(root: root)
        let key = try StageGraph(stages: stages()).nodes[0].key
        _ = try damage(node: 0, file: "result.json", count: 2)
        XCTAssertEqual(cache.damage(of: key)?.hasPrefix("result.json has SHA-256"), true)

        _ = try runStages()
        XCTAssertNil(cache.damage(of: key))
        let payload = cache.directory(for: key) + "/payload.safetensors"
        try Data([UInt8](try Data(contentsOf: URL(fileURLWithPath: payload))).dropLast(3)).write(to: URL(fileURLWithPath: payload))
        XCTAssertEqual(cache.damage(of: key)?.contains("payload.safetensors has"), true)
        XCTAssertEqual(cache.damage(of: key)?.contains("sealed with"), true)
    }

    func testAnUnreadableDoneRecordIsUnfinishedForPlanAndListingAlike() throws {
        _ = try runStages()
        let cache = try StageCache(root: root)
        let graph = try StageGraph(stages: stages())
        try Data("{\"key\": tru".utf8).write(to: URL(fileURLWithPath: cache.directory(for: graph.nodes[1].key) + "/done"))
        XCTAssertFalse(cache.contains(graph.nodes[1].key))
        XCTAssertEqual(try graph.plan(cache: cache)[1].status, .toRun([.unfinished]))
        XCTAssertNil(try cache.entries().first { $0.key == graph.nodes[1].key }?.record, "cache ls calls it unfinished too")
        counter.reset()
        XCTAssertEqual(try runStages().computed, ["double"])
    }

    func testVerifyReportsAndDiscardsDamage() throws {
        _ = try runStages()
        let cache = try StageCache(root: root)
        XCTAssertEqual(try cache.verifyAll().damaged.count, 0)
        _ = try damage(node: 1, file: "payload.safetensors", count: 4)
        let report = try cache.verifyAll()
        XCTAssertEqual(report.checked, 2)
        XCTAssertEqual(report.damaged.map(\.stageID), ["double"])
        XCTAssertTrue(report.text.contains("1 damaged"), report.text)
        try cache.discard(report.damaged[0].key)
        XCTAssertFalse(cache.contains(report.damaged[0].key))
    }
}
