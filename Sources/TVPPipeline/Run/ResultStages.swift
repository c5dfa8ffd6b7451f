import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPrompting
import TVPTensor

/// The code of the aggregate: these stage bodies, the statistics, the claims and the JSON they write.
private let resultCode = ["TVPPipeline/Run/ResultStages.swift", "TVPPipeline/Run/ResultStatistics.swift", "TVPPipeline/Config/Claim.swift",
                          "TVPPrompting/Evaluation/", "TVPPrompting/Training/PromptValidation.swift", "TVPEngine/JSONValue.swift",
                          "TVPEngine/JSONParser.swift"]

extension StageRegistry {
    func resultStageKinds() -> [StageKind] {
        [
            StageKind(name: StageKinds.aggregate, code: StageCode(resultCode), resources: .light) { context, parameters in
                try aggregateStage(context, parameters)
            },
            StageKind(name: StageKinds.report, code: StageCode(resultCode + ["TVPPipeline/Report/", "TVPPrompting/Prompts/", "TVPData/Images/",
                                                                                    "TVPTensor/"]),
                      resources: .light) { context, parameters in
                try reportStage(context, parameters)
            },
        ]
    }
}

/// `aggregate` {pipeline, tasks, models, protocols, metrics, corruptions, evaluations, trainings, claims}:
/// inputs are the `evaluate` stages (described in order by `evaluations`: {task, model, protocol,
/// corruption}) then the `train-prompt` stages (`trainings`: {task, variant}). Collects every result
/// (with its per-item correctness `items`, `n` and the accuracy's Wilson `interval`) and loss curve,
/// computes the paired `comparisons` and the targets' `means` (`ResultStatistics`), and checks the
/// claims. Result: the parameters' layout plus `results`, `trainings` (with curves, validation and
/// warnings), `comparisons`, `means`, `confidence`, `claims` (each with a verdict and per-task checks),
/// `verdict` (all claims together) and `passed` (no claim fails).
func aggregateStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
    let evaluations = parameters["evaluations"]?.arrayValue ?? []
    let trainings = parameters["trainings"]?.arrayValue ?? []
    guard context.inputCount == evaluations.count + trainings.count else {
        throw PipelineError.stage(context.stageID, "\(context.inputCount) inputs for \(evaluations.count) evaluations and \(trainings.count) trainings")
    }
    let confidence = Statistics.defaultConfidence
    var results: [JSONValue] = []
    for (index, entry) in evaluations.enumerated() {
        let result = try context.input(at: index).result()
        guard case .object(var object) = entry else { throw PipelineError.stage(context.stageID, "bad evaluation entry \(entry)") }
        object["metrics"] = result["metrics"] ?? .object([:])
        object["count"] = result["count"] ?? .null
        object["correct"] = result["correct"] ?? .null
        object["items"] = result["items"] ?? .null
        if let text = result["items"]?.stringValue {
            guard let hits = ResultStatistics.parseItems(text) else {
                throw PipelineError.stage(context.stageID, "evaluation \(index) has 'items' that are not a string of 0 and 1")
            }
            object.merge(ResultStatistics.intervalFields(hits, confidence: confidence)) { $1 }
        }
        results.append(.object(object))
    }
    var curves: [JSONValue] = []
    for (offset, entry) in trainings.enumerated() {
        let result = try context.input(at: evaluations.count + offset).result()
        guard case .object(var object) = entry else { throw PipelineError.stage(context.stageID, "bad training entry \(entry)") }
        object["curve"] = result["curve"] ?? .array([])
        object["final_loss"] = result["final_loss"] ?? .null
        for key in ["learnable", "seconds", "peak_rss_mib", "adapter_values", "validation", "best_step", "prompt_sha256"] {
            object[key] = result[key] ?? .null
        }
        // Judged here, not in the (expensive, cached) training: a clearer wording reaches old trainings too.
        let totals = (result["curve"]?.arrayValue ?? []).compactMap { $0["total"]?.doubleValue }
        let points = (result["validation"]?.arrayValue ?? []).compactMap(ValidationPoint.init(json:))
        object["loss_ratio"] = TrainingDiagnostics.lossRatio(totals).map { .double($0) } ?? .null
        object["warnings"] = .array(TrainingDiagnostics.warnings(totals: totals, validation: points).map { .string($0) })
        curves.append(.object(object))
    }
    let statistics = ResultStatistics(results: results)
    let tasks = (parameters["tasks"]?.arrayValue ?? []).compactMap(\.stringValue)
    let protocols = (parameters["protocols"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ProtocolSpec.init(rawValue:)) }
    let corruptions = [nil] + (parameters["corruptions"]?.arrayValue ?? []).compactMap(\.stringValue)
    func names(role: String) -> [String] {
        (parameters["models"]?.arrayValue ?? []).filter { $0["role"]?.stringValue == role }.compactMap { $0["name"]?.stringValue }
    }
    let targets = names(role: "target")
    let comparisons = statistics.comparisons(tasks: tasks, corruptions: corruptions, protocols: protocols,
                                             surrogates: names(role: "surrogate"), targets: targets)
    let means = statistics.means(tasks: tasks, corruptions: corruptions, protocols: protocols, targets: targets)

    var claims: [JSONValue] = []
    var verdicts: [ClaimVerdict] = []
    for claim in parameters["claims"]?.arrayValue ?? [] {
        let left = try ClaimOperand(json: claim["left"] ?? .null), right = try ClaimOperand(json: claim["right"] ?? .null)
        guard let comparison = claim["comparison"]?.stringValue.flatMap(ClaimComparison.init(rawValue:)),
              let metric = claim["metric"]?.stringValue else { throw PipelineError.stage(context.stageID, "bad claim \(claim)") }
        let corruption = claim["corruption"]?.stringValue
        let claimConfidence = claim["confidence"]?.doubleValue ?? confidence
        let probe = Claim(text: claim["text"]?.stringValue ?? "", left: left, comparison: comparison, right: right, scope: .all,
                          tasks: (claim["tasks"]?.arrayValue ?? []).compactMap(\.stringValue), metric: metric, corruption: corruption,
                          mark: Mark(path: "", line: 0, column: 0), confidence: claimConfidence)
        // Per-item correctness is accuracy's: other metrics get no interval.
        let checks = probe.check(tasks: tasks, models: (claim["models"]?.arrayValue ?? []).compactMap(\.stringValue),
                                 value: { statistics.value($0, $1, $2, metric: metric, corruption: corruption) },
                                 items: { metric == "accuracy" ? statistics.items($0, $1, $2, corruption: corruption) : nil })
        let verdict = ClaimVerdict.combined(checks.map(\.verdict))
        verdicts.append(verdict)
        // The claim's own numbers are those of its first task with the claim's verdict.
        let deciding = (checks.first { $0.verdict == verdict } ?? checks.first)?.json
        var object: [String: JSONValue] = [
            "text": claim["text"] ?? .null, "where": claim["where"] ?? .null, "verdict": .string(verdict.rawValue),
            "passed": .bool(verdict != .fails), "confidence": .double(claimConfidence), "checks": .array(checks.map(\.json)),
        ]
        for key in ["task", "method", "difference", "interval", "p", "n"] { object[key] = deciding?[key] ?? .null }
        claims.append(.object(object))
    }
    guard case .object(var out) = parameters else { throw PipelineError.stage(context.stageID, "parameters must be an object") }
    out["evaluations"] = nil
    out["results"] = .array(results)
    out["trainings"] = .array(curves)
    out["confidence"] = .double(confidence)
    out["comparisons"] = .array(comparisons)
    out["means"] = .array(means)
    out["claims"] = .array(claims)
    out["verdict"] = .string(ClaimVerdict.combined(verdicts).rawValue)
    out["passed"] = .bool(!verdicts.contains(.fails))
    return StageOutput(result: .object(out))
}

/// `report` {title, metric, digits, images, trainings}: inputs are the `aggregate` stage
/// then the `train-prompt` stages of `trainings`. Renders the tables (Markdown, CSV, HTML) with
/// their intervals, the paired differences, the claims' verdicts, the trainings' warnings, the loss
/// and validation curves (SVG), the prompt pictures (PNG, base64) and the self-contained `report.html`.
/// Result: {files: {name: text}, png: {name: base64}, markdown}.
func reportStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
    let aggregate = try context.input(at: 0).result()
    let metric = parameters["metric"]?.stringValue ?? "accuracy"
    let digits = parameters["digits"]?.intValue ?? 1
    let title = parameters["title"]?.stringValue ?? aggregate["pipeline"]?.stringValue ?? "tvp"
    let corruptions = [nil] + (aggregate["corruptions"]?.arrayValue ?? []).compactMap(\.stringValue)
    let tables = corruptions.map { ResultsTable(aggregate: aggregate, metric: metric, digits: digits, corruption: $0) }
    let paired = corruptions.map { PairedTable(aggregate: aggregate, digits: digits, corruption: $0) }.filter { !$0.rows.isEmpty }
    var files: [String: JSONValue] = [:]
    let cost = CostTable(aggregate: aggregate)
    var markdown = (tables.map(\.markdown) + paired.map(\.markdown)).joined(separator: "\n")
    if !cost.rows.isEmpty { markdown += "\n" + cost.markdown }
    let claims = aggregate["claims"]?.arrayValue ?? []
    if !claims.isEmpty { markdown += "\n**claims**\n\n" + claims.map { "- " + ClaimText.line($0) + "\n" }.joined() }
    let warnings = trainingWarnings(aggregate)
    if !warnings.isEmpty { markdown += "\n**training warnings**\n\n" + warnings.map { "- \($0.training): \($0.warning)\n" }.joined() }
    files["results.md"] = .string(markdown)
    if !cost.rows.isEmpty { files["cost.csv"] = .string(cost.csv) }
    files["results.csv"] = .string(tables[0].csv)
    for table in tables.dropFirst() { files["results-\(table.corruption!).csv"] = .string(table.csv) }
    if !(aggregate["comparisons"]?.arrayValue ?? []).isEmpty { files["differences.csv"] = .string(PairedTable.csv(aggregate: aggregate)) }

    let plots = TrainingPlots.svgs(aggregate)
    for plot in plots { files[plot.name] = .string(plot.svg) }

    var pictures: [(name: String, base64: String)] = []
    if parameters["images"] != .bool(false) {
        let folder = NSTemporaryDirectory() + "tvp-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (offset, training) in (parameters["trainings"]?.arrayValue ?? []).enumerated() {
            let payload = try context.input(at: 1 + offset)
            let prompt = try trainedPrompt(payload, stage: context.stageID)
            let name = "prompt-\(fileSafe(training["task"]?.stringValue ?? ""))-\(training["variant"]?.stringValue ?? "").png"
            // The prompt alone and applied to the first training image, as the paper's figures show it.
            try PromptImage.writePNG(prompt, sample: try? payload.tensor("sample"), to: folder + "/" + name)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            pictures.append((name, bytes.base64EncodedString()))
        }
    }
    files["report.html"] = .string(HTMLReport.render(title: title, aggregate: aggregate, tables: tables, paired: paired, plots: plots,
                                                     pictures: pictures))
    var png: [String: JSONValue] = [:]
    for picture in pictures { png[picture.name] = .string(picture.base64) }
    return StageOutput(result: ["files": .object(files), "png": .object(png), "markdown": files["results.md"]!])
}

/// Each training's `warnings`, as (`TASK VARIANT`, warning), in training order.
func trainingWarnings(_ aggregate: JSONValue) -> [(training: String, warning: String)] {
    (aggregate["trainings"]?.arrayValue ?? []).flatMap { training in
        (training["warnings"]?.arrayValue ?? []).compactMap(\.stringValue).map { (trainingName(training), $0) }
    }
}

/// An aggregate training's name in reports: `TASK VARIANT` (`count TVP`).
func trainingName(_ training: JSONValue) -> String {
    "\(training["task"]?.stringValue ?? "") \((training["variant"]?.stringValue ?? "").uppercased())"
}

/// A name safe in a file name: letters, digits, `-`, `_`, `.`, `=`, `,`, `+`; anything else becomes `_`.
func fileSafe(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || "-_.=,+".contains($0) ? $0 : "_" })
}
