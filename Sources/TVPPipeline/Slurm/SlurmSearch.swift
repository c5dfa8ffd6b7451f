import Foundation

/// `tvp-run FILE --executor slurm` for a halving search (`HalvingSearch`): each rung's missing
/// trainings are submitted as a Slurm submission of their own (shared stages, one array task per
/// point, no aggregation; workers `--unit N --round R`), and awaited (squeue, every
/// `TVP_SLURM_POLL_SECONDS`, default 30) before the next rung's points are decided from the
/// cache. The last round — the evaluation of the last rung's points and the aggregation — is
/// submitted like any sweep and not awaited. Killed, the same command replays the cached rungs
/// and submits what is missing.
public enum SlurmSearch {
    /// How a search's submission ended.
    public enum Outcome: Sendable, Equatable {
        /// The last round was submitted (not awaited): its Slurm run folder.
        case submitted(folder: String)
        /// A dry run: the scripts of the first round that has work are written, nothing submitted.
        case dryRun
        /// Every stage is cached.
        case nothingToSubmit
        /// sbatch failed: why, and where the scripts are.
        case sbatchFailed(String)
    }

    /// Submits `session`'s search round by round, saying what it does on the session's console.
    /// `command`, `runsDirectory`, `workingDirectory`, `options` and `threadsGiven`: as
    /// `SlurmSubmission.prepare` takes them.
    public static func submit(session: PipelineSession, command: [String], runsDirectory: String, workingDirectory: String,
                              options: SlurmOptions, threadsGiven: Bool, dryRun: Bool) throws -> Outcome {
        let search = try HalvingSearch(session: session)
        let console = session.registry.console
        var progress = search.start()
        while true {
            let roundSession = try search.session(for: progress)
            let last = progress.round == search.rounds
            let title = last ? "halving: the evaluation of the last rung's points" : "halving: rung \(progress.round) of \(search.rounds - 1), "
                + "\(progress.alive.count) point\(progress.alive.count == 1 ? "" : "s") to \(search.halving.rungs[progress.round - 1]) steps"
            let submission = try SlurmSubmission.prepare(
                session: roundSession, command: command, runsDirectory: runsDirectory, workingDirectory: workingDirectory,
                options: options, threadsGiven: threadsGiven, workerArguments: ["--round", "\(progress.round)"], aggregates: last)
            if let submission {
                console.result("\(title): \(submission.unitsToRun.count) of \(submission.split.units.count) units to run"
                               + (submission.unitsToRun.isEmpty ? "" : ": " + SlurmScripts.arraySpec(submission.unitsToRun)))
                if dryRun {
                    for job in submission.scripts.jobs { console.result("==> \(submission.folder)/\(job.file) <==\n\(job.text)") }
                    console.result("dry run: nothing submitted; the scripts of this round are in \(submission.folder); "
                                   + "the next rounds are decided from its results")
                    return .dryRun
                }
                let jobs: [(job: String, id: String)]
                do { jobs = try submission.submit() } catch let failure as SlurmCommand.Failure {
                    return .sbatchFailed("\(failure)\nthe scripts are in \(submission.folder)")
                }
                console.result("submitted: " + jobs.map { "\($0.job) job \($0.id)" }.joined(separator: ", "))
                if last { return .submitted(folder: submission.folder) }
                try SlurmCommand.wait(for: Set(jobs.map(\.id)))
                console.result("round \(progress.round) done: `tvp-run status \(submission.folder)` shows its jobs")
            } else if last {
                return .nothingToSubmit
            }
            try search.advance(&progress, roundSession: roundSession, log: true)
        }
    }
}

extension SlurmCommand {
    /// Returns once none of `ids` is in this user's queue (polled every `TVP_SLURM_POLL_SECONDS`, default 30).
    static func wait(for ids: Set<String>) throws {
        let seconds = ProcessInfo.processInfo.environment["TVP_SLURM_POLL_SECONDS"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 30
        while true {
            switch queue() {
            case .failure(let failure): throw failure
            case .success(let entries): if !entries.contains(where: { ids.contains($0.jobID) }) { return }
            }
            Thread.sleep(forTimeInterval: seconds)
        }
    }
}
