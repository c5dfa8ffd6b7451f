import Foundation
import TVPEngine

/// One `tvp-run FILE --executor slurm`: what is missing from the cache, cut into jobs, written to a
/// Slurm run folder and (unless a dry run) submitted.
///
/// ```
/// <runs>/<pipeline>/slurm-<timestamp>/
///     shared.sbatch      the shared upstream stages (when any is missing)
///     units.sbatch       an array job, task i = unit i (when any unit is missing)
///     aggregate.sbatch   the plain local run: every stage cached but aggregate/report; writes the tables
///     submit.sh          sbatch of each, chained with --dependency=afterok; writes `jobs`
///     units.tsv          unit id, label, state at submission, its stages
///     run.json           the split and every stage's key (what `tvp-run status` reads)
///     jobs               "shared 123", "units 124", "aggregate 125"
///     logs/              shared.log, unit-N.log, aggregate.log
///     markers/           NAME.started / .done / .failed, written by the job scripts
/// ```
public struct SlurmSubmission {
    public let folder: String
    public let split: WorkSplit
    public let scripts: SlurmScripts
    /// The units submitted (not yet cached), and whether shared stages were missing.
    public let unitsToRun: [Int]
    public let sharedToRun: Bool

    /// Plans against the cache and writes the folder; nil when every stage is cached already.
    /// `command` is the `tvp-run` executable with the arguments that name the pipeline, its
    /// overrides, the manifest and the cache (absolute paths).
    /// `workerArguments` and `aggregates`: as `SlurmScripts` takes them (a halving search's rounds).
    public static func prepare(session: PipelineSession, command: [String], runsDirectory: String, workingDirectory: String,
                               options: SlurmOptions, threadsGiven: Bool, workerArguments: [String] = [], aggregates: Bool = true,
                               now: Date = Date()) throws -> SlurmSubmission? {
        let split = WorkSplit(session: session)
        let graph = session.graph, cache = session.cache
        let missing = { (nodes: [Int]) in nodes.contains { !cache.contains(graph.nodes[$0].key) } }
        let sharedToRun = missing(split.shared)
        let unitsToRun = split.units.filter { missing($0.nodes) }.map(\.id)
        guard sharedToRun || !unitsToRun.isEmpty || missing(split.final) else { return nil }

        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let parent = absolutePath(runsDirectory, from: workingDirectory) + "/" + fileSafe(session.loaded.name)
        var folder = parent + "/slurm-" + formatter.string(from: now)
        var suffix = 2
        while FileManager.default.fileExists(atPath: folder) { folder = parent + "/slurm-\(formatter.string(from: now))-\(suffix)"; suffix += 1 }
        for sub in ["logs", "markers"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + sub, withIntermediateDirectories: true)
        }
        let scripts = SlurmScripts(pipeline: session.loaded.name, folder: folder, workingDirectory: workingDirectory, command: command,
                                   runsDirectory: absolutePath(runsDirectory, from: workingDirectory), shared: sharedToRun,
                                   units: unitsToRun, options: options, threadsGiven: threadsGiven, workerArguments: workerArguments,
                                   aggregates: aggregates)
        for job in scripts.jobs { try writeScript(job.text, folder + "/" + job.file) }
        try writeScript(scripts.submitScript, folder + "/submit.sh")

        func piece(_ nodes: [Int]) -> JSONValue {
            ["stages": .array(nodes.map { .string(graph.nodes[$0].name) }), "keys": .array(nodes.map { .string(graph.nodes[$0].key.hex) })]
        }
        var units: [JSONValue] = []
        var table = "unit\tlabel\tat submission\tstages\n"
        for unit in split.units {
            var entry = piece(unit.nodes)
            if case .object(var object) = entry {
                object["id"] = .integer(unit.id)
                object["label"] = .string(unit.label)
                entry = .object(object)
            }
            units.append(entry)
            let state = unitsToRun.contains(unit.id) ? "submitted" : "cached"
            table += "\(unit.id)\t\(unit.label)\t\(state)\t\(unit.nodes.map { graph.nodes[$0].name }.joined(separator: " "))\n"
        }
        let record: JSONValue = [
            "pipeline": .string(session.loaded.name), "cache": .string(cache.root), "unit_kind": .string(split.unitKind),
            "command": .array(command.map { .string($0) }), "shared": piece(split.shared), "units": .array(units),
            "final": piece(split.final), "submitted_units": .array(unitsToRun.map { .integer($0) }), "shared_submitted": .bool(sharedToRun),
        ]
        try RunFolder.write(record.canonicalText + "\n", folder + "/run.json")
        try RunFolder.write(table, folder + "/units.tsv")
        return SlurmSubmission(folder: folder, split: split, scripts: scripts, unitsToRun: unitsToRun, sharedToRun: sharedToRun)
    }

    /// Submits the jobs in order, each depending on the one before; records the ids in `jobs`.
    public func submit() throws -> [(job: String, id: String)] {
        var submitted: [(job: String, id: String)] = []
        var previous: String?
        for job in scripts.jobs {
            let id = try SlurmCommand.submit(folder + "/" + job.file, after: previous)
            submitted.append((job.name, id))
            previous = id
            try RunFolder.write(submitted.map { "\($0.job) \($0.id)\n" }.joined(), folder + "/jobs")
        }
        return submitted
    }

    static func writeScript(_ text: String, _ path: String) throws {
        try RunFolder.write(text, path)
        chmod(path, 0o755)
    }
}

/// `path` made absolute against `directory`, with `~` expanded.
public func absolutePath(_ path: String, from directory: String) -> String {
    let expanded = (path as NSString).expandingTildeInPath
    let joined = expanded.hasPrefix("/") ? expanded : (directory as NSString).appendingPathComponent(expanded)
    return (joined as NSString).standardizingPath
}
