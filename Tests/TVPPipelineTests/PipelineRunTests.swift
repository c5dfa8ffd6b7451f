import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPPrompting
import XCTest

final class PipelineRunTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws { world = try ToyWorld.make() }
    override func tearDown() { world.remove() }

    func testFullRunThenCachedRerunThenOnlyWhatAParameterReaches() throws {
        let backend = TinyBackend()
        let session = try world.session(backend: backend)
        XCTAssertEqual(session.graph.nodes.count, 15)  // the three protocols share one test split
        let first = try world.run(session)
        XCTAssertEqual(first.exitCode, 0, "\(first.execution.failures)")
        XCTAssertEqual(first.execution.computed.count, 15)
        XCTAssertEqual(backend.trainings.sorted(), ["digits/tvp", "digits/vp"])
        XCTAssertEqual(backend.predictions, 6)
        XCTAssertEqual(first.claimsPassed, [true])
        XCTAssertTrue(first.summary.contains("tiny-a (surrogate)"), first.summary)
        try checkCleanTokensReplayTheTrainersBatches(try XCTUnwrap(backend.jobs["digits/tvp"]))
        XCTAssertNil(backend.jobs["digits/vp"]?.cleanTokens, "VP trains without FCA")
        XCTAssertEqual(backend.jobs["digits/vp"]?.config.fca, 0)
        XCTAssertEqual(backend.jobs["digits/tvp"]?.config.tse, 0.001)

        // The run folder holds every artefact.
        let folder = try XCTUnwrap(first.folder)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: folder))
        for name in ["config.yaml", "config.json", "meta.json", "results.json", "results.md", "results.csv", "report.html",
                     "loss-digits.svg", "loss-terms-digits-tvp-fca.svg", "loss-terms-digits-tvp-tse.svg", "prompt-digits-vp.png",
                     "prompt-digits-tvp.png", "prompt-digits-vp.safetensors", "prompt-digits-tvp.safetensors"] {
            XCTAssertTrue(names.contains(name), "\(name) missing from \(names.sorted())")
        }
        let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<table>") && html.contains("<th scope=\"row\">tiny-b</th>") && html.contains("<svg"))
        // Provenance, the deltas of the prompted protocols, VP and TVP on one plot.
        for text in ["<h2>Provenance</h2>", "<th scope=\"row\">tvp</th><td>\(tvpVersion)", "<th scope=\"row\">machine</th>",
                     "<th scope=\"row\">n (digits)</th><td>6 test items per cell</td>", "resolved configuration (config.yaml)",
                     "<th>digits TVP − zero-shot</th>", "VP total", "TVP total", "TVP task term"] {
            XCTAssertTrue(html.contains(text), "\(text) missing from report.html")
        }
        XCTAssertNotNil(html.range(of: #"<td>[+-]?\d+\.\d \[[+-]?\d+\.\d, [+-]?\d+\.\d\] p=[0-9.e-]+</td>"#, options: .regularExpression),
                        "a delta cell with its interval and p")
        XCTAssertTrue(html.contains("data:image/png;base64,iVBORw0KGgo"), "prompt pictures are embedded PNGs")
        let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/prompt-digits-tvp.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let markdown = try String(contentsOfFile: folder + "/results.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("| model | digits zero-shot | digits VP | digits TVP |"), markdown)
        XCTAssertTrue(markdown.contains("n = 6 test items per cell"), markdown)
        XCTAssertTrue(markdown.contains("| model | digits VP − zero-shot | digits TVP − zero-shot | digits TVP − VP |"), markdown)
        XCTAssertTrue(first.summary.contains("claim holds: tvp.mean >= 0 ("), first.summary)
        XCTAssertTrue(first.summary.contains("paired differences (points, 95% CI, McNemar p)"), first.summary)
        let meta = try JSONValue.parse(String(contentsOfFile: folder + "/meta.json", encoding: .utf8))
        XCTAssertEqual(meta["computed"], 15)
        XCTAssertEqual(meta["cache_hits"], 0)
        XCTAssertNotNil(meta["git_commit"])
        XCTAssertEqual(meta["stages"]?.arrayValue?.count, 15)
        let results = try JSONValue.parse(String(contentsOfFile: folder + "/results.json", encoding: .utf8))
        XCTAssertEqual(results["results"]?.arrayValue?.count, 6)
        XCTAssertEqual(results["claims"]?.arrayValue?.map { $0["verdict"] }, ["holds", "holds"])
        XCTAssertEqual(results["results"]?.arrayValue?.map { $0["items"]?.stringValue?.count }, Array(repeating: 6, count: 6))
        XCTAssertEqual(results["comparisons"]?.arrayValue?.count, 6, "two models × (VP, TVP against zero-shot, TVP against VP)")
        let config = try YAMLParser.parse(String(contentsOfFile: folder + "/config.yaml", encoding: .utf8))
        XCTAssertEqual(try JSONValue(yaml: config), session.loaded.points[0].spec.resolved, "config.yaml reads back as the resolved config")

        // A second run computes nothing and still writes a (new) run folder.
        backend.resetCounts()
        let second = try world.run(try world.session(backend: backend))
        XCTAssertEqual(second.execution.outcomes, Array(repeating: .cached, count: 15))
        XCTAssertEqual(backend.trainings, [])
        XCTAssertEqual(backend.predictions, 0)
        XCTAssertNotEqual(second.folder, first.folder)
        XCTAssertTrue(FileManager.default.fileExists(atPath: second.folder! + "/report.html"))

        // A new learning rate reaches the two trainings, the four prompted evaluations, and what follows.
        let changed = try world.session(overrides: ["train.lr=0.25"], backend: backend)
        let why = try changed.why("train[digits/tvp]")
        XCTAssertTrue(why.contains("parameter train.lr: 0.5 → 0.25"), why)
        XCTAssertTrue(try changed.why("eval[digits/tiny-b/zero-shot-official]").contains("cached"))
        let third = try world.run(changed)
        XCTAssertEqual(Set(third.execution.computed), [
            "train[digits/vp]", "train[digits/tvp]", "eval[digits/tiny-a/vp]", "eval[digits/tiny-b/vp]",
            "eval[digits/tiny-a/tvp]", "eval[digits/tiny-b/tvp]", "aggregate", "report",
        ])
    }

    /// The `clean-features` stage stored, for every batch the trainer draws (same shuffle, same
    /// augmentation draw), the surrogate's tokens of exactly the clean images the trainer would make.
    func checkCleanTokensReplayTheTrainersBatches(_ job: PromptTrainingJob) throws {
        let provider = try XCTUnwrap(job.cleanTokens)
        let trainer = try PromptTrainer(surrogates: job.surrogates, prompt: job.prompt, guide: job.guide, config: job.config)
        let count = job.source.count
        for (step, indices) in trainer.batches(epoch: 0, count: count).enumerated() {
            let (batch, key) = try trainer.preprocess(job.source.batch(indices), indices: indices, epoch: 0, step: step)
            XCTAssertNotNil(key.augmentationSeed, "the official training augments")
            let stored = try XCTUnwrap(try provider.tokens(surrogate: job.surrogates[0].name, batch: key), "batch \(step)")
            let fresh = try job.surrogates[0].visualTokens(images: job.prompt.clean(batch.images))
            XCTAssertEqual(stored.shape, fresh.shape)
            XCTAssertEqual(zip(stored.toArray(), fresh.toArray()).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-6)
        }
    }

    func testResumeAfterAStageFailsOnceDoesOnlyWhatIsLeft() throws {
        let backend = TinyBackend()
        backend.failNextTraining = "digits/tvp"
        let first = try world.run(try world.session(backend: backend))
        XCTAssertEqual(first.exitCode, 1)
        XCTAssertEqual(first.execution.failures.map(\.name), ["train[digits/tvp]"])
        XCTAssertEqual(first.execution.outcome("eval[digits/tiny-b/tvp]"), .skipped("input 'train[digits/tvp]' failed"))
        XCTAssertEqual(first.claimsPassed, [nil])
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.folder! + "/meta.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.folder! + "/report.html"))

        backend.resetCounts()
        let second = try world.run(try world.session(backend: backend))
        XCTAssertEqual(second.exitCode, 0)
        XCTAssertEqual(Set(second.execution.computed), ["train[digits/tvp]", "eval[digits/tiny-a/tvp]", "eval[digits/tiny-b/tvp]",
                                                         "aggregate", "report"])
        XCTAssertEqual(backend.trainings, ["digits/tvp"])
        XCTAssertEqual(backend.predictions, 2)
    }

    func testFailedClaimGivesExitCodeOneAndIsReported() throws {
        let backend = TinyBackend()
        let session = try world.session(overrides: ["expect=[tvp.mean > 2]", "report.images=false"], backend: backend)
        let result = try world.run(session)
        XCTAssertTrue(result.execution.succeeded)
        XCTAssertEqual(result.claimsPassed, [false])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertTrue(result.summary.contains("claim fails: tvp.mean > 2 (diff "), result.summary)
        XCTAssertTrue(result.summary.contains(" from Wilson intervals, n = 6)"), result.summary)
        let html = try String(contentsOfFile: result.folder! + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("✘ fails"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: result.folder! + "/prompt-digits-tvp.png"))
    }

    func testSweepPointsShareTheirCommonStages() throws {
        let backend = TinyBackend()
        let session = try world.session(multirun: ["loss.fca=0.005,0.01"], backend: backend)
        XCTAssertEqual(session.loaded.points.map(\.pipelineName), ["toy[fca=0.005]", "toy[fca=0.01]"])
        // Shared: fetch, 2 loads, features, text, vp training, 4 zero-shot and vp evaluations (10);
        // per point: tvp training, 2 tvp evaluations, aggregate, report (5 each).
        XCTAssertEqual(session.graph.nodes.count, 20)
        let shared = session.graph.nodes.filter { $0.occurrences.count == 2 }.map(\.stage.id)
        XCTAssertEqual(Set(shared), ["fetch[toy-digits]", "load[digits/train]", "load[digits/test]",
                                     "features[digits/tiny-a]", "text[digits/clip]", "train[digits/vp]",
                                     "eval[digits/tiny-a/zero-shot-official]", "eval[digits/tiny-b/zero-shot-official]",
                                     "eval[digits/tiny-a/vp]", "eval[digits/tiny-b/vp]"])
        let plans = try session.plan()
        XCTAssertEqual(plans.filter { !$0.status.isCached }.count, 20)
        XCTAssertTrue(StageGraph.formatPlan(plans).hasSuffix("20 stages: 0 cached, 20 to run"))
    }

    func testSweepFolderHasASummaryRowPerPoint() throws {
        let backend = TinyBackend()
        let session = try world.session(overrides: ["evaluate.protocols=[zero-shot-official, tvp]", "report.images=false", "expect=[]"],
                                        multirun: ["train.lr=0.5,1"], backend: backend)
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let folder = try XCTUnwrap(result.folder)
        let summary = try String(contentsOfFile: folder + "/summary.md", encoding: .utf8)
        XCTAssertTrue(summary.contains("| point | train.lr | n | digits zero-shot targets | digits TVP targets | "
                                       + "digits zero-shot surrogate | digits TVP surrogate | claims |"), summary)
        XCTAssertNotNil(summary.range(of: #"\| lr=0\.5 \| 0\.5 \| 6 \| \d+\.\d \|"#, options: .regularExpression), summary)
        XCTAssertTrue(summary.contains("| lr=1 | 1 | 6 |"), summary)
        // The CSV holds the swept values and fractions, per model and for the targets' mean.
        let csv = try String(contentsOfFile: folder + "/summary.csv", encoding: .utf8).components(separatedBy: "\r\n")
        XCTAssertEqual(csv[0], "point,train.lr,digits/zero-shot-official/surrogate,digits/zero-shot-official/tiny-b,digits/zero-shot-official/targets,"
                       + "digits/zero-shot-official/targets/low,digits/zero-shot-official/targets/high,digits/zero-shot-official/n,"
                       + "digits/tvp/surrogate,digits/tvp/tiny-b,digits/tvp/targets,digits/tvp/targets/low,digits/tvp/targets/high,digits/tvp/n,claims")
        let row = csv[1].components(separatedBy: ",")
        XCTAssertEqual(Array(row.prefix(2)), ["lr=0.5", "0.5"])
        for value in [row[2], row[3], row[8], row[9]] {
            let fraction = try XCTUnwrap(Double(value), "\(value) in \(csv[1])")
            XCTAssertTrue((0...1).contains(fraction) && (fraction * 6).rounded() == fraction * 6, "k of 6 items as a fraction: \(value)")
        }
        let html = try String(contentsOfFile: folder + "/summary.html", encoding: .utf8)
        XCTAssertTrue(html.contains("digits · accuracy against train.lr") && html.contains("<svg") && html.contains("href=\"points/lr=1/report.html\""), html)
        for label in ["lr=0.5", "lr=1"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/points/\(label)/report.html"), label)
        }
    }

    func testSweepProgressInALogNamesThePointAndHasNoCarriageReturn() throws {
        let lock = NSLock()
        var lines: [String] = []
        let console = Console(verbosity: .normal, isTTY: false, out: { text in lock.lock(); lines.append(text); lock.unlock() },
                              err: { text in lock.lock(); lines.append(text); lock.unlock() })
        let backend = TinyBackend()
        let registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in }),
                                     backend: backend, console: console)
        let loaded = try world.load(overrides: ["evaluate.protocols=[zero-shot-official, tvp]", "report.images=false", "expect=[]"],
                                    multirun: ["train.lr=0.5,1"], backend: backend)
        let session = try PipelineSession(loaded: loaded, registry: registry, cache: try StageCache(root: world.cacheRoot))
        XCTAssertEqual(try world.run(session).exitCode, 0)
        XCTAssertFalse(lines.contains { $0.contains("\r") }, "no carriage return in a log")
        let progress = lines.filter { $0.contains("%  ") && $0.contains("[#") || $0.contains("[-") }
        XCTAssertTrue(progress.contains { $0.hasPrefix("toy[lr=0.5]/train[digits/tvp]  [") }, progress.joined())
        XCTAssertTrue(progress.contains { $0.hasPrefix("toy[lr=1]/eval[digits/tiny-b/tvp]  [") }, progress.joined())
    }

    func testRandomPatchNativeViewAndCorruptionColumns() throws {
        let backend = TinyBackend()
        let session = try world.session(overrides: [
            "prompt={kind: random-patch, image_size: 16, frame: 4}", "loss.tse=0", "expect=[]", "train.optimizer=adam",
            "evaluate.protocols=[zero-shot-native, tvp]", "evaluate.corruptions=[{name: gaussian_noise, severity: 2}]",
        ], backend: backend)
        // fetch, train and test loads, features, tvp training, (2 protocols × 2 models) × (clean +
        // corrupted) evaluations, aggregate, report: the corruption is applied when evaluating.
        XCTAssertEqual(session.graph.nodes.count, 15)
        XCTAssertNotNil(try? session.graph.nodes(named: "eval[digits/tiny-b/tvp/gaussian_noise-2]"))
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let folder = try XCTUnwrap(result.folder)
        let markdown = try String(contentsOfFile: folder + "/results.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("**accuracy (%) under gaussian_noise-2**"), markdown)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/results-gaussian_noise-2.csv"))
        XCTAssertEqual(backend.trainings, ["digits/tvp"])
    }
}
