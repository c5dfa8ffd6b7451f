import Foundation
import TVPData
import TVPEngine
import TVPPipeline
import XCTest

/// Datasets the pipeline renders itself (CLEVR-style scenes): counting and POPE-style probes without
/// any archive, rendered once into the cache, read with TVPData's CLEVR and POPE loaders.
final class RenderDatasetTests: XCTestCase {
    static func pipeline(_ data: String, metrics: String = "[accuracy]") -> String {
        """
        name: rendered
        data:
        \(data)
        models:
          tiny-a: {family: tiny-mllm, weights: {random: 1}}
          tiny-b: {family: tiny-mllm, weights: {random: 2}}
        surrogate: tiny-a
        targets: [tiny-b]
        prompt: {kind: padding, image_size: 16, frame: 2}
        loss: {fca: 0.005, tse: 0}
        train: {epochs: 1, batch: 4, lr: 0.5, seed: 7}
        evaluate: {protocols: [zero-shot-official, tvp], metrics: \(metrics), batch: 6}
        report: {images: false}

        """
    }

    func testCountingOnRendersRunsRerunsFromCacheAndSharesOneRenderPerSplit() throws {
        let world = try ToyWorld.make(pipeline: Self.pipeline("""
          count:
            dataset: clevr-render
            train: {split: train, limit: 4}
            test: {split: val, limit: 3}
        """))
        defer { world.remove() }
        let backend = TinyBackend()
        let session = try world.session(backend: backend)
        XCTAssertEqual(session.graph.nodes.filter { $0.stage.kind == StageKinds.render }.map(\.stage.id).sorted(),
                       ["render[train/4/16px/seed0]", "render[val/3/16px/seed0]"])
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let job = try XCTUnwrap(backend.jobs["count/tvp"])
        XCTAssertEqual(job.source.count, 4)
        let batch = try job.source.batch([0, 1])
        XCTAssertEqual(batch.questions, Array(repeating: CLEVR.countingQuestion, count: 2))
        XCTAssertEqual(batch.images.shape, [2, 3, 16, 16], "rendered at the prompt's image size")
        for index in 0..<4 {   // every answer is the object count of the scene the renderer drew
            let scene = try CLEVRRenderer.scene(seed: 0, split: "train", index: index)
            XCTAssertEqual(try job.source.batch([index]).answers, [String(scene.objects.count)])
        }
        let results = try JSONValue.parse(String(contentsOfFile: try XCTUnwrap(result.folder) + "/results.json", encoding: .utf8))
        XCTAssertEqual(results["datasets"], ["count": "clevr-render"])

        backend.resetCounts()
        let again = try world.run(try world.session(backend: backend))
        XCTAssertEqual(again.execution.computed, [], "a rerun renders nothing")
    }

    func testPOPEProbesOverRendersGiveTheYesNoMetrics() throws {
        let world = try ToyWorld.make(pipeline: Self.pipeline("""
          pope:
            dataset: pope-render
            train: {split: train-random, limit: 2}
            test: {split: val-adversarial, limit: 2}
          pope-popular:
            dataset: pope-render
            train: {split: train-random, limit: 2}
            test: {split: val-popular, limit: 2}
        """, metrics: "[accuracy, auc, precision, recall, f1, yes-ratio]"))
        defer { world.remove() }
        let backend = TinyBackend()
        let session = try world.session(backend: backend)
        let trainings = session.graph.nodes.filter { $0.stage.kind == StageKinds.trainPrompt }
        XCTAssertEqual(trainings.count, 1, "the two settings train on the same split: one training serves both")
        XCTAssertEqual(session.graph.nodes.filter { $0.stage.kind == StageKinds.render }.count, 2, "train and val are rendered once each")
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        XCTAssertEqual(backend.trainings, ["pope/tvp"])
        let job = try XCTUnwrap(backend.jobs["pope/tvp"])
        XCTAssertEqual(job.source.classNames, ["no", "yes"])
        let batch = try job.source.batch(Array(0..<job.source.count))
        XCTAssertEqual(batch.labels.filter { $0 == 1 }.count * 2, batch.count, "balanced yes and no probes")
        XCTAssertTrue(batch.questions.allSatisfy { $0.hasPrefix("Is there a ") && $0.hasSuffix(" in the image?") })
        let results = try JSONValue.parse(String(contentsOfFile: try XCTUnwrap(result.folder) + "/results.json", encoding: .utf8))
        for row in try XCTUnwrap(results["results"]?.arrayValue) {
            for metric in ["accuracy", "auc", "precision", "recall", "f1", "yes-ratio"] {
                XCTAssertNotNil(row["metrics"]?[metric]?.doubleValue, "\(metric) of \(row)")
            }
        }
    }

    func testTheRealDatasetIsPreferredOnceFetched() throws {
        let world = try ToyWorld.make(pipeline: Self.pipeline("""
          count:
            dataset: clevr-render
            prefer: toy-clevr
            train: {split: train, limit: 3}
            test: {split: val, limit: 3}
        """), extraAssets: { try QuestionSplitTests.toyCLEVR($0) })
        defer { world.remove() }
        let renders = try world.session(backend: TinyBackend())
        XCTAssertTrue(renders.graph.nodes.contains { $0.stage.kind == StageKinds.render }, "toy-clevr is not fetched: the renders")
        XCTAssertEqual(renders.notes, ["task count: using clevr-render (toy-clevr is not fetched; `tvp-run fetch toy-clevr` to use it)"])
        let fetcher = Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in })
        try fetcher.fetch(try world.manifest.asset(named: "toy-clevr"))
        let real = try world.session(backend: TinyBackend())
        XCTAssertFalse(real.graph.nodes.contains { $0.stage.kind == StageKinds.render })
        XCTAssertEqual(real.notes, ["task count: using toy-clevr (fetched) instead of clevr-render"])
        XCTAssertNotNil(try? real.graph.nodes(named: "fetch[toy-clevr]"))
        XCTAssertEqual(try world.run(real).exitCode, 0)

        XCTAssertEqual(yamlError({ try world.load(overrides: ["data.count.test={split: test, limit: 2}"]) }).map { "\($0)".contains("not a split of the preferred dataset toy-clevr") }, true)
        XCTAssertEqual(yamlError({ try world.load(overrides: ["data.count.train=train"]) }).map { "\($0)".contains("needs a limit") }, true)
    }
}
