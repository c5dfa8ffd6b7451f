import Foundation
import TVPEngine
import TVPPrompting
import TVPTensor

/// Writes `runs/<pipeline>/<timestamp>/`: built in a hidden temporary folder and renamed into place
/// at the end, so a run folder is either complete or absent.
///
/// ```
/// config.yaml, config.json   the resolved configuration (canonical; per point for sweeps)
/// meta.json                  git commit, version, host, threads, overrides, time per stage, cache hits
/// results.json               the aggregate result(s), claims included
/// results.md, results.csv    the paper-style table (and one per corruption)
/// loss-TASK.svg              training loss curves (VP and TVP overlaid); loss-terms-TASK-VARIANT-TERM.svg
/// prompt-TASK-VARIANT.png    the trained prompts, drawn
/// prompt-TASK-VARIANT.safetensors  the trained prompts (PromptFile: `tvp-run prompt show|export`)
/// report.html                all of it in one self-contained page
/// summary.md, .csv, .html   sweeps only: one row per point (swept values, surrogate, targets' mean,
///                            per model in the CSV; a halving search's rung and validation accuracy),
///                            plots against each numeric swept key; each point in points/LABEL/
/// seeds.md, seeds.csv        sweeps over train.seed (`seeds: N`): mean ± sd over the seeds
/// ```
enum RunFolder {
    struct Point {
        var point: PipelinePoint
        var aggregate: JSONValue?
        var report: JSONValue?
        var prompts: [Prompt] = []
        /// Where a halving search left the point.
        var standing: HalvingSearch.Standing? = nil
    }

    /// A trained prompt, written as a prompt file (`PromptFile`) that `tvp-run prompt show|export` reads.
    struct Prompt {
        var name: String
        var prompt: any VisualPrompt
        var metadata: [String: String]
    }

    /// `searchFailures`: the stages a halving search's earlier rounds could not run ({stage, error}),
    /// which the final graph does not hold; meta.json lists them and counts them as failed.
    static func write(loaded: LoadedPipeline, points: [Point], graph: StageGraph, execution: ExecutionReport, options: RunOptions,
                      started: Date, finished: Date, now: Date, searchFailures: [JSONValue] = []) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let parent = (options.runsDirectory as NSString).appendingPathComponent(fileSafe(loaded.name))
        let manager = FileManager.default
        do { try manager.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw PipelineError.cache(path: parent, message: "cannot create the runs folder: \(error.localizedDescription)")
        }
        var name = formatter.string(from: now)
        var suffix = 2
        while manager.fileExists(atPath: parent + "/" + name) { name = formatter.string(from: now) + "-\(suffix)"; suffix += 1 }
        let final = parent + "/" + name
        let temporary = parent + "/.\(name).partial-\(getpid())"
        try manager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        do {
            let sweep = loaded.isSweep
            var meta = self.meta(loaded: loaded, graph: graph, execution: execution, options: options, started: started, finished: finished)
            if !searchFailures.isEmpty, case .object(var object) = meta {
                object["search_failures"] = .array(searchFailures)
                object["failed"] = .integer((object["failed"]?.intValue ?? 0) + searchFailures.count)
                meta = .object(object)
            }
            for point in points {
                let folder = sweep ? temporary + "/points/" + fileSafe(point.point.label) : temporary
                try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try writePoint(point, to: folder, meta: meta)
            }
            if sweep {
                try write(canonicalYAML(.array(points.map { pointJSON($0.point) })), temporary + "/sweep.yaml")
                let summary = SweepSummary(points: points.map { ($0.point, $0.aggregate) }, standings: points.map(\.standing))
                try write(summary.markdown, temporary + "/summary.md")
                try write(summary.csv, temporary + "/summary.csv")
                try write(summary.html(title: loaded.name), temporary + "/summary.html")
                if let seeds = SeedSummary(points: points.map { ($0.point, $0.aggregate) }, digits: loaded.points[0].spec.report.digits) {
                    try write(seeds.markdown, temporary + "/seeds.md")
                    try write(seeds.csv, temporary + "/seeds.csv")
                }
                try write(JSONValue.object(["points": .array(points.map { point in
                    var entry = pointJSON(point.point)
                    if case .object(var object) = entry {
                        object["aggregate"] = point.aggregate ?? .null
                        if let standing = point.standing { object["search"] = standing.json }
                        entry = .object(object)
                    }
                    return entry
                })]).canonicalText + "\n", temporary + "/results.json")
            }
            try write(meta.canonicalText + "\n", temporary + "/meta.json")
            guard rename(temporary, final) == 0 else {
                throw PipelineError.cache(path: final, message: "cannot rename the run folder into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? manager.removeItem(atPath: temporary)
            throw error
        }
        return final
    }

    static func pointJSON(_ point: PipelinePoint) -> JSONValue {
        ["label": .string(point.label), "pipeline": .string(point.pipelineName),
         "assignments": .object(Dictionary(point.assignments.map { ($0.key.joined(separator: "."), (try? JSONValue(yaml: $0.value)) ?? .null) },
                                           uniquingKeysWith: { a, _ in a }))]
    }

    /// Writes a point's files; its report.html gets the run's provenance (`HTMLReport.provenance`),
    /// which the cached report stage cannot know.
    static func writePoint(_ point: Point, to folder: String, meta: JSONValue) throws {
        try write(canonicalYAML(point.point.spec.resolved), folder + "/config.yaml")
        try write(point.point.spec.resolved.canonicalText + "\n", folder + "/config.json")
        if let aggregate = point.aggregate { try write(aggregate.canonicalText + "\n", folder + "/results.json") }
        for prompt in point.prompts {
            let path = folder + "/" + fileSafe(prompt.name)
            do { try PromptFile.save(prompt.prompt, to: path, metadata: prompt.metadata) } catch {
                throw PipelineError.cache(path: path, message: "cannot write the trained prompt: \(error)")
            }
        }
        guard let report = point.report else { return }
        if case .object(let files)? = report["files"] {
            for (name, text) in files {
                var content = text.stringValue ?? ""
                if name == "report.html" {
                    content = HTMLReport.insertProvenance(content, HTMLReport.provenance(meta: meta, point: point.point, aggregate: point.aggregate))
                }
                try write(content, folder + "/" + fileSafe(name))
            }
        }
        if case .object(let images)? = report["png"] {
            for (name, base64) in images {
                guard let data = Data(base64Encoded: base64.stringValue ?? "") else { continue }
                try data.write(to: URL(fileURLWithPath: folder + "/" + fileSafe(name)))
            }
        }
    }

    static func write(_ text: String, _ path: String) throws {
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } catch {
            throw PipelineError.cache(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    static func meta(loaded: LoadedPipeline, graph: StageGraph, execution: ExecutionReport, options: RunOptions,
                     started: Date, finished: Date) -> JSONValue {
        var stages: [JSONValue] = []
        var counts: [String: Int] = [:]
        for node in graph.nodes {
            let outcome = execution.outcomes[node.index]
            var entry: [String: JSONValue] = ["name": .string(node.name), "kind": .string(node.stage.kind), "key": .string(node.key.hex)]
            switch outcome {
            case .cached: entry["outcome"] = "cached"; counts["cached", default: 0] += 1
            case .computed(let seconds): entry["outcome"] = "computed"; entry["seconds"] = .double(seconds); counts["computed", default: 0] += 1
            case .computedElsewhere: entry["outcome"] = "computed-elsewhere"; counts["computed", default: 0] += 1
            case .failed(let message): entry["outcome"] = "failed"; entry["error"] = .string(message); counts["failed", default: 0] += 1
            case .skipped(let reason): entry["outcome"] = "skipped"; entry["reason"] = .string(reason); counts["skipped", default: 0] += 1
            }
            stages.append(.object(entry))
        }
        return [
            "pipeline": .string(loaded.name), "file": .string(loaded.path), "sources": .array(loaded.sources.map { .string($0) }),
            "points": .array(loaded.points.map { .string($0.pipelineName) }),
            "scale": loaded.scale.map { .string($0) } ?? .null, "scales": .array(loaded.scales.map { .string($0) }),
            "overrides": .array(loaded.overrides.map { .string($0) }),
            "git_commit": gitCommit().map { .string($0) } ?? .null, "version": .string(tvpVersion),
            "host": .string(ProcessInfo.processInfo.hostName), "threads": .integer(options.threads),
            "blas_threads": .integer(Parallel.threads), "cpu_cores": .integer(ProcessInfo.processInfo.activeProcessorCount),
            "blas_kernel": .string(BLASKernel.coreName), "command": .array(options.commandLine.map { .string($0) }),
            "started": .string(ISO8601DateFormatter().string(from: started)), "finished": .string(ISO8601DateFormatter().string(from: finished)),
            "seconds": .double(finished.timeIntervalSince(started)), "stages": .array(stages),
            "cache_hits": .integer(counts["cached"] ?? 0), "computed": .integer(counts["computed"] ?? 0),
            "failed": .integer(counts["failed"] ?? 0), "skipped": .integer(counts["skipped"] ?? 0),
        ]
    }

    /// `git rev-parse HEAD` in the current folder, or nil (no git, not a repository).
    static func gitCommit() -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "rev-parse", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
