import Foundation
import TVPEngine
import TVPFormats

/// `tvp-run runs`: past runs and sweeps, newest first, as console tables (one per pipeline, as
/// their columns differ) or JSON: when, the run folder, status, tvp version, overrides, n, the
/// headline numbers (`KeyMetrics`: surrogate / targets' mean per task and protocol) and the claims'
/// verdicts. A sweep is a row, then a row per point.
public struct RunListing {
    /// `KEY=VALUE`: a dotted key of the resolved config (`train.lr=0.5`), or `status`, `version`,
    /// `scale`, `pipeline`; a run matches when every filter does (a sweep keeps its matching points).
    public struct Filter {
        static let runFields = ["status", "version", "scale", "pipeline"]
        var key: String
        var value: String
        var canonical: String

        public init(parsing text: String) throws {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw UsageError("--where takes KEY=VALUE (train.lr=0.5, status=failed), not '\(text)'")
            }
            key = String(text[..<equals])
            value = String(text[text.index(after: equals)...])
            canonical = try FlatConfig.canonical(value, source: "--where \(key)")
        }

        func matches(run: RunRecord) -> Bool? {
            switch key {
            case "status": return run.status.rawValue == value
            case "version": return run.version == value
            case "scale": return (run.scale ?? "") == value
            case "pipeline": return run.pipeline == value
            default: return nil
            }
        }

        func matches(_ config: FlatConfig) -> Bool {
            guard let own = config[key] else { return false }
            if own == canonical { return true }
            if let a = Double(own), let b = Double(canonical) { return a == b }
            return false
        }
    }

    /// A run with the points that passed the filters.
    public var runs: [(run: RunRecord, points: [RunRecord.Point])]

    public init(runs all: [RunRecord], filters: [Filter]) throws {
        let configs = all.map { $0.points.map { FlatConfig($0.config) } }
        for filter in filters where !Filter.runFields.contains(filter.key) {
            let known = Set(configs.joined().flatMap(\.keys))
            guard known.contains(filter.key) || known.isEmpty else {
                let hint = suggest(filter.key, from: Array(known)).map { "; did you mean '\($0)'?" } ?? ""
                throw UsageError("no listed run has '\(filter.key)' in its resolved config\(hint) " +
                                 "(keys are dotted as in --set: train.lr, loss.fca; or status, version, scale, pipeline)")
            }
        }
        runs = zip(all, configs).compactMap { run, configs in
            guard filters.allSatisfy({ $0.matches(run: run) ?? true }) else { return nil }
            let pointFilters = filters.filter { !Filter.runFields.contains($0.key) }
            if pointFilters.isEmpty { return (run, run.points) }
            let kept = zip(run.points, configs).filter { _, config in pointFilters.allSatisfy { $0.matches(config) } }.map(\.0)
            return kept.isEmpty ? nil : (run, kept)
        }
    }

    static func when(_ date: Date?) -> String {
        guard let date else { return "?" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: date)
    }

    /// `--set train.lr=0.5 -m loss.fca=0,0.005` → `train.lr=0.5 -m loss.fca=0,0.005`; `–` for none.
    static func overridesText(_ overrides: [String]) -> String {
        overrides.isEmpty ? "–" : overrides.map { $0.hasPrefix("--set ") ? String($0.dropFirst(6)) : $0 }.joined(separator: " ")
    }

    static func claimsText(_ aggregate: JSONValue?) -> String {
        guard let aggregate else { return "–" }
        guard let claims = KeyMetrics.claims(aggregate) else { return "none" }
        let total = claims.holds + claims.fails + claims.inconclusive
        switch claims.verdict {
        case "holds": return "hold (\(total))"
        case "fails": return "FAIL (\(claims.fails) of \(total))"
        default: return "inconclusive (\(claims.inconclusive) of \(total))"
        }
    }

    static func metricText(_ value: Double?) -> String { value.map { String(format: "%.1f", $0 * 100) } ?? "–" }

    /// One table per pipeline, pipelines in the order of their newest run.
    public var text: String {
        guard !runs.isEmpty else { return "no runs\n" }
        var order: [String] = []
        for entry in runs where !order.contains(entry.run.pipeline) { order.append(entry.run.pipeline) }
        return order.map { pipeline in
            let group = runs.filter { $0.run.pipeline == pipeline }
            let metrics = group.flatMap { entry in
                entry.points.compactMap { point in
                    point.aggregate.map { KeyMetrics(aggregate: $0, metric: point.config?["report"]?["metric"]?.stringValue ?? "accuracy") }
                }
            }
            // Columns: every (task, protocol) any of the runs has, in first-seen order.
            var columns: [String] = []
            for cell in metrics.flatMap(\.cells) where !columns.contains("\(cell.task) \(cell.evaluation.title)") {
                columns.append("\(cell.task) \(cell.evaluation.title)")
            }
            let metricName = metrics.first?.metric ?? "accuracy"
            let header = ["when (UTC)", "run", "status", "tvp", "overrides", "n"] + columns + ["claims"]
            var rows: [[String]] = []
            func pointCells(_ point: RunRecord.Point) -> [String] {
                guard let aggregate = point.aggregate else { return ["–"] + columns.map { _ in "–" } + ["–"] }
                let key = KeyMetrics(aggregate: aggregate, metric: point.config?["report"]?["metric"]?.stringValue ?? "accuracy")
                let ns = Set(key.cells.compactMap(\.n)).sorted().map(String.init)
                return [ns.isEmpty ? "–" : ns.joined(separator: "/")] + columns.map { column in
                    guard let cell = key.cells.first(where: { "\($0.task) \($0.evaluation.title)" == column }) else { return "–" }
                    return key.targets.isEmpty ? Self.metricText(cell.surrogate)
                        : "\(Self.metricText(cell.surrogate)) / \(Self.metricText(cell.targets))"
                } + [Self.claimsText(aggregate)]
            }
            for (run, points) in group {
                let lead = [Self.when(run.started), run.name, run.status.rawValue, run.version ?? "?", Self.overridesText(run.overrides)]
                if run.isSweep || points.isEmpty {
                    var lead = lead
                    if run.isSweep {
                        lead[1] += " (sweep of \(run.pointCount) points" + (points.count < run.pointCount ? ", \(points.count) match)" : ")")
                    }
                    rows.append(lead + [""] + columns.map { _ in "" } + [""])
                    for point in points { rows.append(["", "  " + point.label + Self.searchText(point.search), "", "", ""] + pointCells(point)) }
                } else {
                    rows.append(lead + pointCells(points[0]))
                }
            }
            let line = "\(pipeline): \(group.count) run\(group.count == 1 ? "" : "s"), newest first; cells: surrogate / targets' mean "
                + "\(metricName) (%) on clean test items; n: items per cell"
            return alignedText(lines: [line], header: header, rows: rows, leftAligned: 5)
        }.joined(separator: "\n")
    }

    /// ` · stopped at 8 steps (val 42.2%)` for a point a halving search stopped; empty otherwise.
    static func searchText(_ search: JSONValue?) -> String {
        guard let search, search["finished"] != .bool(true), let steps = search["steps"]?.intValue else { return "" }
        return " · stopped at \(steps) steps" + (search["validation_accuracy"]?.doubleValue.map { " (val \(metricText($0))%)" } ?? "")
    }

    static func cellJSON(_ cell: KeyMetrics.Cell) -> JSONValue {
        func number(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
        var models: [String: JSONValue] = [:]
        for model in cell.models where models[model.name] == nil { models[model.name] = number(model.value) }
        let object: [String: JSONValue] = [
            "task": .string(cell.task), "protocol": .string(cell.evaluation.rawValue),
            "surrogate": number(cell.surrogate), "targets": number(cell.targets),
            "targets_low": number(cell.targetsInterval?.low), "targets_high": number(cell.targetsInterval?.high),
            "n": cell.n.map { .integer($0) } ?? .null, "models": .object(models),
        ]
        return .object(object)
    }

    public var json: JSONValue {
        .array(runs.map { run, points in
            var entry: [String: JSONValue] = [
                "folder": .string(run.folder), "pipeline": .string(run.pipeline), "run": .string(run.name),
                "started": run.started.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
                "status": .string(run.status.rawValue), "version": run.version.map { .string($0) } ?? .null,
                "overrides": .array(run.overrides.map { .string($0) }), "scale": run.scale.map { .string($0) } ?? .null,
                "sweep": .bool(run.isSweep),
            ]
            entry["points"] = .array(points.map { point in
                var object: [String: JSONValue] = ["label": .string(point.label), "folder": .string(point.folder),
                                                   "assignments": .object(point.assignments)]
                if let search = point.search { object["search"] = search }
                if let aggregate = point.aggregate {
                    let key = KeyMetrics(aggregate: aggregate, metric: point.config?["report"]?["metric"]?.stringValue ?? "accuracy")
                    object["metric"] = .string(key.metric)
                    object["metrics"] = .array(key.cells.map(Self.cellJSON))
                    if let claims = KeyMetrics.claims(aggregate) {
                        object["claims"] = ["verdict": .string(claims.verdict), "holds": .integer(claims.holds),
                                            "fails": .integer(claims.fails), "inconclusive": .integer(claims.inconclusive)]
                    }
                }
                return .object(object)
            })
            return .object(entry)
        })
    }
}
