import Foundation
import TVPEngine
import TVPPipeline
import TVPTensor
import XCTest

/// Counts stage executions by stage id, from any thread.
final class ExecutionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func hit(_ id: String) {
        lock.lock(); counts[id, default: 0] += 1; lock.unlock()
    }

    func count(_ id: String) -> Int {
        lock.lock(); defer { lock.unlock() }
        return counts[id] ?? 0
    }

    var total: Int {
        lock.lock(); defer { lock.unlock() }
        return counts.values.reduce(0, +)
    }

    func reset() {
        lock.lock(); counts = [:]; lock.unlock()
    }
}

/// Collects executor log lines.
final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}

/// A fresh cache folder under the temporary directory.
func temporaryCacheRoot() -> String {
    NSTemporaryDirectory() + "tvp-engine-\(UUID().uuidString)"
}

/// A fresh cache root that is removed when `test` has finished.
func temporaryCacheRoot(removedAfter test: XCTestCase) -> String {
    let root = temporaryCacheRoot()
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
    return root
}

/// A source stage: tensor `x` holds `parameters.values`.
func sourceStage(_ id: String, values: [Double], counter: ExecutionCounter, code: String = "1") -> Stage {
    Stage(id: id, kind: "source", parameters: ["values": .array(values.map { .double($0) })], code: code) { context in
        counter.hit(id)
        let values = context.parameters["values"]!.arrayValue!.map { Float($0.doubleValue!) }
        return StageOutput(tensors: ["x": try Tensor(values, shape: [values.count])], result: ["count": .integer(values.count)])
    }
}

/// A sum stage: tensor `x` = `parameters.scale` × the elementwise sum of its inputs' `x`;
/// its result holds the total.
func sumStage(_ id: String, inputs: [String], scale: Double = 1, counter: ExecutionCounter,
              resources: StageResources = .light, before: @escaping @Sendable (StageContext) throws -> Void = { _ in }) -> Stage {
    Stage(id: id, kind: "sum", parameters: ["scale": .double(scale)], inputs: inputs, code: "1", resources: resources) { context in
        counter.hit(id)
        try before(context)
        let scale = Float(context.parameters["scale"]!.doubleValue!)
        var total: [Float] = []
        for index in 0..<context.inputCount {
            let x = try context.input(at: index).tensor("x")
            let values = Array(UnsafeBufferPointer(start: x.data, count: x.count))
            total = total.isEmpty ? values : zip(total, values).map { $0 + $1 }
        }
        let scaled = total.map { $0 * scale }
        context.progress(1, "summed \(context.inputCount) inputs")
        return StageOutput(tensors: ["x": try Tensor(scaled, shape: [scaled.count])],
                           result: ["total": .double(Double(scaled.reduce(0, +)))])
    }
}

final class EngineSupportTests: XCTestCase {
    func testContextGivesInputsByIdAndPositionAndRefusesOthers() throws {
        let root = temporaryCacheRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = ExecutionCounter()
        let checked = ExecutionCounter()
        let stages = [
            sourceStage("a", values: [1, 2], counter: counter),
            sourceStage("b", values: [10, 20], counter: counter),
            sumStage("s", inputs: ["a", "b"], counter: counter) { context in
                XCTAssertEqual(try context.input("b").result(), ["count": 2])
                XCTAssertEqual(try context.input(at: 0).tensorNames(), ["x"])
                XCTAssertEqual(context.threads, 1)
                XCTAssertThrowsError(try context.input("nope")) { error in
                    XCTAssertEqual("\(error)", "stage 's': asked for input 'nope', but its inputs are 'a', 'b'")
                }
                XCTAssertThrowsError(try context.input(at: 2))
                checked.hit("s")
            },
        ]
        let graph = try StageGraph(stages: stages)
        let report = try Executor(graph: graph, cache: try StageCache(root: root), options: ExecutorOptions(threads: 2, log: { _ in })).run()
        XCTAssertTrue(report.succeeded, "\(report.failures)")
        XCTAssertEqual(checked.count("s"), 1)
        let payload = try StageCache(root: root).payload(for: graph.nodes[try graph.nodes(named: "s")[0]].key)
        XCTAssertEqual(try payload.result(), ["total": 33])
        let x = try payload.tensor("x")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: x.data, count: x.count)), [11, 22])
    }
}
