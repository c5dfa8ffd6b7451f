import Foundation
import TVPEngine
import TVPFormats

/// `tvp-run status RUN`: the state of every piece of a Slurm run folder, from the cache (done), the
/// queue (pending / running) and the markers the job scripts write (failed, with the log) — no
/// accounting database (`sacct`) needed.
public struct SlurmRunStatus: Sendable {
    public struct Row: Sendable, Equatable {
        /// `shared`, `unit N (LABEL)` or `aggregate`.
        public var name: String
        /// `done`, `running`, `pending`, `failed`, `not started` or `unknown`.
        public var state: String
        public var detail: String
        /// The job's log, for failed pieces.
        public var log: String?
    }

    public var folder: String
    public var rows: [Row]
    /// Why queue states are unknown (squeue failed), or nil.
    public var queueProblem: String?

    /// Reads `folder` (written by `SlurmSubmission`); `queue` is squeue's answer, `queueProblem` why
    /// there is none.
    public static func read(folder: String, queue entries: [QueueEntry], queueProblem: String? = nil) throws -> SlurmRunStatus {
        let runPath = folder + "/run.json"
        guard FileManager.default.fileExists(atPath: runPath) else {
            throw UsageError("\(folder) is not a Slurm run folder (no run.json); give the folder `tvp-run FILE --executor slurm` printed")
        }
        let run = try JSONValue.parse(try readTextFile(runPath), source: runPath)
        let cacheRoot = run["cache"]?.stringValue ?? ""
        var jobs: [String: String] = [:]
        for line in ((try? readTextFile(folder + "/jobs")) ?? "").split(whereSeparator: \.isNewline) {
            let words = line.split(separator: " ")
            if words.count == 2 { jobs[String(words[0])] = String(words[1]) }
        }
        let problem = queueProblem

        func keys(_ piece: JSONValue?) -> [String] { piece?["keys"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        func entryFolder(_ hex: String) -> String { "\(cacheRoot)/stages/\(hex.prefix(2))/\(hex)" }
        func row(name: String, keys: [String], job: String, task: Int?, marker: String, log: String, submitted: Bool) -> Row {
            let logPath = folder + "/logs/" + log
            if keys.allSatisfy({ FileManager.default.fileExists(atPath: entryFolder($0) + "/" + StageCache.doneFile) }) {
                return Row(name: name, state: "done", detail: "", log: nil)
            }
            if let id = jobs[job], let entry = entries.first(where: { $0.jobID == id && $0.task == task }) {
                let state = entry.state.lowercased()
                let why = entry.reason.isEmpty || entry.reason == "None" ? "" : " (\(entry.reason))"
                return Row(name: name, state: state == "pending" ? "pending" : "running",
                           detail: "job \(id)\(task.map { "_\($0)" } ?? "") \(state)\(why)", log: nil)
            }
            let markers = folder + "/markers/" + marker
            if let failed = try? readTextFile(markers + ".failed") {
                return Row(name: name, state: "failed", detail: failed.trimmingCharacters(in: .whitespacesAndNewlines), log: logPath)
            }
            if let started = try? readTextFile(markers + ".started") {
                let ended = FileManager.default.fileExists(atPath: markers + ".done")
                return Row(name: name, state: "failed", detail: ended ? "finished, but its stages are not in the cache (removed since?)"
                    : "started (\(started.trimmingCharacters(in: .whitespacesAndNewlines))) and ended without finishing: killed?", log: logPath)
            }
            for hex in keys {
                if let lease = EntryLease.read(entryFolder(hex) + "/" + StageCache.leaseFile),
                   let host = (try? JSONValue.parse(lease, source: "lease"))?["host"]?.stringValue {
                    return Row(name: name, state: "running", detail: "a worker on \(host) holds a stage's lease", log: nil)
                }
            }
            if problem != nil { return Row(name: name, state: "unknown", detail: "not finished; the queue could not be read", log: nil) }
            return Row(name: name, state: "not started", detail: submitted
                ? "its job is gone from the queue without starting (cancelled, or a job before it failed)"
                : "not submitted in this run folder", log: nil)
        }

        var rows: [Row] = []
        let sharedSubmitted = run["shared_submitted"] == .bool(true)
        if !keys(run["shared"]).isEmpty {
            rows.append(row(name: "shared", keys: keys(run["shared"]), job: "shared", task: nil, marker: "shared", log: "shared.log",
                            submitted: sharedSubmitted))
        }
        let submittedUnits = Set(run["submitted_units"]?.arrayValue?.compactMap(\.intValue) ?? [])
        for unit in run["units"]?.arrayValue ?? [] {
            guard let id = unit["id"]?.intValue else { continue }
            let label = unit["label"]?.stringValue ?? ""
            rows.append(row(name: "unit \(id)" + (label.isEmpty ? "" : " (\(label))"), keys: keys(unit), job: "units", task: id,
                            marker: "unit-\(id)", log: "unit-\(id).log", submitted: submittedUnits.contains(id)))
        }
        rows.append(row(name: "aggregate", keys: keys(run["final"]), job: "aggregate", task: nil, marker: "aggregate", log: "aggregate.log",
                        submitted: true))
        return SlurmRunStatus(folder: folder, rows: rows, queueProblem: problem)
    }

    /// The table `tvp-run status` prints.
    public var text: String {
        var counts: [String: Int] = [:]
        for row in rows { counts[row.state, default: 0] += 1 }
        var out = formatTable(header: ["piece", "state", "detail"], rows: rows.map { [$0.name, $0.state, $0.detail] }) + "\n"
        for row in rows where row.log != nil { out += "log of \(row.name): \(row.log!)\n" }
        out += ["done", "running", "pending", "failed", "not started", "unknown"].compactMap { state in
            counts[state].map { "\($0) \(state)" }
        }.joined(separator: ", ") + "\n"
        if let queueProblem { out += "note: squeue failed, so queued jobs are not shown: \(queueProblem)\n" }
        if rows.contains(where: { $0.state == "failed" || $0.state == "not started" }) {
            out += "Submit the same command again to run only what is missing from the cache.\n"
        }
        return out
    }

    /// The job ids recorded in `folder/jobs`.
    public static func jobIDs(folder: String) throws -> [String] {
        guard let text = try? readTextFile(folder + "/jobs") else {
            throw UsageError("\(folder) has no jobs file: nothing was submitted from it (a --dry-run?), or give the folder `tvp-run FILE --executor slurm` printed")
        }
        return text.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: " ").last.map(String.init) }
    }
}
