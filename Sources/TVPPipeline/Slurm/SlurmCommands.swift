import Foundation
import TVPEngine
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
                // A halving search's worker: the split of its round, from the earlier rounds' rungs in the cache.
                if let round = arguments.cluster.round {
                    let search = try HalvingSearch(session: session)
                    guard round <= search.rounds else { throw UsageError("--round \(round): the search has \(search.rounds) rounds") }
                    return try runUnit(unit, session: try search.session(for: try search.replay(to: round)), arguments: arguments, console: console)
                }
                if session.loaded.halving != nil {
                    throw UsageError("--unit of a halving search needs --round R (the round whose split it belongs to; the job scripts pass both)")
                }
                return try runUnit(unit, session: session, arguments: arguments, console: console)
            }
            if session.loaded.halving != nil { return try runSearchOnCluster(session, arguments, console: console) }
            let directory = FileManager.default.currentDirectoryPath
            guard let submission = try SlurmSubmission.prepare(
                session: session, command: workerCommand(arguments, directory: directory), runsDirectory: arguments.runs ?? "runs",
                workingDirectory: directory, options: arguments.cluster.slurm, threadsGiven: arguments.threads != nil) else {
                console.result("nothing to submit: every stage is cached; `tvp-run \(arguments.positional[0])` writes the run folder from the cache")
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
                FileHandle.standardError.write(Data("tvp-run: \(failure)\nthe scripts are in \(submission.folder)\n".utf8))
                return 1
            }
            console.result("run folder: \(submission.folder)")
            console.result("follow it with `tvp-run status \(submission.folder)`; stop it with `tvp-run cancel \(submission.folder)`")
            return 0
        }
    }

    /// Runs one piece of the split here (the stages of `unit` and whatever of their inputs is not cached).
    static func runUnit(_ unit: String, session: PipelineSession, arguments: RunArguments, console: Console) throws -> Int32 {
        let split = WorkSplit(session: session)
        let nodes: [Int]
        if unit == "shared" {
            nodes = split.shared
        } else {
            guard let id = Int(unit), id < split.units.count else {
                throw UsageError("--unit \(unit): the pipeline has \(split.units.count) units (0…\(split.units.count - 1)) and the shared stages")
            }
            nodes = split.units[id].nodes
            console.result("unit \(id) (\(split.unitKind) \(split.units[id].label)): \(nodes.count) stages")
        }
        guard !nodes.isEmpty else { return 0 }
        let executor = Executor(graph: session.graph, cache: session.cache, options: ExecutorOptions(
            threads: arguments.threads ?? Parallel.threads, computeThreads: .tensorLibrary, failFast: arguments.failFast, until: nodes.map { session.graph.nodes[$0].name },
            log: { console.engine($0) }))
        let report = try executor.run()
        return report.succeeded ? 0 : 1
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
