import Foundation
import TVPData
import TVPEngine
import TVPPipeline
import XCTest

/// Successive halving (`sweep: {prune: halving, rungs: […]}`) on a small synthetic problem: the toy
/// digits, a tiny random MLLM, eight Adam learning rates from 1e-4 to 0.3, 16 steps each. The real
/// search driver, the real stages and the real cache; the tiny backend counts the steps it trains.
final class HalvingSearchTests: XCTestCase {
    var world: ToyWorld!

    static let base = """
    name: toy-search
    \(toyDigitsData(train: 12, test: 9, question: "What?"))
    models:
      tiny-a: {family: tiny-mllm, weights: {random: 1}}
    surrogate: tiny-a
    targets: []
    prompt: {kind: padding, image_size: 16, frame: 2}
    train: {epochs: 4, batch: 2, optimizer: adam, lr: 0.01, schedule: cosine, seed: 7, validation: 4, validate_every: 2}
    evaluate: {protocols: [zero-shot-official, vp], metrics: [accuracy], batch: 9}

    """
    static let lrs = "[1.0e-4, 3.0e-4, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3]"
    static let grid = base + "sweep:\n  train.lr: \(lrs)\n"
    static func halving(_ rungs: String) -> String { grid + "  prune: halving\n  rungs: \(rungs)\n" }

    override func setUpWithError() throws { world = try ToyWorld.make(pipeline: HalvingSearchTests.grid, file: "grid.yaml") }
    override func tearDown() { world.remove() }

    /// Writes `text` as a pipeline file and runs it on `backend` with its own cache folder.
    func run(_ text: String, file: String, cache: String, backend: TinyBackend, failFast: Bool = false) throws -> RunResult {
        let path = world.root + "/" + file
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.root + "/" + cache, offline: true, log: { _ in }),
                                     backend: backend)
        let session = try PipelineSession(loaded: try world.load(backend: backend, path: path), registry: registry,
                                          cache: try StageCache(root: world.root + "/" + cache))
        return try session.run(options: RunOptions(runsDirectory: world.runsRoot, failFast: failFast, threads: 2))
    }

    /// Per point label: the kept validation point and the prompt's SHA-256, from a run folder's results.json.
    func trainings(_ folder: String) throws -> [String: (accuracy: Double, loss: Double, sha: String?)] {
        let json = try JSONValue.parse(String(contentsOfFile: folder + "/results.json", encoding: .utf8))
        var out: [String: (Double, Double, String?)] = [:]
        for point in json["points"]?.arrayValue ?? [] {
            guard let label = point["label"]?.stringValue, let training = point["aggregate"]?["trainings"]?.arrayValue?.first,
                  let best = training["best_step"]?.intValue,
                  let kept = training["validation"]?.arrayValue?.first(where: { $0["step"]?.intValue == best }),
                  let accuracy = kept["accuracy"]?.doubleValue, let loss = kept["loss"]?.doubleValue else { continue }
            out[label] = (accuracy, loss, training["prompt_sha256"]?.stringValue)
        }
        return out
    }

    func search(_ folder: String) throws -> [String: JSONValue] {
        let json = try JSONValue.parse(String(contentsOfFile: folder + "/results.json", encoding: .utf8))
        return Dictionary(uniqueKeysWithValues: (json["points"]?.arrayValue ?? []).compactMap { point in
            point["label"]?.stringValue.flatMap { label in point["search"].map { (label, $0) } }
        })
    }

    func testHalvingFindsTheGridsBestPointWithUnderHalfItsStepsAndTheSamePrompt() throws {
        let gridBackend = TinyBackend()
        let grid = try run(Self.grid, file: "grid.yaml", cache: "grid-cache", backend: gridBackend)
        XCTAssertEqual(grid.exitCode, 0, grid.summary)
        XCTAssertEqual(gridBackend.trainedSteps, 8 * 16)
        let gridPoints = try trainings(try XCTUnwrap(grid.folder))
        XCTAssertEqual(gridPoints.count, 8)
        // The grid's best: highest kept validation accuracy, then lowest validation loss (halving's order).
        let best = try XCTUnwrap(gridPoints.max { a, b in (a.value.accuracy, -a.value.loss) < (b.value.accuracy, -b.value.loss) })

        let backend = TinyBackend()
        let halving = try run(Self.halving("[2, 4, 8, 16]"), file: "halving.yaml", cache: "halving-cache", backend: backend)
        XCTAssertEqual(halving.exitCode, 0, halving.summary)
        // 8 points × 2 steps, 4 × 2 more, 2 × 4 more, 1 × 8 more.
        XCTAssertEqual(backend.trainedSteps, 16 + 8 + 8 + 8)
        XCTAssertLessThan(backend.trainedSteps * 2, gridBackend.trainedSteps)
        let folder = try XCTUnwrap(halving.folder)
        let standings = try search(folder)
        XCTAssertEqual(standings.count, 8)
        let finished = standings.filter { $0.value["finished"] == .bool(true) }.map(\.key)
        XCTAssertEqual(finished, [best.key], "halving keeps the grid's best point to the end")
        XCTAssertEqual(standings.values.map { $0["steps"]?.intValue ?? 0 }.sorted(), [2, 2, 2, 2, 4, 4, 8, 16])
        // Its prompt, trained in four rungs, is the grid's 16-step prompt bit for bit.
        let searched = try XCTUnwrap(try trainings(folder)[best.key])
        XCTAssertEqual(searched.sha, best.value.sha)
        XCTAssertEqual(searched.accuracy, best.value.accuracy)

        // The run folder: every point in summary.csv with its rung and validation; test metrics for the finished one only.
        let csv = try String(contentsOfFile: folder + "/summary.csv", encoding: .utf8).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        XCTAssertEqual(csv.count, 9)
        let header = csv[0].components(separatedBy: ",")
        for column in ["steps", "finished", "validation_accuracy", "validation_low", "validation_high", "validation_n"] {
            XCTAssertTrue(header.contains(column), "summary.csv lacks \(column): \(csv[0])")
        }
        let html = try String(contentsOfFile: folder + "/summary.html", encoding: .utf8)
        XCTAssertTrue(html.contains("Halving: validation at each rung"))
        XCTAssertTrue(html.contains("after 16 steps"))
        // `tvp-run runs` lists every point, the stopped ones with their rung.
        let listing = try RunListing(runs: RunRecord.all(in: world.runsRoot, pipeline: "toy-search"), filters: []).text
        XCTAssertEqual(listing.components(separatedBy: "stopped at").count - 1, 7, listing)
        XCTAssertTrue(listing.contains("stopped at 8 steps"), listing)
    }

    func testALongerSearchReusesTheRungsOfAShorterOne() throws {
        let backend = TinyBackend()
        let short = try run(Self.halving("[2, 4, 8]"), file: "short.yaml", cache: "cache", backend: backend)
        XCTAssertEqual(short.exitCode, 0, short.summary)
        XCTAssertEqual(backend.trainedSteps, 16 + 8 + 8)
        XCTAssertEqual(try search(try XCTUnwrap(short.folder)).values.filter { $0["finished"] == .bool(true) }.count, 2)
        backend.resetCounts()
        let long = try run(Self.halving("[2, 4, 8, 16]"), file: "long.yaml", cache: "cache", backend: backend)
        XCTAssertEqual(long.exitCode, 0, long.summary)
        XCTAssertEqual(backend.trainedSteps, 8, "only the last rung's 8 steps of one point are new")
        backend.resetCounts()
        let again = try run(Self.halving("[2, 4, 8, 16]"), file: "long.yaml", cache: "cache", backend: backend)
        XCTAssertEqual(backend.trainedSteps, 0)
        XCTAssertEqual(backend.predictions, 0)
        XCTAssertEqual(try trainings(try XCTUnwrap(again.folder)).mapValues(\.sha), try trainings(try XCTUnwrap(long.folder)).mapValues(\.sha))
    }

    func testAnInterruptedSearchResumesToTheUninterruptedResult() throws {
        let text = Self.halving("[2, 4, 8, 16]")
        let reference = try run(text, file: "a.yaml", cache: "reference", backend: TinyBackend())
        let backend = TinyBackend()
        backend.failNextTrainingContinuingFrom = 4     // the third rung's first training crashes
        let interrupted = try run(text, file: "a.yaml", cache: "resumed", backend: backend, failFast: true)
        XCTAssertEqual(interrupted.exitCode, 1)
        XCTAssertEqual(backend.trainedSteps, 16 + 8, "the first two rungs ran")
        XCTAssertFalse(try search(try XCTUnwrap(interrupted.folder)).values.contains { $0["finished"] == .bool(true) })
        let resumed = try run(text, file: "a.yaml", cache: "resumed", backend: backend)
        XCTAssertEqual(resumed.exitCode, 0, resumed.summary)
        XCTAssertEqual(backend.trainedSteps, 40, "the rerun trained only what the crash left")
        XCTAssertEqual(try trainings(try XCTUnwrap(resumed.folder)).mapValues(\.sha),
                       try trainings(try XCTUnwrap(reference.folder)).mapValues(\.sha))
        XCTAssertEqual(try search(try XCTUnwrap(resumed.folder)).mapValues(\.canonicalText),
                       try search(try XCTUnwrap(reference.folder)).mapValues(\.canonicalText))
    }

    func testARandomSearchDrawsLogUniformlyFromTheSeedAndALargerOneBeginsWithTheSmaller() throws {
        func points(_ samples: Int, seed: Int = 0) throws -> [String] {
            let path = world.root + "/random-\(samples)-\(seed).yaml"
            try (Self.base + "sweep:\n  search: random\n  samples: \(samples)\n  seed: \(seed)\n  train.lr: {log: [1.0e-4, 0.1]}\n"
                 + "  train.optimizer: [adam, sgd]\n").write(toFile: path, atomically: true, encoding: .utf8)
            return try world.load(path: path).points.map(\.label)
        }
        let eight = try points(8)
        XCTAssertEqual(eight, try points(8), "the same seed draws the same points")
        XCTAssertEqual(Array(try points(16).prefix(8)), eight)
        XCTAssertNotEqual(try points(8, seed: 1), eight)
        XCTAssertEqual(Set(eight).count, 8)
        let loaded = try world.load(path: world.root + "/random-16-0.yaml")
        let lrs = loaded.points.map { $0.spec.train.lr }
        XCTAssertTrue(lrs.allSatisfy { $0 >= 1e-4 && $0 <= 0.1 }, "\(lrs)")
        // Log-uniform: about as many draws per decade (16 draws over three decades; each decade gets some).
        for decade in [(1e-4, 1e-3), (1e-3, 1e-2), (1e-2, 1e-1)] {
            XCTAssertTrue(lrs.contains { $0 >= decade.0 && $0 < decade.1 }, "no draw in \(decade): \(lrs)")
        }
        XCTAssertEqual(Set(loaded.points.map(\.spec.train.optimizer)), ["adam", "sgd"])
    }

    func testNonsenseIsRefusedWithWhereAndHow() throws {
        // The base file is 15 lines; `sweep:` is line 16, its first entry line 17.
        let cases: [(sweep: String, line: Int, message: String)] = [
            ("  search: random\n  train.lr: {log: [1.0e-4, 0.1]}\n", 17, "needs samples: N"),
            ("  search: random\n  samples: 0\n  train.lr: {log: [1.0e-4, 0.1]}\n", 18, "at least 1"),
            ("  search: random\n  samples: 4\n  train.lr: {log: [0, 0.1]}\n", 19, "positive bounds"),
            ("  search: random\n  samples: 4\n  train.lr: {log: [0.1, 0.1]}\n", 19, "empty"),
            ("  search: random\n  samples: 4\n  train.lr: {normal: [0, 1]}\n", 19, "{log: [LOW, HIGH]}"),
            ("  search: random\n  samples: 4\n", 17, "something to draw"),
            ("  search: bayes\n  train.lr: [1, 2]\n", 17, "grid"),
            ("  train.lr: {log: [1.0e-4, 0.1]}\n", 17, "only a random search"),
            ("  train.lr: [1, 2]\n  samples: 4\n", 18, "add search: random"),
            ("  train.lr: [0.1, 0.2]\n  prune: halving\n", 18, "needs rungs"),
            ("  train.lr: [0.1, 0.2]\n  rungs: [2, 4]\n", 18, "add prune: halving"),
            ("  train.lr: [0.1, 0.2]\n  prune: halving\n  rungs: [4]\n", 19, "at least two rungs"),
            ("  train.lr: [0.1, 0.2]\n  prune: halving\n  rungs: [4, 2]\n", 19, "increasing"),
            ("  train.lr: [0.1, 0.2]\n  prune: halving\n  rungs: [2, 4]\n  keep: 1\n", 20, "between 0 and 1"),
            ("  train.lr: [0.1, 0.2]\n  prune: halving\n  rungs: [3, 6]\n", 19, "multiple of train.validate_every"),
            ("  train.lr: [0.1]\n  prune: halving\n  rungs: [2, 4]\n", 18, "has 1"),
            ("  train.validation: [0]\n  train.lr: [0.1, 0.2]\n  prune: halving\n  rungs: [2, 4]\n", 19, "validation accuracy"),
        ]
        for (index, item) in cases.enumerated() {
            let path = world.root + "/bad-\(index).yaml"
            try (Self.base + "sweep:\n" + item.sweep).write(toFile: path, atomically: true, encoding: .utf8)
            guard let error = yamlError({ try world.load(path: path) }) else { continue }
            XCTAssertTrue(error.message.contains(item.message), "case \(index): \(error)")
            XCTAssertEqual(error.mark?.path, path, "case \(index): \(error)")
            XCTAssertEqual(error.mark?.line, item.line, "case \(index): \(error)")
        }
        // A rung past the training's steps fails its stage with the numbers.
        let backend = TinyBackend()
        let result = try run(Self.halving("[2, 32]"), file: "long-rung.yaml", cache: "cache", backend: backend)
        XCTAssertEqual(result.exitCode, 1)
        let meta = try String(contentsOfFile: try XCTUnwrap(result.folder) + "/meta.json", encoding: .utf8)
        XCTAssertTrue(meta.contains("rung 32 is past the 16 steps of this training"), meta)
    }
}
