import Foundation
import TVPEngine
import TVPPipeline
import XCTest

final class EnginePlannerTests: XCTestCase {
    var root = ""
    let counter = ExecutionCounter()

    override func setUp() { root = temporaryCacheRoot(removedAfter: self) }

    /// load → (left, right) → join: a diamond.
    func diamond(scale: Double = 1) -> [Stage] {
        [
            sourceStage("load", values: [1, 2, 3], counter: counter),
            sumStage("left", inputs: ["load"], scale: scale, counter: counter),
            sumStage("right", inputs: ["load"], scale: 3, counter: counter),
            sumStage("join", inputs: ["left", "right"], counter: counter),
        ]
    }

    func testCycleErrorNamesTheCycle() {
        let stages = [
            sourceStage("root", values: [1], counter: counter),
            sumStage("a", inputs: ["root", "c"], counter: counter),
            sumStage("b", inputs: ["a"], counter: counter),
            sumStage("c", inputs: ["b"], counter: counter),
        ]
        XCTAssertThrowsError(try StageGraph(stages: stages, pipeline: "loop")) { error in
            XCTAssertEqual(error as? PipelineError, .cycle(pipeline: "loop", path: ["a", "c", "b", "a"]))
            XCTAssertEqual("\(error)", "stages depend on each other in a cycle in pipeline 'loop': a → c → b → a; remove one of these inputs")
        }
        XCTAssertThrowsError(try StageGraph(stages: [sumStage("self", inputs: ["self"], counter: counter)])) { error in
            XCTAssertEqual(error as? PipelineError, .cycle(pipeline: "", path: ["self", "self"]))
        }
    }

    func testUnknownInputsAndDuplicateIdsAreRefused() {
        XCTAssertThrowsError(try StageGraph(stages: [sumStage("s", inputs: ["missing"], counter: counter)])) { error in
            XCTAssertEqual("\(error)", "stage 's' reads input 'missing', which no stage defines")
        }
        XCTAssertThrowsError(try StageGraph(stages: [sourceStage("x", values: [1], counter: counter),
                                                     sourceStage("x", values: [2], counter: counter)])) { error in
            XCTAssertEqual(error as? PipelineError, .duplicateStage(pipeline: "", id: "x"))
        }
        XCTAssertThrowsError(try StageGraph(stages: diamond()).nodes(named: "lef")) { error in
            XCTAssertEqual("\(error)", "no stage named 'lef'; did you mean 'left'?")
        }
    }

    func testTopologicalOrderDotMermaidAndASCII() throws {
        let graph = try StageGraph(stages: diamond().reversed())
        XCTAssertEqual(graph.nodes.map(\.name), ["load", "left", "right", "join"])
        XCTAssertEqual(graph.renderDot(), """
        digraph pipeline {
          rankdir=TB;
          node [shape=box];
          n0 [label="load"];
          n1 [label="left"];
          n2 [label="right"];
          n3 [label="join"];
          n0 -> n1;
          n0 -> n2;
          n1 -> n3;
          n2 -> n3;
        }

        """)
        XCTAssertEqual(graph.render(.mermaid), """
        flowchart TD
          n0["load"]
          n1["left"]
          n2["right"]
          n3["join"]
          n0 --> n1
          n0 --> n2
          n1 --> n3
          n2 --> n3

        """)
        XCTAssertEqual(graph.render(.ascii), """
        load
        +-- left
        |   `-- join
        `-- right
            `-- join

        """)
    }

    func testSweepPointsShareIdenticalStages() throws {
        // Two sweep points: same load and right, different left (and so different join).
        let graph = try StageGraph(pipelines: [Pipeline(name: "scale=1", stages: diamond(scale: 1)),
                                               Pipeline(name: "scale=2", stages: diamond(scale: 2))])
        XCTAssertEqual(graph.nodes.map(\.name), ["load", "scale=1/left", "right", "scale=1/join", "scale=2/left", "scale=2/join"])
        XCTAssertEqual(graph.nodes[0].occurrences, [StageOccurrence(pipeline: "scale=1", id: "load"), StageOccurrence(pipeline: "scale=2", id: "load")])
        XCTAssertEqual(graph.nodes[4].inputs, [0])
        XCTAssertEqual(graph.nodes[5].inputs, [4, 2])
        XCTAssertEqual(try graph.nodes(named: "left"), [1, 4])
        XCTAssertEqual(graph.renderMermaid().split(separator: "\n").filter { $0.contains("-->") }.count, 7)

        let report = try Executor(graph: graph, cache: try StageCache(root: root), options: ExecutorOptions(threads: 2, log: { _ in })).run()
        XCTAssertTrue(report.succeeded)
        XCTAssertEqual(counter.count("load"), 1)
        XCTAssertEqual(counter.count("right"), 1)
        XCTAssertEqual(counter.count("left"), 2)
        XCTAssertEqual(counter.count("join"), 2)
    }

    func testIdenticalStagesOfOnePipelineCollapse() throws {
        let stages = [
            sourceStage("load", values: [1], counter: counter),
            sumStage("twice", inputs: ["load"], scale: 2, counter: counter),
            sumStage("double", inputs: ["load"], scale: 2, counter: counter),
            sumStage("join", inputs: ["twice", "double"], counter: counter),
        ]
        let graph = try StageGraph(stages: stages)
        XCTAssertEqual(graph.nodes.map(\.name), ["load", "twice", "join"])
        XCTAssertEqual(graph.nodes[1].occurrences.map(\.id), ["twice", "double"])
        XCTAssertEqual(graph.nodes[2].inputs, [1, 1])
        XCTAssertEqual(try graph.nodes(named: "double"), [1])
        XCTAssertEqual(graph.renderDot().split(separator: "\n").filter { $0.contains("->") }, ["  n0 -> n1;", "  n1 -> n2;"])
        let cache = try StageCache(root: root)
        XCTAssertTrue(try Executor(graph: graph, cache: cache, options: ExecutorOptions(log: { _ in })).run().succeeded)
        XCTAssertEqual(counter.total, 3)
        XCTAssertEqual(cache.lastKey(forStageID: "double"), graph.nodes[1].key)
        XCTAssertEqual(try cache.payload(for: graph.nodes[2].key).result(), ["total": 4])
    }

    func testPlanSaysCachedOrToRunAndWhy() throws {
        let cache = try StageCache(root: root)
        let first = try StageGraph(stages: diamond())
        let before = try first.plan(cache: cache)
        XCTAssertEqual(before.map(\.status), [
            .toRun([.noEntry]), .toRun([.noEntry, .upstreamToRun(["load"])]),
            .toRun([.noEntry, .upstreamToRun(["load"])]), .toRun([.noEntry, .upstreamToRun(["left", "right"])]),
        ])
        _ = try Executor(graph: first, cache: cache, options: ExecutorOptions(log: { _ in })).run()
        XCTAssertTrue(try first.plan(cache: cache).allSatisfy { $0.status == .cached })

        let changed = try StageGraph(stages: diamond(scale: 2))
        let plans = try changed.plan(cache: cache)
        let leftBefore = first.nodes[1].key, joinBefore = first.nodes[3].key
        XCTAssertEqual(plans.map(\.status), [
            .cached,
            .toRun([.changed(previous: leftBefore, changes: [.parameter(path: "scale", old: 1, new: 2)])]),
            .cached,
            .toRun([.changed(previous: joinBefore, changes: [.input(index: 0, oldID: "left", newID: "left",
                                                                     oldKey: leftBefore, newKey: changed.nodes[1].key)]),
                    .upstreamToRun(["left"])]),
        ])
        let text = StageGraph.formatPlan(plans)
        XCTAssertTrue(text.contains("to run  left   \(changed.nodes[1].key.short)  changed since \(leftBefore.short): parameter scale: 1 → 2"), text)
        XCTAssertTrue(text.hasSuffix("4 stages: 2 cached, 2 to run"), text)

        XCTAssertEqual(try changed.why("left", cache: cache), """
        left: to run (key \(changed.nodes[1].key.short))
          compared with its last run (key \(leftBefore.short)):
          - parameter scale: 1 → 2
        """)
        XCTAssertEqual(try changed.why("load", cache: cache), "load: cached (key \(first.nodes[0].key.short))")
        XCTAssertTrue(try changed.why("join", cache: cache).contains("- input 0 'left' changed upstream"))
    }

    func testPlanMarksAnUnfinishedEntry() throws {
        let cache = try StageCache(root: root)
        let graph = try StageGraph(stages: [sourceStage("load", values: [1], counter: counter)])
        let folder = cache.directory(for: graph.nodes[0].key)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: folder + "/payload.safetensors"))
        XCTAssertEqual(try graph.plan(cache: cache).map(\.status), [.toRun([.unfinished])])
        XCTAssertEqual(try graph.why("load", cache: cache), "load: to run (key \(graph.nodes[0].key.short))\n  an earlier run did not finish it")
    }
}
