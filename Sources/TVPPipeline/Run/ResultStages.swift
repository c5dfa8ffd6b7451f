import Foundation
import TVPData
import TVPFormats
import TVPPrompting
import TVPTensor

extension StageRegistry {
    func resultStageKinds() -> [StageKind] {
        [
            StageKind(name: StageKinds.aggregate, codeVersion: "3", resources: .light) { context, parameters in
                try aggregateStage(context, parameters)
            },
            StageKind(name: StageKinds.report, codeVersion: "2", resources: .light) { context, parameters in
                try reportStage(context, parameters)
            },
        ]
    }
}

/// `aggregate` {pipeline, tasks, models, protocols, metrics, corruptions, evaluations, trainings, claims}:
/// inputs are the `evaluate` stages (described in order by `evaluations`: {task, model, protocol,
/// corruption}) then the `train-prompt` stages (`trainings`: {task, variant}). Collects every result
/// and loss curve, and checks the claims. Result: the parameters' layout plus `results`,
/// `trainings` (with curves), `claims` (each with per-task checks) and `passed`.
func aggregateStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
    let evaluations = parameters["evaluations"]?.arrayValue ?? []
    let trainings = parameters["trainings"]?.arrayValue ?? []
    guard context.inputCount == evaluations.count + trainings.count else {
        throw PipelineError.stage(context.stageID, "\(context.inputCount) inputs for \(evaluations.count) evaluations and \(trainings.count) trainings")
    }
    var results: [JSONValue] = []
    for (index, entry) in evaluations.enumerated() {
        let result = try context.input(at: index).result()
        guard case .object(var object) = entry else { throw PipelineError.stage(context.stageID, "bad evaluation entry \(entry)") }
        object["metrics"] = result["metrics"] ?? .object([:])
        object["count"] = result["count"] ?? .null
        results.append(.object(object))
    }
    var curves: [JSONValue] = []
    for (offset, entry) in trainings.enumerated() {
        let result = try context.input(at: evaluations.count + offset).result()
        guard case .object(var object) = entry else { throw PipelineError.stage(context.stageID, "bad training entry \(entry)") }
        object["curve"] = result["curve"] ?? .array([])
        object["final_loss"] = result["final_loss"] ?? .null
        for key in ["learnable", "seconds", "peak_rss_mib", "adapter_values"] { object[key] = result[key] ?? .null }
        curves.append(.object(object))
    }
    func value(_ task: String, _ model: String, _ evaluation: ProtocolSpec, metric: String, corruption: String?) -> Double? {
        results.first {
            $0["task"]?.stringValue == task && $0["model"]?.stringValue == model && $0["protocol"]?.stringValue == evaluation.rawValue
                && $0["corruption"]?.stringValue == corruption
        }?["metrics"]?[metric]?.doubleValue
    }
    let tasks = (parameters["tasks"]?.arrayValue ?? []).compactMap(\.stringValue)
    var claims: [JSONValue] = []
    var allPassed = true
    for claim in parameters["claims"]?.arrayValue ?? [] {
        let left = try ClaimOperand(json: claim["left"] ?? .null), right = try ClaimOperand(json: claim["right"] ?? .null)
        guard let comparison = claim["comparison"]?.stringValue.flatMap(ClaimComparison.init(rawValue:)),
              let metric = claim["metric"]?.stringValue else { throw PipelineError.stage(context.stageID, "bad claim \(claim)") }
        let corruption = claim["corruption"]?.stringValue
        let probe = Claim(text: claim["text"]?.stringValue ?? "", left: left, comparison: comparison, right: right, scope: .all,
                          tasks: (claim["tasks"]?.arrayValue ?? []).compactMap(\.stringValue), metric: metric, corruption: corruption,
                          mark: Mark(path: "", line: 0, column: 0))
        let checks = probe.check(tasks: tasks, models: (claim["models"]?.arrayValue ?? []).compactMap(\.stringValue)) {
            value($0, $1, $2, metric: metric, corruption: corruption)
        }
        let passed = checks.allSatisfy(\.passed)
        allPassed = allPassed && passed
        claims.append(["text": claim["text"] ?? .null, "where": claim["where"] ?? .null, "passed": .bool(passed),
                       "checks": .array(checks.map { check in
                           ["task": .string(check.task), "left": check.left.map { .double($0) } ?? .null,
                            "right": check.right.map { .double($0) } ?? .null, "passed": .bool(check.passed)]
                       })])
    }
    guard case .object(var out) = parameters else { throw PipelineError.stage(context.stageID, "parameters must be an object") }
    out["evaluations"] = nil
    out["results"] = .array(results)
    out["trainings"] = .array(curves)
    out["claims"] = .array(claims)
    out["passed"] = .bool(allPassed)
    return StageOutput(result: .object(out))
}

/// `report` {title, metric, digits, images, trainings}: inputs are the `aggregate` stage
/// then the `train-prompt` stages of `trainings`. Renders the tables (Markdown, CSV, HTML), the
/// loss curves (SVG), the prompt pictures (PNG, base64) and the self-contained `report.html`.
/// Result: {files: {name: text}, png: {name: base64}, markdown}.
func reportStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
    let aggregate = try context.input(at: 0).result()
    let metric = parameters["metric"]?.stringValue ?? "accuracy"
    let digits = parameters["digits"]?.intValue ?? 1
    let title = parameters["title"]?.stringValue ?? aggregate["pipeline"]?.stringValue ?? "tvp"
    var tables = [ResultsTable(aggregate: aggregate, metric: metric, digits: digits, corruption: nil)]
    for corruption in (aggregate["corruptions"]?.arrayValue ?? []).compactMap(\.stringValue) {
        tables.append(ResultsTable(aggregate: aggregate, metric: metric, digits: digits, corruption: corruption))
    }
    var files: [String: JSONValue] = [:]
    let cost = CostTable(aggregate: aggregate)
    files["results.md"] = .string(tables.map(\.markdown).joined(separator: "\n") + (cost.rows.isEmpty ? "" : "\n" + cost.markdown))
    if !cost.rows.isEmpty { files["cost.csv"] = .string(cost.csv) }
    files["results.csv"] = .string(tables[0].csv)
    for table in tables.dropFirst() { files["results-\(table.corruption!).csv"] = .string(table.csv) }

    var plots: [(name: String, svg: String)] = []
    for training in (aggregate["trainings"]?.arrayValue ?? []) {
        let task = training["task"]?.stringValue ?? "", variant = training["variant"]?.stringValue ?? ""
        let records = (training["curve"]?.arrayValue ?? []).compactMap(LossRecord.init(json:))
        guard !records.isEmpty else { continue }
        var series = [LossPlot.Series(name: "total", points: records.map { (Double($0.step), $0.total) })]
        if records.contains(where: { $0.fca != nil || $0.tse != nil }) {
            series.append(LossPlot.Series(name: "task", points: records.map { (Double($0.step), $0.task) }))
        }
        let name = "loss-\(fileSafe(task))-\(variant).svg"
        let svg = LossPlot.svg(title: "\(task) · \(variant.uppercased()) training loss", series: series, xLabel: "step", yLabel: "loss")
        files[name] = .string(svg)
        plots.append((name, svg))
    }

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
    files["report.html"] = .string(HTMLReport.render(title: title, aggregate: aggregate, tables: tables, plots: plots, pictures: pictures))
    var png: [String: JSONValue] = [:]
    for picture in pictures { png[picture.name] = .string(picture.base64) }
    return StageOutput(result: ["files": .object(files), "png": .object(png), "markdown": files["results.md"]!])
}

/// A name safe in a file name: letters, digits, `-`, `_`, `.`, `=`, `,`, `+`; anything else becomes `_`.
func fileSafe(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || "-_.=,+".contains($0) ? $0 : "_" })
}
