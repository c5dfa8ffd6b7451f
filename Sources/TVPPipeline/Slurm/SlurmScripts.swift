/// The `#SBATCH` settings every job of a submission gets.
public struct SlurmOptions: Sendable, Equatable {
    public var partition: String?
    /// Slurm's time limit syntax (`30`, `2:00:00`, `1-00:00:00`).
    public var time: String?
    public var gpusPerTask: Int?
    public var cpusPerTask: Int?
    /// At most this many array tasks at once (`--array=…%K`).
    public var arrayLimit: Int?
    /// More `#SBATCH` lines, verbatim (`--account=x`, `--mem=8G`, `--qos=…`).
    public var extraArguments: [String] = []

    public init(partition: String? = nil, time: String? = nil, gpusPerTask: Int? = nil, cpusPerTask: Int? = nil,
                arrayLimit: Int? = nil, extraArguments: [String] = []) {
        self.partition = partition
        self.time = time
        self.gpusPerTask = gpusPerTask
        self.cpusPerTask = cpusPerTask
        self.arrayLimit = arrayLimit
        self.extraArguments = extraArguments
    }

    var directives: [String] {
        var lines: [String] = []
        if let partition { lines.append("--partition=\(partition)") }
        if let time { lines.append("--time=\(time)") }
        if let gpusPerTask { lines.append("--gpus-per-task=\(gpusPerTask)") }
        if let cpusPerTask { lines.append("--cpus-per-task=\(cpusPerTask)") }
        return lines + extraArguments
    }
}

/// The job scripts of one submission, as text: each a plain `sbatch` script a user can read and
/// submit by hand; `submit.sh` chains them with `--dependency=afterok`.
public struct SlurmScripts: Sendable, Equatable {
    /// One job: `shared`, `units` or `aggregate`.
    public struct Job: Sendable, Equatable {
        public var name: String
        public var file: String { name + ".sbatch" }
        public var text: String
    }

    public var jobs: [Job]
    public var submitScript: String

    /// - Parameters:
    ///   - pipeline: the pipeline's name (job names `tvp-NAME-…`).
    ///   - folder: the run folder (absolute): logs and markers go there.
    ///   - workingDirectory: where jobs start (absolute).
    ///   - command: the `tvp-run` executable and the arguments naming the pipeline and cache (absolute paths).
    ///   - runsDirectory: `--runs` of the aggregation job.
    ///   - shared: whether shared stages are missing; `units`: the unit numbers to run (array ids).
    ///   - workerArguments: more arguments of the shared and unit jobs (a halving search's `--round R`).
    ///   - aggregates: whether an aggregation job follows (not after a halving search's rung rounds).
    public init(pipeline: String, folder: String, workingDirectory: String, command: [String], runsDirectory: String,
                shared: Bool, units: [Int], options: SlurmOptions, threadsGiven: Bool, workerArguments: [String] = [], aggregates: Bool = true) {
        let base = "tvp-" + fileSafe(pipeline)
        let threads = threadsGiven ? [] : ["--threads", "${SLURM_CPUS_PER_TASK:-1}"]
        func script(_ job: String, comment: String, array: String?, log: String, marker: String, arguments: [String], dependent: Bool) -> String {
            var lines = ["#!/bin/bash", "# \(comment)", "# Written by tvp-run --executor slurm; submit by hand with `sbatch \(job).sbatch`" +
                         (dependent ? " (after the job before it, see submit.sh)" : "") + ".",
                         "#SBATCH --job-name=\(base)-\(job)"]
            if let array { lines.append("#SBATCH --array=\(array)") }
            lines += ["#SBATCH --output=\(folder)/logs/\(log)", "#SBATCH --chdir=\(workingDirectory)"]
            if dependent { lines.append("#SBATCH --kill-on-invalid-dep=yes") }
            lines += options.directives.map { "#SBATCH \($0)" }
            lines += [
                "set -u",
                "marker=\(shellQuote(folder + "/markers/"))\(marker)",
                "rm -f \"$marker.done\" \"$marker.failed\"",
                "echo \"job=${SLURM_JOB_ID} host=$(hostname) started=$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > \"$marker.started\"",
                (command + arguments + threads).map { $0.hasPrefix("$") || $0.hasPrefix("\"$") ? $0 : shellQuote($0) }.joined(separator: " ") + " &",
                "child=$!",
                "trap 'kill -TERM $child 2>/dev/null; echo \"signal: cancelled or out of time\" > \"$marker.failed\"; exit 143' TERM INT",
                "wait $child",
                "status=$?",
                "if [ $status -eq 0 ]; then touch \"$marker.done\"; else echo \"exit status $status\" > \"$marker.failed\"; fi",
                "exit $status",
            ]
            return lines.joined(separator: "\n") + "\n"
        }
        var jobs: [Job] = []
        if shared {
            jobs.append(Job(name: "shared", text: script("shared", comment: "The stages several units share, run once before them.",
                                                         array: nil, log: "shared.log", marker: "shared", arguments: ["--unit", "shared"] + workerArguments,
                                                         dependent: false)))
        }
        if !units.isEmpty {
            let array = SlurmScripts.arraySpec(units) + (options.arrayLimit.map { "%\($0)" } ?? "")
            jobs.append(Job(name: "units", text: script("units", comment: "One independent unit per array task (units.tsv lists them).",
                                                        array: array, log: "unit-%a.log", marker: "unit-${SLURM_ARRAY_TASK_ID}",
                                                        arguments: ["--unit", "\"$SLURM_ARRAY_TASK_ID\""] + workerArguments, dependent: shared)))
        }
        if aggregates {
            jobs.append(Job(name: "aggregate", text: script("aggregate", comment: "Aggregates the cached results: tables, plots and the run folder.",
                                                            array: nil, log: "aggregate.log", marker: "aggregate",
                                                            arguments: ["--runs", runsDirectory], dependent: !jobs.isEmpty)))
        }
        self.jobs = jobs
        var submit = ["#!/bin/sh", "# Submits the jobs of this folder, each after the one before it succeeded; records their ids in jobs.",
                      "set -e", "cd \"$(dirname \"$0\")\"", ": > jobs", "dependency="]
        for job in jobs {
            submit.append("id=$(sbatch --parsable $dependency \(job.file) | cut -d';' -f1)")
            submit.append("echo \"\(job.name) $id\" >> jobs")
            submit.append("dependency=--dependency=afterok:$id")
        }
        submit.append("cat jobs")
        submitScript = submit.joined(separator: "\n") + "\n"
    }

    /// `[0, 2, 3, 4, 7]` → `0,2-4,7`.
    public static func arraySpec(_ ids: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        let sorted = Array(Set(ids)).sorted()
        while index < sorted.count {
            var end = index
            while end + 1 < sorted.count && sorted[end + 1] == sorted[end] + 1 { end += 1 }
            parts.append(end == index ? "\(sorted[index])" : "\(sorted[index])-\(sorted[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}

/// `text` as one shell word: left alone when it is plainly safe, else in single quotes.
func shellQuote(_ text: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !text.isEmpty && text.allSatisfy({ safe.contains($0) }) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
