import Foundation
import TVPPipeline
import XCTest

/// `prompt_from:` — a task evaluated with an earlier task's prompts (the paper's cross-dataset
/// transfer): it trains nothing, reads no train split, and its evaluations take the other task's
/// trained prompts.
final class CrossDatasetTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws { world = try ToyWorld.make() }
    override func tearDown() { world.remove() }

    static let secondTask = """
        question: "What?"
        classes: [zero, one, two]
      other:
        dataset: toy-digits
        test: {split: test, limit: 3}
        classes: [nought, one, two]
        prompt_from: digits

    """

    func testATaskEvaluatedWithAnotherTasksPromptsTrainsNothing() throws {
        let text = ToyWorld.pipeline.replacingOccurrences(of: "    question: \"What?\"\n    classes: [zero, one, two]\n", with: Self.secondTask)
        XCTAssertTrue(text.contains("prompt_from: digits"))
        try text.write(toFile: world.pipelinePath, atomically: true, encoding: .utf8)
        let loaded = try world.load()
        XCTAssertEqual(loaded.points[0].spec.tasks.map(\.promptFrom), [nil, "digits"])
        let session = try world.session(backend: TinyBackend())
        let ids = session.graph.nodes.map(\.stage.id)
        XCTAssertFalse(ids.contains { $0.hasPrefix("train[other/") || $0 == "load[other/train]" }, "\(ids)")
        let tvp = try XCTUnwrap(session.graph.nodes.first { $0.stage.id == "eval[other/tiny-b/tvp]" })
        XCTAssertTrue(tvp.stage.inputs.contains("train[digits/tvp]"), "\(tvp.stage.inputs)")
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let csv = try String(contentsOfFile: try XCTUnwrap(result.folder) + "/results.csv", encoding: .utf8)
        let columns = ["digits/zero-shot-official", "digits/vp", "digits/tvp", "other/zero-shot-official", "other/vp", "other/tvp"]
        XCTAssertTrue(csv.hasPrefix("model,role," + columns.flatMap { [$0, $0 + "/low", $0 + "/high", $0 + "/n"] }.joined(separator: ",")), csv)
    }

    func testPromptFromMustNameAnEarlierTask() throws {
        for (source, expected) in [("other", "must be a task defined before 'other'"), ("digit", "did you mean 'digits'?")] {
            let text = ToyWorld.pipeline.replacingOccurrences(of: "    question: \"What?\"\n    classes: [zero, one, two]\n",
                                                              with: Self.secondTask.replacingOccurrences(of: "prompt_from: digits", with: "prompt_from: \(source)"))
            let path = world.root + "/bad.yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let error = yamlError({ try self.world.load(path: path) }).map { "\($0)" } ?? ""
            XCTAssertTrue(error.contains(expected) && error.contains("bad.yaml:"), error)
        }
    }
}
