import Foundation
import TVPPipeline
import TVPTensor

extension TVPRunCommand {
    public static let statusUsage = """
    Usage: tvp-run status RUN
      RUN is the Slurm run folder `tvp-run FILE --executor slurm` printed (runs/NAME/slurm-TIMESTAMP).
      Shows each piece — shared stages, every unit (sweep point or model), the aggregation — as done,
      running, pending, failed (with its log) or not started, from the cache, the job scripts' markers
      and squeue (no sacct needed).
      Exit codes: 0 ok, 2 not a Slurm run folder.
    """

    public static let cancelUsage = """
    Usage: tvp-run cancel RUN
      Cancels (scancel) every job of the Slurm run folder RUN. Finished cache entries stay; submitting
      the same command again runs only what is missing.
      Exit codes: 0 cancelled, 1 scancel failed, 2 not a Slurm run folder.
    """

    /// `tvp-run FILE --executor slurm …` or `tvp-run FILE --unit ID` (a job script's worker).
    static func runOnCluster(_ arguments: RunArguments, _ args: [String], console: Console) -> Int32 {
        guard arguments.only.isEmpty && arguments.from.isEmpty && arguments.until.isEmpty else {
            return usageFailure("run", "--only, --from and --until do not go with --executor slurm or --unit", runUsage)
        }
        return guarded("") {
            let session = try openSession(arguments, console: console)
            if let unit = arguments.cluster.unit {
                return try session.runUnit(unit, round: arguments.cluster.round, threads: arguments.threads ?? Parallel.threads,
                                           failFast: arguments.failFast) ? 0 : 1
            }
            let directory = FileManager.default.currentDirectoryPath
            let command = workerCommand(arguments, directory: directory), runsDirectory = arguments.runs ?? "runs"
            if session.loaded.halving != nil {
                switch try SlurmSearch.submit(session: session, command: command, runsDirectory: runsDirectory, workingDirectory: directory,
                                              options: arguments.cluster.slurm, threadsGiven: arguments.threads != nil,
                                              dryRun: arguments.cluster.dryRun) {
                case .submitted(let folder): followUp(folder, console: console)
                case .dryRun: break
                case .nothingToSubmit: nothingToSubmit(arguments, console: console)
                case .sbatchFailed(let message): return submissionFailed(message)
                }
                return 0
            }
            guard let submission = try SlurmSubmission.prepare(
                session: session, command: command, runsDirectory: runsDirectory,
                workingDirectory: directory, options: arguments.cluster.slurm, threadsGiven: arguments.threads != nil) else {
                nothingToSubmit(arguments, console: console)
                return 0
            }
            let split = submission.split
            console.result("plan: \(submission.sharedToRun ? "shared stages to run" : "shared stages cached"); " +
                           "\(submission.unitsToRun.count) of \(split.units.count) units (one per \(split.unitKind)) to run" +
                           (submission.unitsToRun.isEmpty ? "" : ": " + SlurmScripts.arraySpec(submission.unitsToRun)) + "; then the aggregation")
            if arguments.cluster.dryRun {
                for job in submission.scripts.jobs { console.result("==> \(submission.folder)/\(job.file) <==\n\(job.text)") }
                console.result("==> \(submission.folder)/submit.sh <==\n\(submission.scripts.submitScript)")
                console.result("dry run: nothing submitted; the scripts are in \(submission.folder) (submit them with `sh \(submission.folder)/submit.sh`)")
                return 0
            }
            do {
                let jobs = try submission.submit()
                console.result("submitted: " + jobs.map { "\($0.job) job \($0.id)" }.joined(separator: ", "))
            } catch let failure as SlurmCommand.Failure {
                return submissionFailed("\(failure)\nthe scripts are in \(submission.folder)")
            }
            followUp(submission.folder, console: console)
            return 0
        }
    }

    /// Every stage is cached: the plain run writes the run folder.
    static func nothingToSubmit(_ arguments: RunArguments, console: Console) {
        console.result("nothing to submit: every stage is cached; `tvp-run \(arguments.positional[0])` writes the run folder from the cache")
    }

    /// The jobs are submitted: where they write, and how to follow or stop them.
    static func followUp(_ folder: String, console: Console) {
        console.result("run folder: \(folder)")
        console.result("follow it with `tvp-run status \(folder)`; stop it with `tvp-run cancel \(folder)`")
    }

    /// sbatch failed (exit code 1).
    static func submissionFailed(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("tvp-run: \(message)\n".utf8))
        return 1
    }

    /// The executable and the arguments that name the same pipeline, overrides, manifest and cache
    /// from any folder (absolute paths).
    static func workerCommand(_ arguments: RunArguments, directory: String) -> [String] {
        let pipeline = resolvePathIgnoringCase(arguments.positional[0]) ?? arguments.positional[0]
        var command = [executablePath(), absolutePath(pipeline, from: directory)]
        if let scale = arguments.scale { command += ["--scale", scale] }
        for override in arguments.overrides { command += ["--set", override] }
        for axis in arguments.multirun { command += ["-m", axis] }
        command += ["--manifest", absolutePath(arguments.manifestPath, from: directory),
                    "--cache", absolutePath(arguments.cacheDirectory, from: directory)]
        if arguments.offline { command.append("--offline") }
        if let threads = arguments.threads { command += ["--threads", "\(threads)"] }
        if arguments.failFast { command.append("--fail-fast") }
        return command
    }

    /// This process's executable, absolute.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return absolutePath(CommandLine.arguments[0], from: FileManager.default.currentDirectoryPath)
    }

    /// `tvp-run status RUN`
    public static func runStatus(_ args: [String]) -> Int32 {
        if args.contains("--help") || args.contains("-h") { print(statusUsage); return 0 }
        guard args.count == 1 else { return usageFailure("status", "name one Slurm run folder", statusUsage) }
        return guarded("status") {
            let queue = SlurmCommand.queue()
            let status = try SlurmRunStatus.read(folder: absolutePath(args[0], from: FileManager.default.currentDirectoryPath),
                                                 queue: (try? queue.get()) ?? [],
                                                 queueProblem: { if case .failure(let failure) = queue { return failure.description }; return nil }())
            print(status.text, terminator: "")
            return 0
        }
    }

    /// `tvp-run cancel RUN`
    public static func runCancel(_ args: [String]) -> Int32 {
        if args.contains("--help") || args.contains("-h") { print(cancelUsage); return 0 }
        guard args.count == 1 else { return usageFailure("cancel", "name one Slurm run folder", cancelUsage) }
        return guarded("cancel") {
            let ids = try SlurmRunStatus.jobIDs(folder: absolutePath(args[0], from: FileManager.default.currentDirectoryPath))
            do {
                _ = try SlurmCommand.run("scancel", ids)
            } catch {
                FileHandle.standardError.write(Data("tvp-run cancel: \(error)\n".utf8))
                return 1
            }
            print("cancelled jobs \(ids.joined(separator: ", ")); finished cache entries stay")
            return 0
        }
    }
}
