import Foundation
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPPrompting
import XCTest

final class ReportPartsTests: XCTestCase {
    func testProgressBarTextRateAndETA() {
        XCTAssertEqual(ProgressBar.format(label: "train", completed: 5, total: 20, unit: "img", elapsed: 2, width: 8),
                       "train  [##------]   25%  5/20 img  2.5 img/s  ETA 6s")
        XCTAssertFalse(ProgressBar.format(label: "render", completed: 1, total: 100, unit: "scene", elapsed: 1e-6).contains("/s"))
        XCTAssertEqual(ProgressBar.format(label: "eval", completed: 40, total: 40, unit: "img", elapsed: 2, width: 4),
                       "eval  [####]  100%  40/40 img  20 img/s")
        XCTAssertEqual(ProgressBar.duration(125), "2m05s")
        XCTAssertEqual(ProgressBar.duration(3_720), "1h02m")
    }

    func testProgressBarRedrawsOnATerminalAndPrintsQuartersOtherwise() {
        var tty: [String] = [], plain: [String] = []
        var time = 0.0
        let onTTY = ProgressBar(label: "x", isTTY: true, width: 4, clock: { time }, write: { tty.append($0) })
        let inLog = ProgressBar(label: "x", isTTY: false, width: 4, clock: { time }, write: { plain.append($0) })
        for done in 1...8 {
            time += 1
            onTTY.update(completed: done, total: 8)
            inLog.update(completed: done, total: 8)
        }
        XCTAssertEqual(tty.filter { $0.hasPrefix("\r") }.count, 8)
        XCTAssertEqual(tty.last, "\n")
        XCTAssertEqual(plain.count, 5, "the first step, then lines at 25, 50, 75 and 100 %: \(plain)")
        XCTAssertTrue(plain.allSatisfy { $0.hasSuffix("\n") && !$0.contains("\r") })
    }

    func testProgressLinesFitTheTerminalAndKeepBothEndsOfTheirName() {
        let label = "fashion-tvp[fca=0.005,lr=10,steps=400,seed=44]/train[fashion/tvp]"
        for columns in [20, 40, 60, 80, 100, 200] {
            for (completed, note) in [(1, ""), (21, "loss 1.234"), (50, "a long note about what the stage does right now")] {
                let line = ProgressBar.format(label: label, completed: completed, total: 50, unit: "img", elapsed: 7, note: note, columns: columns)
                XCTAssertLessThan(line.count, columns, "\(columns) columns: \(line)")
            }
        }
        let line = ProgressBar.format(label: label, completed: 21, total: 50, unit: "img", elapsed: 7, columns: 80)
        XCTAssertEqual(line, "fashion-tvp[fc…[fashion/tvp]  [####------]   42%  21/50 img  3.0 img/s  ETA 10s")
        XCTAssertEqual(line.count, 79)
        XCTAssertEqual(ProgressBar.format(label: "eval", completed: 40, total: 40, unit: "img", elapsed: 2, width: 4, columns: 80),
                       "eval  [####]  100%  40/40 img  20 img/s", "a line that fits is left alone")
        XCTAssertEqual(truncateMiddle("abcdefghij", to: 5), "ab…ij")
        XCTAssertEqual(terminalColumns(-1, environment: ["COLUMNS": "132"]), 132)
        XCTAssertEqual(terminalColumns(-1, environment: [:]), 80, "unknown: 80")

        // On a terminal 50 columns wide every redraw stays on its line; in a log there is no \r at all.
        var tty: [String] = [], log: [String] = []
        var time = 0.0
        let onTTY = ProgressBar(label: label, isTTY: true, columns: { 50 }, clock: { time }, write: { tty.append($0) })
        let console = Console(verbosity: .normal, isTTY: false, out: { log.append($0) }, err: { log.append($0) })
        let inLog = console.bar(label: label, unit: "img")
        for done in 1...50 {
            time += 0.5
            onTTY.update(completed: done, total: 50, note: "loss 0.5")
            inLog?.update(completed: done, total: 50)
        }
        let drawn = tty.map { $0.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\u{1B}[K", with: "") }
        XCTAssertTrue(drawn.allSatisfy { $0.count < 50 }, "\(drawn.filter { $0.count >= 50 })")
        XCTAssertEqual(log.count, 5)
        XCTAssertTrue(log.allSatisfy { !$0.contains("\r") && !$0.contains("\u{1B}") && $0.hasSuffix("\n") && $0.hasPrefix(label) }, "\(log)")
    }

    func testPlotTicksAreRoundAndCurvesHaveMarkers() {
        XCTAssertEqual(LossPlot.niceTicks(1.38, 2.16).ticks, [1.2, 1.4, 1.6, 1.8, 2.0, 2.2])
        XCTAssertEqual(LossPlot.niceTicks(0, 7).ticks, [0, 2, 4, 6, 8])
        XCTAssertEqual(LossPlot.niceTicks(0, 1).ticks, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(LossPlot.tickText(0.25, step: 0.25), "0.25")
        XCTAssertEqual(LossPlot.tickText(1.4, step: 0.2), "1.4")
        XCTAssertEqual(LossPlot.tickText(400, step: 100), "400")
        let svg = LossPlot.svg(title: "t", series: [.init(name: "vp", points: [(0, 1.38), (1, 2.16)]), .init(name: "tvp", points: [(0, 1.5)], dashed: true)],
                               xLabel: "step", yLabel: "loss", yRange: (1, 3))
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3, "a marker per point")
        for tick in [">1.0<", ">1.5<", ">2.0<", ">2.5<", ">3.0<"] { XCTAssertTrue(svg.contains(tick), "\(tick) missing: shared y-range 1–3") }
        XCTAssertFalse(svg.contains(">1.75<"))
        XCTAssertTrue(svg.contains("stroke-dasharray=\"6 3\""))
        let log = LossPlot.svg(title: "t", series: [.init(name: "m", points: [(0.1, 50), (1, 60), (10, 55)], intervals: [(45, 55), nil, nil])],
                               xLabel: "lr", yLabel: "%", logX: true)
        for tick in [">0.1<", ">1<", ">10<"] { XCTAssertTrue(log.contains(tick), "\(tick) missing on the log axis") }
        XCTAssertTrue(log.contains("<path d=\"M"), "the interval bar")
    }

    static let aggregate: JSONValue = [
        "pipeline": "p", "tasks": ["cifar", "clevr"], "protocols": ["zero-shot-official", "tvp"],
        "models": [["name": "s", "role": "surrogate"], ["name": "a", "role": "target"], ["name": "b", "role": "target"]],
        "results": [
            ["task": "cifar", "model": "s", "protocol": "zero-shot-official", "corruption": nil, "metrics": ["accuracy": 0.5]],
            ["task": "cifar", "model": "s", "protocol": "tvp", "corruption": nil, "metrics": ["accuracy": 0.75]],
            ["task": "cifar", "model": "a", "protocol": "tvp", "corruption": nil, "metrics": ["accuracy": 0.25]],
            ["task": "cifar", "model": "b", "protocol": "tvp", "corruption": nil, "metrics": ["accuracy": 0.5]],
            ["task": "cifar", "model": "b", "protocol": "tvp", "corruption": "contrast-1", "metrics": ["accuracy": 0.125]],
        ],
    ]

    func testResultsTableIsLaidOutLikeThePaper() {
        let table = ResultsTable(aggregate: ReportPartsTests.aggregate, metric: "accuracy", digits: 1, corruption: nil)
        XCTAssertEqual(table.markdown, """
        **accuracy (%)**

        | model | cifar zero-shot | cifar TVP | clevr zero-shot | clevr TVP |
        | --- | ---: | ---: | ---: | ---: |
        | s (surrogate) | 50.0 | 75.0 | – | – |
        | a | – | 25.0 | – | – |
        | b | – | 50.0 | – | – |
        | mean (targets) | – | 37.5 | – | – |

        """)
        XCTAssertNil(table.note, "no items, no intervals")
        let columns = ["cifar/zero-shot-official", "cifar/tvp", "clevr/zero-shot-official", "clevr/tvp"].flatMap { [$0, $0 + "/low", $0 + "/high", $0 + "/n"] }
        XCTAssertEqual(table.csv.components(separatedBy: "\r\n").prefix(2),
                       ["model,role," + columns.joined(separator: ","), "s,surrogate,0.5,,,,0.75,,,,,,,,,,,"])
        let corrupted = ResultsTable(aggregate: ReportPartsTests.aggregate, metric: "accuracy", digits: 0, corruption: "contrast-1")
        XCTAssertEqual(corrupted.rows[2], ["b", "–", "12", "–", "–"])
        XCTAssertTrue(table.html.contains("<tr class=\"surrogate\"><th scope=\"row\">s (surrogate)</th><td>50.0</td>"))
    }

    func testLossPlotAndCanonicalYAMLAndEscaping() throws {
        let svg = LossPlot.svg(title: "a < b", series: [.init(name: "total", points: [(0, 2), (1, 1), (2, .nan), (3, 0.5)])],
                               xLabel: "step", yLabel: "loss")
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.contains("a &lt; b"))
        let polyline = try XCTUnwrap(svg.components(separatedBy: "points=\"").dropFirst().first?.components(separatedBy: "\"").first)
        XCTAssertEqual(polyline.split(separator: " ").count, 3, "the NaN point is skipped")

        let value: JSONValue = ["b": [1, "x: y", ["c": nil]], "a": [:], "é": 1.5, "list": []]
        let yaml = canonicalYAML(value)
        XCTAssertEqual(yaml, "\"a\": {}\n\"b\":\n  - 1\n  - \"x: y\"\n  -\n    \"c\": null\n\"list\": []\n\"é\": 1.5\n")
        XCTAssertEqual(try JSONValue(yaml: YAMLParser.parse(yaml)), value)
        XCTAssertEqual(escapeHTML("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;")
    }

    func testMetricNamesMapToTheEvaluatorsResults() throws {
        let labels = [1, 1, 0, 0], scores: [[Float]] = [[0, 1], [1, 0], [0, 1], [2, 0]]   // candidates [no, yes]
        let yesNo = Evaluator().result(model: "m", protocolName: "vp", scores: scores, labels: labels, candidates: ["no", "yes"])
        let values = try metricValues(EvaluateSpec.metricNames, result: yesNo, labels: labels)
        XCTAssertEqual(values["accuracy"], .double(0.5))
        XCTAssertEqual(values["top-5"], .null, "two candidates have no top-5")
        XCTAssertEqual(values["auc"], .double(Metrics.rocAUC(scores: [1, -1, 1, -2], positives: [true, true, false, false])!))
        XCTAssertEqual(values["precision"], .double(0.5))
        XCTAssertEqual(values["recall"], .double(0.5))
        XCTAssertEqual(values["yes-ratio"], .double(0.5))
        XCTAssertEqual(values["balanced-accuracy"], .double(Metrics.balancedAccuracy(predictions: [1, 0, 1, 0], labels: labels)!))
        let classes = Evaluator().result(model: "m", protocolName: "tvp", scores: [[0, 1, 2, 3, 4, 5]], labels: [0],
                                         candidates: ["a", "b", "c", "d", "e", "f"])
        let six = try metricValues(["accuracy", "top-5", "auc", "f1"], result: classes, labels: [0])
        XCTAssertEqual(six, ["accuracy": .double(0), "top-5": .double(0), "auc": .null, "f1": .null])
        XCTAssertThrowsError(try metricValues(["recall@1"], result: classes, labels: [0]))
    }

    func testClaimsCheckEachTask() {
        let claim = Claim(text: "tvp.mean >= vp.max + 0.1", left: .statistic(.tvp, .mean, offset: 0), comparison: .greaterOrEqual,
                          right: .statistic(.vp, .max, offset: 0.1), scope: .targets, tasks: [], metric: "accuracy", corruption: nil,
                          mark: Mark(path: "f", line: 1, column: 1))
        let table: [String: Double] = ["t1/a/tvp": 0.9, "t1/b/tvp": 0.7, "t1/a/vp": 0.6, "t1/b/vp": 0.7,
                                       "t2/a/tvp": 0.5, "t2/b/tvp": 0.5, "t2/a/vp": 0.5, "t2/b/vp": 0.1]
        let checks = claim.check(tasks: ["t1", "t2", "t3"], models: ["a", "b"]) { table["\($0)/\($1)/\($2.rawValue)"] }
        XCTAssertEqual(checks.map(\.verdict), [.inconclusive, .inconclusive, .fails], "without items nothing is decided; t3 has no results")
        XCTAssertEqual(checks.map(\.method), [.point, .point, .missing])
        XCTAssertEqual(checks.map(\.passed), [true, true, false])
        XCTAssertEqual(checks[0].left!, 0.8, accuracy: 1e-12)
        XCTAssertEqual(checks[0].right!, 0.8, accuracy: 1e-12)
        XCTAssertNil(checks[2].left, "missing results never pass")
    }

    /// Per-item data decides: paired for one model against one model and for mean against mean,
    /// Wilson intervals by interval arithmetic otherwise.
    func testClaimVerdictsReadIntervals() throws {
        // 100 items; on a and b, TVP is right on 0..<60 and VP on 0..<40: +20 points on each.
        func hits(_ count: Int) -> [Bool] { (0..<100).map { $0 < count } }
        let items: [String: [Bool]] = ["a/tvp": hits(60), "b/tvp": hits(60), "a/vp": hits(40), "b/vp": hits(40)]
        func check(_ text: String, _ left: ClaimOperand, _ comparison: ClaimComparison, _ right: ClaimOperand,
                   confidence: Double = 0.95) throws -> ClaimCheck {
            let claim = Claim(text: text, left: left, comparison: comparison, right: right, scope: .targets, tasks: [], metric: "accuracy",
                              corruption: nil, mark: Mark(path: "f", line: 1, column: 1), confidence: confidence)
            return try XCTUnwrap(claim.check(tasks: ["t"], models: ["a", "b"],
                                             value: { _, model, p in items["\(model)/\(p.rawValue)"].map { Double($0.filter { $0 }.count) / 100 } },
                                             items: { _, model, p in items["\(model)/\(p.rawValue)"] }).first)
        }
        let mean = try check("tvp.mean >= vp.mean", .statistic(.tvp, .mean, offset: 0), .greaterOrEqual, .statistic(.vp, .mean, offset: 0))
        XCTAssertEqual(mean.verdict, .holds)
        XCTAssertEqual(mean.method, .paired)
        XCTAssertEqual(mean.difference!, 0.2, accuracy: 1e-12)
        XCTAssertEqual([mean.b, mean.c, mean.pairs, mean.items], [40, 0, 200, 100])
        XCTAssertTrue(mean.interval!.low > 0.1 && mean.interval!.high < 0.3, "a bootstrap interval around +20 points: \(mean.interval!)")
        // An offset moves the interval: +20 points cannot clear +50, and clearly misses it.
        let offset = try check("tvp.mean >= vp.mean + 0.5", .statistic(.tvp, .mean, offset: 0), .greaterOrEqual, .statistic(.vp, .mean, offset: 0.5))
        XCTAssertEqual(offset.verdict, .fails)
        XCTAssertEqual(offset.interval!.low, mean.interval!.low - 0.5, accuracy: 1e-12)
        let within = try check("tvp.a > vp.a + 0.19", .statistic(.tvp, .model("a"), offset: 0), .greater, .statistic(.vp, .model("a"), offset: 0.19))
        XCTAssertEqual(within.verdict, .inconclusive, "the interval of +1 point straddles 0")
        XCTAssertEqual(within.p!, Statistics.mcNemarP(b: 20, c: 0), accuracy: 1e-15)
        let wilson = try check("tvp.min > vp.max", .statistic(.tvp, .min, offset: 0), .greater, .statistic(.vp, .max, offset: 0))
        XCTAssertEqual(wilson.method, .wilson)
        let (t, v) = (Statistics.wilsonInterval(correct: 60, total: 100), Statistics.wilsonInterval(correct: 40, total: 100))
        XCTAssertEqual(wilson.interval!.low, t.low - v.high, accuracy: 1e-12)
        XCTAssertEqual(wilson.interval!.high, t.high - v.low, accuracy: 1e-12)
        XCTAssertEqual(wilson.verdict, .holds)
        XCTAssertEqual(try check("vp.b < 0.45", .statistic(.vp, .model("b"), offset: 0), .less, .number(0.45)).verdict, .inconclusive)
        XCTAssertEqual(try check("vp.b < 0.55", .statistic(.vp, .model("b"), offset: 0), .less, .number(0.55)).verdict, .holds)
        XCTAssertEqual(try check("vp.b < 0.55", .statistic(.vp, .model("b"), offset: 0), .less, .number(0.55), confidence: 0.9999).verdict,
                       .inconclusive, "a higher confidence widens the interval")
        XCTAssertEqual(try check("vp.b > 0.6", .statistic(.vp, .model("b"), offset: 0), .greater, .number(0.6)).verdict, .fails)
    }

    func testVerdictsOnAnInterval() {
        func verdicts(_ low: Double, _ high: Double) -> [String] {
            ClaimComparison.allCases.map { $0.verdict(Interval(low: low, high: high)).rawValue }
        }
        // >=, <=, >, <, ==, !=
        XCTAssertEqual(verdicts(0.01, 0.1), ["holds", "fails", "holds", "fails", "fails", "holds"])
        XCTAssertEqual(verdicts(0, 0.1), ["holds", "inconclusive", "inconclusive", "fails", "inconclusive", "inconclusive"])
        XCTAssertEqual(verdicts(-0.1, 0.1), ["inconclusive", "inconclusive", "inconclusive", "inconclusive", "inconclusive", "inconclusive"])
        XCTAssertEqual(verdicts(-0.1, 0), ["inconclusive", "holds", "fails", "inconclusive", "inconclusive", "inconclusive"])
        XCTAssertEqual(verdicts(-0.1, -0.01), ["fails", "holds", "fails", "holds", "fails", "holds"])
        XCTAssertEqual(verdicts(0, 0), ["holds", "holds", "fails", "fails", "holds", "fails"])
        XCTAssertEqual(verdicts(1e-17, 1e-16), verdicts(0, 0), "rounding noise is a tie")
        XCTAssertEqual(ClaimVerdict.combined([.holds, .inconclusive]), .inconclusive)
        XCTAssertEqual(ClaimVerdict.combined([.holds, .fails, .inconclusive]), .fails)
        XCTAssertEqual(ClaimVerdict.combined([.holds, .holds]), .holds)
    }

    /// Means of the same answers summed in another order differ in their last bits; that is a tie.
    func testRoundingNoiseIsATie() {
        let (a, b) = (0.4975, 0.49749999999999994)
        XCTAssertGreaterThan(a, b, "the two really differ in their last bits")
        let verdicts = ClaimComparison.allCases.map { ($0.rawValue, $0.holds(a, b)) }
        XCTAssertEqual(verdicts.map(\.0), [">=", "<=", ">", "<", "==", "!="])
        XCTAssertEqual(verdicts.map(\.1), [true, true, false, false, true, false])
        XCTAssertEqual(ClaimComparison.allCases.map { $0.holds(0.51, 0.5) }, [true, false, true, false, false, true])
    }
}

final class CostTableTests: XCTestCase {
    func testTheCostTableComparesEachPromptWithItsSurrogatesConnectors() throws {
        let aggregate: JSONValue = ["trainings": [
            ["task": "fashion", "variant": "tvp", "learnable": 21504, "adapter_values": [1070208, 443520], "seconds": 12.25, "peak_rss_mib": 4096.4],
            ["task": "fashion", "variant": "vp", "learnable": 21504, "adapter_values": [.null], "seconds": .null],
        ]]
        let table = CostTable(aggregate: aggregate)
        XCTAssertEqual(table.rows, [["fashion", "TVP", "21,504", "1,513,728", "0.0142", "12.2", "4096"],
                                    ["fashion", "VP", "21,504", "–", "–", "–", "–"]])
        XCTAssertEqual(table.rawRows[2], ["fashion", "VP", "21504", "", "", "", ""])
        XCTAssertTrue(table.markdown.contains("| fashion | TVP | 21,504 | 1,513,728 | 0.0142 | 12.2 | 4096 |"), table.markdown)
        XCTAssertTrue(table.html.contains("<td>1,513,728</td>"))
        XCTAssertEqual(CostTable.grouped(999), "999")
        XCTAssertEqual(CostTable.grouped(-1234567), "-1,234,567")
        XCTAssertTrue(CostTable(aggregate: ["trainings": []]).rows.isEmpty)
    }
}
