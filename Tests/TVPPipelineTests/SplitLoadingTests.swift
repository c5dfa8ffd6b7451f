import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPTensor
import XCTest

/// Question-answering splits read from an archive: a toy CLEVR release (scenes JSON and PNG images,
/// in CLEVR's layout) packed as a tar.gz, unpacked once by the load stage, read with TVPData's
/// CLEVR loader and asked its counting question.
final class QuestionSplitTests: XCTestCase {
    /// Writes `toy-clevr.tar.gz` (train: 6 scenes, val: 4; 1–3 objects, the image brightness
    /// following the count) and returns its manifest entry; `repack` packs the staging folder
    /// `root/clevr-staging` as it is (a test may have changed it).
    static func toyCLEVR(_ root: String, repack: Bool = false) throws -> String {
        let staging = root + "/clevr-staging"
        for (split, count) in repack ? [] : [("train", 6), ("val", 4)] {
            let images = staging + "/CLEVR_v1.0/images/\(split)"
            try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: staging + "/CLEVR_v1.0/scenes", withIntermediateDirectories: true)
            var scenes: [String] = []
            for i in 0..<count {
                let objects = 1 + i % 3
                let name = String(format: "CLEVR_%@_%06d.png", split, i)
                try PNGCodec.write(Tensor(repeating: Float(objects) / 4, shape: [3, 12, 12]), to: images + "/" + name)
                scenes.append("{\"image_filename\": \"\(name)\", \"objects\": [" + Array(repeating: "{}", count: objects).joined(separator: ", ") + "]}")
            }
            try "{\"scenes\": [\(scenes.joined(separator: ", "))]}".write(toFile: staging + "/CLEVR_v1.0/scenes/CLEVR_\(split)_scenes.json",
                                                                          atomically: true, encoding: .utf8)
        }
        let archive = root + "/data/toy-clevr.tar.gz"
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-czf", archive, "-C", staging, "CLEVR_v1.0"]
        try tar.run()
        tar.waitUntilExit()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: archive)))
        return """
          toy-clevr:
            kind: dataset
            licence: CC0-1.0
            citation: written by the tests
            task: counting
            loader: clevr
            splits:
              train:
              - toy-clevr.tar.gz!CLEVR_v1.0/images/train/
              - toy-clevr.tar.gz!CLEVR_v1.0/scenes/CLEVR_train_scenes.json
              val:
              - toy-clevr.tar.gz!CLEVR_v1.0/images/val/
              - toy-clevr.tar.gz!CLEVR_v1.0/scenes/CLEVR_val_scenes.json
            files:
              toy-clevr.tar.gz:
                size: \(bytes.count)
                sha256: "\(sha256Hex(bytes))"
                archive: tar.gz
                sources:
                - local: \(archive)

        """
    }

    func testCountingQuestionsFromAnArchiveTrainAndEvaluate() throws {
        let world = try ToyWorld.make(pipeline: RenderDatasetTests.pipeline("""
          count:
            dataset: toy-clevr
            train: train
            test: {split: val, limit: 3}
        """, metrics: "[accuracy, macro-f1]"), extraAssets: { try QuestionSplitTests.toyCLEVR($0) })
        defer { world.remove() }
        let backend = TinyBackend()
        let result = try world.run(try world.session(backend: backend))
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let job = try XCTUnwrap(backend.jobs["count/tvp"])
        XCTAssertEqual(job.source.count, 6)
        XCTAssertEqual(job.source.classNames, ["1", "2", "3"], "the candidates are the split's distinct counts")
        let batch = try job.source.batch([4])
        XCTAssertEqual(batch.questions, [CLEVR.countingQuestion])
        XCTAssertEqual(batch.answers, ["2"])
        XCTAssertEqual(batch.images.shape, [1, 3, 12, 12], "raw images; the trainer applies the official pipeline")
        XCTAssertTrue(FileManager.default.fileExists(atPath: world.cacheRoot + "/assets/toy-clevr/toy-clevr.tar.gz.contents/CLEVR_v1.0/scenes"),
                      "the archive is unpacked once beside the fetched file")
        let results = try JSONValue.parse(String(contentsOfFile: try XCTUnwrap(result.folder) + "/results.json", encoding: .utf8))
        XCTAssertEqual(results["results"]?.arrayValue?.compactMap { $0["count"]?.intValue }, [3, 3, 3, 3])
    }
}

/// Which rows of a split a task uses: `skip`, `limit`, first or seeded random sampling.
final class SplitRowsTests: XCTestCase {
    func labels(_ overrides: [String]) throws -> [Int] {
        let world = try ToyWorld.make()
        defer { world.remove() }
        let backend = TinyBackend()
        let result = try world.run(try world.session(overrides: overrides + ["evaluate.protocols=[vp]", "expect=[]", "report.images=false"],
                                                     backend: backend))
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let source = try XCTUnwrap(backend.jobs["digits/vp"]).source
        return try source.batch(Array(0..<source.count)).labels
    }

    func testSkipLimitAndSampling() throws {
        // The toy train split: 12 samples, label = row % 3.
        XCTAssertEqual(try labels(["data.digits.train={split: train, skip: 7, limit: 4}"]), [1, 2, 0, 1])
        XCTAssertEqual(try labels(["data.digits.train={split: train, skip: 10}"]), [1, 2])
        let drawn = try labels(["data.digits.train={split: train, skip: 3, limit: 5}", "data.digits.sampling=random", "data.digits.seed=4"])
        let rows = Array(Sampling.shuffledIndices(count: 9, seed: 4).prefix(5)).sorted().map { 3 + $0 }
        XCTAssertEqual(drawn, rows.map { $0 % 3 }, "5 rows drawn from rows 3…11 with the task's seed, in file order")
    }
}
