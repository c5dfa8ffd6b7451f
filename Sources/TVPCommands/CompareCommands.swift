import Foundation
import TVPFormats
import TVPPipeline

extension TVPRunCommand {
    public static let runsUsage = """
    Usage: tvp-run runs [PIPELINE] [--runs DIR] [--where KEY=VALUE]… [--json]
      Lists past runs and sweeps under DIR (default ./runs), newest first, one table per pipeline:
      when (UTC), the run folder, status (finished, failed: a stage failed, running: its process is
      alive, interrupted: killed before it wrote its folder), tvp version, overrides, n (test items
      per cell), surrogate / targets' mean of the report metric per task and protocol (clean images),
      and the claims together (hold, FAIL, inconclusive). A sweep is a row, then a row per point.
      PIPELINE: only that pipeline's runs (its name: runs/PIPELINE/).
      --where KEY=VALUE  keep runs (and sweep points) whose resolved config has KEY = VALUE (dotted as
                         in --set: train.lr=0.5, loss.fca=0), or whose status, version, scale or
                         pipeline is VALUE (status=failed); repeated: all must match
      --json             the same as JSON: one object per run, its points with every model's value,
                         the targets' mean interval and the claims' counts
      Exit codes: 0 ok, 2 usage error (an unknown option, a KEY no run has).
    """

    public static let diffUsage = """
    Usage: tvp-run diff RUN_A RUN_B [--html OUT] [--json]
      Compares two run folders (or two sweep points, runs/NAME/TIME/points/LABEL):
      - the parameters that differ (the flattened resolved configs);
      - the accuracy of every task, protocol and model both evaluated (and the targets pooled), with
        intervals and n; where both scored the same test items (the same test split stage), B − A
        as a paired difference with its 95% bootstrap CI and the exact McNemar p;
      - with --html OUT, also a page with both runs' loss curves overlaid on shared axes.
      --json prints the comparison as JSON instead of tables.
      Exit codes: 0 ok, 2 usage error (not a run folder, a sweep folder instead of a point).
    """

    /// `tvp-run runs`
    public static func runRuns(_ args: [String]) -> Int32 {
        let arguments: RunArguments
        switch RunArguments.parse(args, allowed: ["--runs", "--where", "--json"]) {
        case .failure(let error): return usageFailure("runs", error.description, runsUsage)
        case .success(let parsed): arguments = parsed
        }
        if arguments.help { print(runsUsage); return 0 }
        guard arguments.positional.count <= 1 else { return usageFailure("runs", "name at most one pipeline", runsUsage) }
        return guarded("runs") {
            let directory = arguments.runs ?? "runs"
            let pipeline = arguments.positional.first
            if let pipeline, !FileManager.default.fileExists(atPath: RunRecord.folder(of: pipeline, in: directory)) {
                let known = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }
                let hint = suggest(pipeline, from: known).map { " Did you mean '\($0)'?" } ?? ""
                throw UsageError("no runs of '\(pipeline)' in \(directory)/ (pipelines there: " +
                                 (known.isEmpty ? "none" : known.sorted().joined(separator: ", ")) + ").\(hint)")
            }
            let runs = RunRecord.all(in: directory, pipeline: pipeline).map { run in
                // A folder written before meta.json recorded the overrides has them on its recorded command line.
                guard run.meta["overrides"] == nil else { return run }
                var older = run
                older.overrides = RunArguments.overrides(recorded: (run.meta["command"]?.arrayValue ?? []).compactMap(\.stringValue))
                return older
            }
            let listing = try RunListing(runs: runs, filters: try arguments.filters.map(RunListing.Filter.init(parsing:)))
            print(arguments.json ? listing.json.canonicalText : listing.text, terminator: arguments.json ? "\n" : "")
            return 0
        }
    }

    /// `tvp-run diff RUN_A RUN_B`
    public static func runDiff(_ args: [String]) -> Int32 {
        let arguments: RunArguments
        switch RunArguments.parse(args, allowed: ["--html", "--json"]) {
        case .failure(let error): return usageFailure("diff", error.description, diffUsage)
        case .success(let parsed): arguments = parsed
        }
        if arguments.help { print(diffUsage); return 0 }
        guard arguments.positional.count == 2 else { return usageFailure("diff", "name two run folders", diffUsage) }
        return guarded("diff") {
            let diff = try RunDiff(try RunRecord.point(at: arguments.positional[0]), try RunRecord.point(at: arguments.positional[1]))
            print(arguments.json ? diff.json.canonicalText + "\n" : diff.text, terminator: "")
            if let html = arguments.html {
                do { try Data(DiffPage.render(diff).utf8).write(to: URL(fileURLWithPath: html)) } catch {
                    throw UsageError("cannot write \(html): \(error.localizedDescription)")
                }
                if !arguments.json { print("page: \(html)") }
            }
            return 0
        }
    }
}
