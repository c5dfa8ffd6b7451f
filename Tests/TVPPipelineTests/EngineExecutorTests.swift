import Foundation
import TVPEngine
import TVPPipeline
import TVPTensor
import XCTest

/// The most stages seen inside a region at once.
final class ConcurrencyGauge: @unchecked Sendable {
    private let lock = NSLock()
    private var inside = 0
    private(set) var maximum = 0
    func enter() { lock.lock(); inside += 1; maximum = max(maximum, inside); lock.unlock() }
    func leave() { lock.lock(); inside -= 1; lock.unlock() }
}

final class EngineExecutorTests: XCTestCase {
    var root = ""
    let counter = ExecutionCounter()
    let log = LineLog()

    override func setUp() { root = temporaryCacheRoot(removedAfter: self) }

    func run(_ stages: [Stage], threads: Int = 2, failFast: Bool = false, only: [String] = [], from: [String] = [],
             until: [String] = []) throws -> ExecutionReport {
        let log = self.log
        let options = ExecutorOptions(threads: threads, computeThreads: .tensorLibrary, failFast: failFast, only: only, from: from, until: until,
                                      log: { log.append($0) })
        return try Executor(graph: try StageGraph(stages: stages), cache: try StageCache(root: root), options: options).run()
    }

    /// load → a → b, load → c (c independent of a and b).
    func chain(scaleA: Double = 1, failing: Set<String> = []) -> [Stage] {
        func check(_ id: String) -> @Sendable (StageContext) throws -> Void {
            { _ in if failing.contains(id) { throw PipelineError.stage(id, "simulated crash") } }
        }
        return [
            sourceStage("load", values: [1, 2], counter: counter),
            sumStage("a", inputs: ["load"], scale: scaleA, counter: counter, before: check("a")),
            sumStage("b", inputs: ["a"], scale: 2, counter: counter, before: check("b")),
            sumStage("c", inputs: ["load"], scale: 5, counter: counter, before: check("c")),
        ]
    }

    func testSecondRunExecutesNothing() throws {
        let first = try run(chain())
        XCTAssertEqual(first.computed, ["load", "a", "b", "c"])
        XCTAssertEqual(counter.total, 4)
        counter.reset()
        let second = try run(chain())
        XCTAssertEqual(counter.total, 0)
        XCTAssertEqual(second.outcomes, Array(repeating: .cached, count: 4))
        XCTAssertEqual(log.lines.last, "done: 0 computed, 4 cached, 0 failed, 0 skipped")
    }

    func testChangingAParameterRerunsThatStageAndItsDependentsOnly() throws {
        _ = try run(chain())
        counter.reset()
        let report = try run(chain(scaleA: 3))
        XCTAssertEqual(report.computed, ["a", "b"])
        XCTAssertEqual([counter.count("load"), counter.count("a"), counter.count("b"), counter.count("c")], [0, 1, 1, 0])
        let cache = try StageCache(root: root)
        let graph = try StageGraph(stages: chain(scaleA: 3))
        XCTAssertEqual(try cache.payload(for: graph.nodes[2].key).result(), ["total": 18])  // (1+2)·3·2
    }

    func testKeepGoingPrintsTheFailureAndSkipsOnlyDependents() throws {
        let report = try run(chain(failing: ["a"]), threads: 1)
        XCTAssertFalse(report.succeeded)
        XCTAssertEqual(report.outcome("a"), .failed("stage 'a': simulated crash"))
        XCTAssertEqual(report.outcome("b"), .skipped("input 'a' failed"))
        XCTAssertEqual(report.outcome("c").map(\.isAvailable), true)
        let lines = log.lines
        let failedLine = try XCTUnwrap(lines.firstIndex { $0.hasSuffix("FAILED a: stage 'a': simulated crash") })
        XCTAssertLessThan(failedLine, lines.firstIndex { $0.contains("done   c") }!, "the failure is printed when it happens")
        XCTAssertTrue(lines.contains("skip   b: input 'a' failed"))
        XCTAssertEqual(lines.last, "done: 2 computed, 0 cached, 1 failed, 1 skipped")
    }

    func testFailFastStartsNothingAfterAFailure() throws {
        // With one worker, stages start in graph order: load, a (fails), then b and c must not start.
        let report = try run(chain(failing: ["a"]), threads: 1, failFast: true)
        XCTAssertEqual(report.computed, ["load"])
        XCTAssertEqual(report.outcome("c"), .skipped("not started: --fail-fast stopped the run"))
        XCTAssertEqual(counter.count("c"), 0)
    }

    func testACrashedRunResumesWithWhatIsLeft() throws {
        let crashed = try run(chain(failing: ["b"]))
        XCTAssertEqual(Set(crashed.computed), ["load", "a", "c"])
        // A killed run can leave payload files without a `done` marker: they must not count.
        let cache = try StageCache(root: root)
        let graph = try StageGraph(stages: chain())
        try Data("torn".utf8).write(to: URL(fileURLWithPath: cache.directory(for: graph.nodes[2].key) + "/payload.safetensors"))
        XCTAssertEqual(try graph.plan(cache: cache)[2].status, .toRun([.unfinished]))
        counter.reset()
        let resumed = try run(chain())
        XCTAssertEqual(resumed.computed, ["b"])
        XCTAssertEqual(counter.total, 1)
        XCTAssertEqual(try cache.payload(for: graph.nodes[2].key).result(), ["total": 6])
    }

    func testDiamondBranchesRunSideBySide() throws {
        // Each branch waits (up to 5 s) for the other to start: both see each other only if they overlap.
        let started = ExecutionCounter()
        let overlapped = ExecutionCounter()
        func meet(_ me: String, _ other: String) -> @Sendable (StageContext) throws -> Void {
            { _ in
                started.hit(me)
                let deadline = Date().addingTimeInterval(5)
                while started.count(other) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
                if started.count(other) > 0 { overlapped.hit(me) }
            }
        }
        let stages = [
            sourceStage("load", values: [1], counter: counter),
            sumStage("left", inputs: ["load"], counter: counter, before: meet("left", "right")),
            sumStage("right", inputs: ["load"], scale: 2, counter: counter, before: meet("right", "left")),
            sumStage("join", inputs: ["left", "right"], counter: counter),
        ]
        let report = try run(stages, threads: 2)
        XCTAssertEqual(report.computed.count, 4)
        XCTAssertEqual([overlapped.count("left"), overlapped.count("right")], [1, 1])
    }

    func testComputeStagesRunOneAtATimeWithTheWholeBudget() throws {
        let gauge = ConcurrencyGauge(), budgets = LineLog()
        let exclusive: @Sendable (StageContext) throws -> Void = { context in
            gauge.enter()
            budgets.append("\(context.threads) \(Parallel.threads)")
            Thread.sleep(forTimeInterval: 0.02)
            gauge.leave()
        }
        let saved = Parallel.threads
        let stages = [
            sourceStage("load", values: [1], counter: counter),
            sumStage("x", inputs: ["load"], scale: 1, counter: counter, resources: .compute, before: exclusive),
            sumStage("y", inputs: ["load"], scale: 2, counter: counter, resources: .compute, before: exclusive),
            sumStage("z", inputs: ["load"], scale: 3, counter: counter, resources: .compute, before: exclusive),
        ]
        XCTAssertTrue(try run(stages, threads: 3).succeeded)
        XCTAssertEqual(gauge.maximum, 1)
        XCTAssertEqual(budgets.lines, ["3 3", "3 3", "3 3"])
        XCTAssertEqual(Parallel.threads, saved, "the executor restores the global thread count")
    }

    func testTwoExecutorsOnOneCacheComputeEachStageOnce() throws {
        let slow: @Sendable (StageContext) throws -> Void = { _ in Thread.sleep(forTimeInterval: 0.02) }
        let stages = [
            sourceStage("load", values: [1, 2], counter: counter),
            sumStage("a", inputs: ["load"], counter: counter, before: slow),
            sumStage("b", inputs: ["load"], scale: 2, counter: counter, before: slow),
            sumStage("c", inputs: ["a", "b"], counter: counter, before: slow),
        ]
        let group = DispatchGroup()
        let reports = LineLog()
        for _ in 0..<2 {
            let executor = Executor(graph: try StageGraph(stages: stages), cache: try StageCache(root: root),
                                    options: ExecutorOptions(threads: 2, log: { _ in }))
            group.enter()
            Thread {
                let report = try? executor.run()
                reports.append(report.map { $0.succeeded ? "ok" : "failed" } ?? "threw")
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(reports.lines, ["ok", "ok"])
        XCTAssertEqual(["load", "a", "b", "c"].map(counter.count), [1, 1, 1, 1])
    }

    func testOnlyFromAndUntilSelectStages() throws {
        // until a: load and a only.
        XCTAssertEqual(try run(chain(), until: ["a"]).computed, ["load", "a"])
        // from a, in a changed pipeline: a and b rerun, c (not downstream of a) is left out.
        counter.reset()
        let fromA = try run(chain(scaleA: 2).map { $0.id == "c" ? sumStage("c", inputs: ["load"], scale: 7, counter: counter) : $0 },
                            from: ["a"])
        XCTAssertEqual(fromA.computed, ["a", "b"])
        XCTAssertEqual(fromA.outcome("c"), .skipped("left out by --only/--from/--until"))
        // only b, whose input a (scale 4) is not cached: b is skipped, naming its input.
        let only = try run(chain(scaleA: 4), only: ["b"])
        XCTAssertEqual(only.computed, [])
        XCTAssertEqual(only.outcome("b"), .skipped("input 'a' is not cached and was left out by --only/--from/--until"))
        XCTAssertThrowsError(try run(chain(), only: ["nope"])) { error in
            XCTAssertTrue("\(error)".hasPrefix("no stage named 'nope'"))
        }
    }

    func testProgressLinesNameEachStage() throws {
        _ = try run([sourceStage("load", values: [1], counter: counter), sumStage("s", inputs: ["load"], counter: counter)], threads: 1)
        let lines = log.lines
        XCTAssertEqual(lines.first, "plan: 2 stages, 0 cached, 2 to run")
        XCTAssertEqual(lines[1], "[1/2] run    load")
        XCTAssertTrue(lines.contains("[2/2] 100%    s: summed 1 inputs"), "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("[2/2] done   s (") })
    }
}
