import Foundation
import TVPData
import TVPEngine
import TVPPipeline
import TVPPrompting
import XCTest

/// The aggregate and report stages on synthetic evaluate and train-prompt results: intervals,
/// paired comparisons, claim verdicts, and how the reports show them.
final class ResultStatisticsTests: XCTestCase {
    var world: ToyWorld!
    var root = ""

    override func setUpWithError() throws {
        world = try ToyWorld.make()
        root = temporaryCacheRoot()
    }

    override func tearDown() {
        world.remove()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// 40 items: zero-shot right on 0..<10; VP adds 10 and 11 on s and a (not on b); TVP right on 0..<30.
    static func items(_ model: String, _ evaluation: String) -> String {
        let correct: Int
        switch evaluation {
        case "zero-shot-official": correct = 10
        case "vp": correct = model == "b" ? 10 : 12
        default: correct = 30
        }
        return String(repeating: "1", count: correct) + String(repeating: "0", count: 40 - correct)
    }

    static func operand(_ evaluation: String, _ statistic: String) -> JSONValue {
        ClaimStatistic.names.contains(statistic)
            ? ["protocol": .string(evaluation), "statistic": .string(statistic), "offset": 0.0]
            : ["protocol": .string(evaluation), "model": .string(statistic), "offset": 0.0]
    }

    static func claim(_ text: String, _ left: JSONValue, _ comparison: String, _ right: JSONValue, metric: String = "accuracy",
                      confidence: Double = 0.95) -> JSONValue {
        ["text": .string(text), "left": left, "comparison": .string(comparison), "right": right, "models": ["a", "b"], "tasks": [],
         "metric": .string(metric), "corruption": nil, "where": "test", "confidence": .double(confidence)]
    }

    /// Runs fake evaluate and train stages, then the registry's aggregate and report stages; returns their results.
    func aggregateAndReport() throws -> (aggregate: JSONValue, report: JSONValue) {
        var stages: [Stage] = [], evaluations: [JSONValue] = [], ids: [String] = []
        func fake(_ id: String, _ result: JSONValue) -> Stage {
            Stage(id: id, kind: "fake", parameters: ["result": result], code: "1") { context in
                StageOutput(result: context.parameters["result"]!)
            }
        }
        for model in ["s", "a", "b"] {
            for evaluation in ["zero-shot-official", "vp", "tvp"] {
                let items = Self.items(model, evaluation)
                let correct = items.filter { $0 == "1" }.count
                let id = "eval[t/\(model)/\(evaluation)]"
                stages.append(fake(id, ["metrics": ["accuracy": .double(Double(correct) / 40), "macro-f1": .double(Double(correct) / 50)],
                                        "count": 40, "correct": .integer(correct), "items": .string(items)]))
                evaluations.append(["task": "t", "model": .string(model), "protocol": .string(evaluation), "corruption": nil])
                ids.append(id)
            }
        }
        stages.append(fake("train[t/tvp]", [
            // A curve that does not fall (the aggregate warns) beside a validation loss that does.
            "curve": .array([1.0, 1.0, 1.1, 1.2].enumerated().map { step, total in
                ["step": .integer(step), "epoch": 0, "lr": 1.0, "total": .double(total), "task": .double(total)]
            }),
            "final_loss": 1.0, "learnable": 100, "seconds": 1.5, "peak_rss_mib": 10.0, "adapter_values": [1000],
            "validation": [["step": 0, "accuracy": 0.5, "loss": 1.0, "n": 20], ["step": 4, "accuracy": 0.7, "loss": 0.8, "n": 20]],
            "best_step": 4,
        ]))
        let claims: [JSONValue] = [
            Self.claim("tvp.mean >= vp.mean", Self.operand("tvp", "mean"), ">=", Self.operand("vp", "mean")),
            Self.claim("vp.a > zero-shot-official.a", Self.operand("vp", "a"), ">", Self.operand("zero-shot-official", "a")),
            Self.claim("tvp.mean < zero-shot-official.mean", Self.operand("tvp", "mean"), "<", Self.operand("zero-shot-official", "mean")),
            Self.claim("tvp.min > 0.5", Self.operand("tvp", "min"), ">", ["number": 0.5], confidence: 0.9),
            Self.claim("tvp.a > vp.a", Self.operand("tvp", "a"), ">", Self.operand("vp", "a"), metric: "macro-f1"),
        ]
        let registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in }),
                                     backend: nil)
        stages.append(try registry.stage(id: "aggregate", kind: StageKinds.aggregate, parameters: [
            "pipeline": "p", "tasks": ["t"], "protocols": ["zero-shot-official", "vp", "tvp"], "metrics": ["accuracy", "macro-f1"],
            "models": [["name": "s", "role": "surrogate"], ["name": "a", "role": "target"], ["name": "b", "role": "target"]],
            "corruptions": [], "evaluations": .array(evaluations), "trainings": [["task": "t", "variant": "tvp"]], "claims": .array(claims),
        ], inputs: ids + ["train[t/tvp]"]))
        stages.append(try registry.stage(id: "report", kind: StageKinds.report, parameters: [
            "title": "p", "metric": "accuracy", "digits": 1, "images": false, "trainings": [],
        ], inputs: ["aggregate"]))
        let cache = try StageCache(root: root)
        let graph = try StageGraph(stages: stages)
        let execution = try Executor(graph: graph, cache: cache, options: ExecutorOptions(threads: 1, log: { _ in })).run()
        XCTAssertTrue(execution.succeeded, "\(execution.failures)")
        func result(_ id: String) throws -> JSONValue { try cache.payload(for: graph.nodes[try graph.nodes(named: id)[0]].key).result() }
        return (try result("aggregate"), try result("report"))
    }

    func testAggregateCarriesItemsIntervalsComparisonsAndVerdicts() throws {
        let (aggregate, _) = try aggregateAndReport()
        let results = try XCTUnwrap(aggregate["results"]?.arrayValue)
        let tvpA = try XCTUnwrap(results.first { $0["model"] == "a" && $0["protocol"] == "tvp" })
        XCTAssertEqual(tvpA["items"]?.stringValue, Self.items("a", "tvp"))
        XCTAssertEqual(tvpA["n"], 40)
        XCTAssertEqual(tvpA["correct"], 30)
        let wilson = Statistics.wilsonInterval(correct: 30, total: 40)
        XCTAssertEqual(tvpA["interval"]?["low"]?.doubleValue ?? 0, wilson.low, accuracy: 1e-12)
        XCTAssertEqual(tvpA["interval"]?["high"]?.doubleValue ?? 0, wilson.high, accuracy: 1e-12)
        XCTAssertEqual(aggregate["confidence"], 0.95)

        // Groups s, a, b, targets (pooled) × pairs VP − zero-shot, TVP − zero-shot, TVP − VP.
        let comparisons = try XCTUnwrap(aggregate["comparisons"]?.arrayValue)
        XCTAssertEqual(comparisons.count, 12)
        func comparison(_ model: String, _ left: String, _ right: String) -> JSONValue? {
            comparisons.first { $0["model"]?.stringValue == model && $0["left"]?.stringValue == left && $0["right"]?.stringValue == right }
        }
        let vpA = try XCTUnwrap(comparison("a", "vp", "zero-shot-official"))
        XCTAssertEqual(vpA["b"], 2)
        XCTAssertEqual(vpA["c"], 0)
        XCTAssertEqual(vpA["p"]?.doubleValue ?? 0, 0.5, accuracy: 1e-12)
        XCTAssertEqual(vpA["difference"]?.doubleValue ?? 0, 0.05, accuracy: 1e-12)
        XCTAssertEqual(vpA["low"]?.doubleValue, 0, "the two gained items are missing from some resamples")
        let pooled = try XCTUnwrap(comparison("targets", "tvp", "vp"))
        XCTAssertEqual(pooled["pooled"], true)
        XCTAssertEqual(pooled["models"], ["a", "b"])
        XCTAssertEqual(pooled["n"], 80)
        XCTAssertEqual(pooled["items"], 40)
        XCTAssertEqual(pooled["b"], 38)
        XCTAssertEqual(pooled["difference"]?.doubleValue ?? 0, 38.0 / 80, accuracy: 1e-12)
        XCTAssertGreaterThan(pooled["low"]?.doubleValue ?? 0, 0.3)
        XCTAssertNil(comparison("surrogates", "tvp", "vp"), "one surrogate has no pooled row")
        let means = try XCTUnwrap(aggregate["means"]?.arrayValue)
        XCTAssertEqual(means.count, 3)
        XCTAssertEqual(means.first { $0["protocol"] == "vp" }?["accuracy"]?.doubleValue ?? 0, 22.0 / 80, accuracy: 1e-12)

        let training = try XCTUnwrap(aggregate["trainings"]?.arrayValue?.first)
        XCTAssertEqual(training["best_step"], 4)
        let warnings = try XCTUnwrap(training["warnings"]?.arrayValue?.compactMap(\.stringValue))
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].hasPrefix("the training loss did not fall: the last 1 steps average 1.200, 1.20×"), warnings[0])
        XCTAssertTrue(warnings[0].contains("the validation loss went from 1.000 to 0.800"), warnings[0])
        XCTAssertEqual(training["loss_ratio"]?.doubleValue ?? 0, 1.2, accuracy: 1e-9)
        XCTAssertEqual(training["validation"]?.arrayValue?.count, 2)

        let claims = try XCTUnwrap(aggregate["claims"]?.arrayValue)
        XCTAssertEqual(claims.map { $0["verdict"]?.stringValue ?? "" }, ["holds", "inconclusive", "fails", "holds", "inconclusive"])
        XCTAssertEqual(claims.map { $0["passed"] }, [true, true, false, true, true])
        XCTAssertEqual(claims[0]["method"], "paired")
        XCTAssertEqual(claims[0]["n"], 80)
        XCTAssertEqual(claims[1]["p"]?.doubleValue ?? 0, 0.5, accuracy: 1e-12)
        XCTAssertEqual(claims[3]["method"], "wilson")
        XCTAssertEqual(claims[3]["confidence"], 0.9)
        XCTAssertEqual(claims[3]["interval"]?["low"]?.doubleValue ?? 0,
                       Statistics.wilsonInterval(correct: 30, total: 40, confidence: 0.9).low - 0.5, accuracy: 1e-12)
        XCTAssertEqual(claims[4]["method"], "point", "macro-f1 has no per-item data")
        XCTAssertEqual(claims[4]["interval"], .null)
        XCTAssertEqual(aggregate["passed"], false)
        XCTAssertEqual(aggregate["verdict"], "fails")
        XCTAssertEqual(ClaimText.line(claims[1]),
                       "claim inconclusive: vp.a > zero-shot-official.a (diff +5.0 points, 95% CI [0.0, +12.5], McNemar p = 0.5, n = 40)")
        XCTAssertTrue(ClaimText.line(claims[0]).hasPrefix("claim holds: tvp.mean >= vp.mean (diff +47.5 points, 95% CI ["), ClaimText.line(claims[0]))
        XCTAssertTrue(ClaimText.line(claims[0]).hasSuffix("McNemar p = 7.3e-12, n = 80 (40 items))"), ClaimText.line(claims[0]))
        XCTAssertTrue(ClaimText.line(claims[3]).contains("90% CI [") && ClaimText.line(claims[3]).contains("from Wilson intervals, n = 40"),
                      ClaimText.line(claims[3]))
        XCTAssertTrue(ClaimText.line(claims[4]).hasPrefix("claim inconclusive: tvp.a > vp.a (diff +36.0 points, no interval for this metric"),
                      ClaimText.line(claims[4]))
    }

    func testReportsShowIntervalsDifferencesVerdictsAndValidation() throws {
        let (aggregate, report) = try aggregateAndReport()
        let markdown = try XCTUnwrap(report["files"]?["results.md"]?.stringValue)
        XCTAssertTrue(markdown.contains("n = 40 test items per cell"), markdown)
        XCTAssertTrue(markdown.contains("| a | 25.0 [14.2, 40.2] | 30.0 ["), markdown)
        XCTAssertTrue(markdown.contains("**paired differences (points, 95% CI, McNemar p)**"), markdown)
        XCTAssertTrue(markdown.contains("| model | t VP − zero-shot | t TVP − zero-shot | t TVP − VP |"), markdown)
        XCTAssertTrue(markdown.contains("| b | 0.0 [0.0, 0.0] p=1 | +50.0 ["), markdown)
        XCTAssertTrue(markdown.contains("| targets (pooled) | +2.5 ["), markdown)
        XCTAssertTrue(markdown.contains("- claim fails: tvp.mean < zero-shot-official.mean (diff +50.0 points"), markdown)
        XCTAssertTrue(markdown.contains("- t TVP: the training loss did not fall"), markdown)

        let csv = try XCTUnwrap(report["files"]?["results.csv"]?.stringValue).components(separatedBy: "\r\n")
        XCTAssertTrue(csv[0].hasPrefix("model,role,t/zero-shot-official,t/zero-shot-official/low,t/zero-shot-official/high,t/zero-shot-official/n,t/vp,"), csv[0])
        let wilson = Statistics.wilsonInterval(correct: 10, total: 40)
        XCTAssertTrue(csv[1].hasPrefix("s,surrogate,0.25,\(wilson.low),\(wilson.high),40,"), csv[1])
        XCTAssertTrue(csv.contains { $0.hasPrefix("mean,targets,0.25,") }, "\(csv)")
        let differences = try XCTUnwrap(report["files"]?["differences.csv"]?.stringValue).components(separatedBy: "\r\n")
        XCTAssertEqual(differences[0], PairedTable.csvHeader.joined(separator: ","))
        XCTAssertEqual(differences.filter { !$0.isEmpty }.count, 13)

        let html = try XCTUnwrap(report["files"]?["report.html"]?.stringValue)
        XCTAssertTrue(html.contains("<h2>Paired differences</h2>") && html.contains("<th scope=\"row\">targets (pooled)</th>"))
        XCTAssertTrue(html.contains("✘ fails: <code>tvp.mean &lt; zero-shot-official.mean</code>"))
        XCTAssertTrue(html.contains("? inconclusive: <code>vp.a &gt; zero-shot-official.a</code>"))
        XCTAssertTrue(html.contains("<li>t TVP: the training loss did not fall"))
        XCTAssertTrue(html.contains("t · TVP validation accuracy (n = 20)") && html.contains("best step 4"), html)
        XCTAssertNotNil(report["files"]?["validation-t-tvp.svg"])

        let text = ResultsTable(aggregate: aggregate, metric: "accuracy", digits: 0, corruption: nil).text
        XCTAssertTrue(text.contains("in brackets the 95% interval (Wilson per result, bootstrap over items for the targets' mean); n = 40"), text)
        XCTAssertTrue(text.contains("s (surrogate)   25 [14, 40]  30 [18, 45]  75 [60, 86]"), text)
        let f1 = ResultsTable(aggregate: aggregate, metric: "macro-f1", digits: 1, corruption: nil)
        XCTAssertEqual(f1.rows[0][1], "20.0", "no interval for other metrics")
    }
}
