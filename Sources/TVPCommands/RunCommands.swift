import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPTensor

/// Holds the factory of the model backend `tvp-run` pipelines use.
public final class BackendHook: @unchecked Sendable {
    private let lock = NSLock()
    private var factory: () -> PipelineBackend? = { nil }

    /// Replaces the factory (the executable sets it at start; tests set a tiny one).
    public func set(_ factory: @escaping () -> PipelineBackend?) { lock.lock(); self.factory = factory; lock.unlock() }

    /// A backend from the current factory (nil: none linked; model stages then fail with an explanation).
    public func make() -> PipelineBackend? { lock.lock(); defer { lock.unlock() }; return factory() }
}

extension TVPRunCommand {
    /// The model backend of pipeline commands: `TVPRunCommand.backend.set { MyBackend() }`.
    public static let backend = BackendHook()

    public static let runUsage = """
    Usage:
      tvp-run FILE.yaml [KEY=VALUE…] [--set KEY=VALUE]… [-m KEY=V1,V2]… [--scale NAME] [--cache DIR]
                        [--runs DIR] [--manifest PATH] [--fail-fast] [--only S] [--from S] [--until S] [--threads N]
                        [--quiet | --verbose] [--offline]
          Validates the pipeline (nothing runs if anything is wrong), runs every stage that is not
          cached, writes runs/PIPELINE/TIMESTAMP/ and prints the results table.

    Options:
      --set KEY=VALUE   override a value before validation (Hydra grammar: KEY=VALUE, +KEY=VALUE adds,
                        ++KEY=VALUE forces, ~KEY removes; VALUE is YAML: 0.5, abc, [a, b], {x: 1});
                        a bare KEY=VALUE argument after FILE is the same
      -m KEY=V1,V2      sweep KEY over the values (a multirun axis, combined with the file's sweep:)
      --scale NAME      apply the file's scales: NAME profile (e.g. smoke for CI, full by hand)
                        before the --set overrides
      --cache DIR       stage and asset cache (default: $TVP_CACHE, else ~/.cache/tvp)
      --runs DIR        where run folders go (default: ./runs)
      --manifest PATH   the dataset manifest (default: $TVP_MANIFEST, else ./datasets.manifest)
      --fail-fast       start no stage after the first failure (default: keep going)
      --only S          run only stage(s) S (comma-separated names or ids; their inputs must be cached)
      --from S          run only S and what depends on it
      --until S         run only S and what it depends on
      --threads N       core budget (default: $TVP_THREADS, else all cores)
      --quiet, -q       print only failures, the table and the run folder
      --verbose, -v     print every step (progress, fetch details, path resolution)
      --offline         never touch the network (also TVP_OFFLINE=1)

    Cluster (see docs/cluster.md):
      --executor slurm  submit what is not cached as Slurm jobs instead of running it here: shared
                        stages first, then one array task per sweep point (or per model), then the
                        aggregation; job scripts go to runs/PIPELINE/slurm-TIMESTAMP/. A halving
                        search submits each rung and waits for it before deciding the next
      --partition P, --time T, --gpus-per-task N, --cpus-per-task N
                        #SBATCH settings of every job (--cpus-per-task also sets --threads)
      --array-limit K   at most K array tasks at once
      --sbatch-arg ARG  one more #SBATCH line, verbatim (repeatable): --sbatch-arg=--account=x
      --dry-run         write and print the job scripts, submit nothing
      --unit ID         run only the shared stages (ID shared) or unit ID here (what the job scripts run)
      --round R         with --unit, in a halving search: the unit of round R (the job scripts pass it)

    FILE is matched case-insensitively, component by component, when it does not exist as written
    (pipelines/clevr.yaml finds Pipelines/clevr.yaml).
    Exit codes: 0 everything ran and no expect: claim fails (each holds or is inconclusive);
    1 a stage failed or a claim fails; 2 usage or configuration error (nothing ran).
    """

    public static let planUsage = """
    Usage: tvp-run plan FILE [KEY=VALUE…] [--set KEY=VALUE]… [-m KEY=V1,V2]… [--scale NAME] [--cache DIR] [--manifest PATH]
      Lists every stage (sweep points collapsed): cached or to run, its key, and why it runs.
      Exit codes: 0 ok, 2 usage or configuration error.
    """

    public static let dagUsage = """
    Usage: tvp-run dag FILE [--format ascii|dot|mermaid] [KEY=VALUE…] [--set KEY=VALUE]… [-m KEY=V1,V2]… [--scale NAME] [--cache DIR]
      Draws the stage graph (default ascii), each node marked cached or to run.
      Exit codes: 0 ok, 2 usage or configuration error.
    """

    public static let whyUsage = """
    Usage: tvp-run why FILE STAGE [KEY=VALUE…] [--set KEY=VALUE]… [-m KEY=V1,V2]… [--scale NAME] [--cache DIR]
      Says whether STAGE is cached and, if not, what changed since its last run (parameters,
      inputs, assets, the digest of its source files), from the manifests stored in the cache.
      Exit codes: 0 ok, 2 usage or configuration error (or an unknown stage).
    """

    public static let cacheUsage = """
    Usage:
      tvp-run cache ls [--cache DIR]        one line per entry: key, kind, stage, size, date (a render
                                            stage's size includes the scenes it drew under renders/)
      tvp-run cache du [--cache DIR]        number of entries and their total size
      tvp-run cache verify [--cache DIR] [--discard]
                                            check every finished entry's files against the sizes and
                                            SHA-256 sealed when it was written; --discard marks the
                                            damaged ones unfinished (a run does so by itself before
                                            it would read one, and computes them again)
      tvp-run cache gc [--cache DIR] (--keep-pipelines FILE… | --older-than DAYS | --all)
                                            remove entries not needed by the given pipelines and/or
                                            older than DAYS, with their rendered scenes; entries being
                                            computed are left alone
      Exit codes: 0 ok, 1 damaged entries found (verify), 2 usage or configuration error.
    """

    static let pipelineOptions: Set<String> = ["--set", "-m", "--scale", "--cache", "--manifest", "--offline", "--quiet", "-q", "--verbose", "-v", "--threads", "--max-points"]

    static func usageFailure(_ command: String, _ message: String, _ usage: String) -> Int32 {
        FileHandle.standardError.write(Data("tvp-run \(command): \(message)\n\n\(usage)\n".utf8))
        return 2
    }

    /// Loads, validates and compiles the pipeline named by `arguments.positional[0]`.
    static func openSession(_ arguments: RunArguments, console: Console) throws -> PipelineSession {
        let given = arguments.positional[0]
        guard let path = resolvePathIgnoringCase(given) else { throw UsageError("no pipeline file '\(given)' (checked ignoring case)") }
        if path != given { console.detail("note: '\(given)' does not exist as written; using '\(path)'") }
        let manifest = try Manifest.load(path: arguments.manifestPath)
        let backend = backend.make()
        let context = ValidationContext(manifest: manifest, modelFamilies: backend?.modelFamilies, guideFamilies: backend?.guideFamilies)
        let loaded = try PipelineLoader.load(path: path, overrides: try arguments.overrides.map { try Override(parsing: $0) },
                                             multirun: try arguments.multirun.map { try MultirunOverride(parsing: $0) }, scale: arguments.scale,
                                             maxPoints: arguments.maxPoints ?? SweepSpec.defaultMaximumPoints, context: context)
        let fetcher = Fetcher(cacheDirectory: arguments.cacheDirectory, offline: arguments.offline || Fetcher.offlineFromEnvironment())
        let registry = StageRegistry(manifest: manifest, fetcher: fetcher, backend: backend, console: console)
        return try PipelineSession(loaded: loaded, registry: registry, cache: try StageCache(root: arguments.cacheDirectory))
    }

    /// Runs `body`, mapping configuration errors to exit code 2 with the message on stderr.
    static func guarded(_ command: String, _ body: () throws -> Int32) -> Int32 {
        do { return try body() } catch {
            FileHandle.standardError.write(Data("tvp-run\(command.isEmpty ? "" : " " + command): \(error)\n".utf8))
            return 2
        }
    }

    /// `tvp-run FILE.yaml …`
    public static func runPipeline(_ args: [String]) -> Int32 {
        let allowed = pipelineOptions.union(["--runs", "--fail-fast", "--only", "--from", "--until"]).union(ClusterArguments.options)
        let arguments: RunArguments
        switch RunArguments.parse(args, allowed: allowed) {
        case .failure(let error): return usageFailure("run", error.description, runUsage)
        case .success(let parsed): arguments = parsed
        }
        if arguments.help { print(runUsage); return 0 }
        guard arguments.positional.count == 1 else { return usageFailure("run", "name exactly one pipeline file", runUsage) }
        let console = Console(verbosity: arguments.verbosity)
        if let problem = arguments.cluster.validate() { return usageFailure("run", problem.description, runUsage) }
        if arguments.cluster.isActive { return runOnCluster(arguments, args, console: console) }
        return guarded("") {
            let session = try openSession(arguments, console: console)
            let options = RunOptions(runsDirectory: arguments.runs ?? "runs", failFast: arguments.failFast, only: arguments.only,
                                     from: arguments.from, until: arguments.until, threads: arguments.threads ?? Parallel.threads,
                                     commandLine: ["tvp-run"] + args)
            _ = try session.executorSelection(options)
            for note in session.notes { console.result(note) }
            let result = try session.run(options: options)
            if !result.summary.isEmpty { console.result(result.summary) }
            if let folder = result.folder { console.result("run folder: \(folder)") }
            return result.exitCode
        }
    }

    /// `tvp-run plan FILE`
    public static func runPlan(_ args: [String]) -> Int32 {
        pipelineCommand("plan", args, usage: planUsage, extra: []) { session, _ in
            print(StageGraph.formatPlan(try session.plan()))
            return 0
        }
    }

    /// `tvp-run dag FILE --format ascii|dot|mermaid`
    public static func runDAG(_ args: [String]) -> Int32 {
        pipelineCommand("dag", args, usage: dagUsage, extra: ["--format"]) { session, arguments in
            guard let format = GraphFormat(rawValue: arguments.format ?? "ascii") else {
                throw UsageError("--format takes ascii, dot or mermaid, not '\(arguments.format ?? "")'")
            }
            print(session.graph.render(format, plans: try session.plan()), terminator: "")
            return 0
        }
    }

    /// `tvp-run why FILE STAGE`
    public static func runWhy(_ args: [String]) -> Int32 {
        pipelineCommand("why", args, usage: whyUsage, extra: [], positionals: 2) { session, arguments in
            print(try session.why(arguments.positional[1]))
            return 0
        }
    }

    static func pipelineCommand(_ name: String, _ args: [String], usage: String, extra: Set<String>, positionals: Int = 1,
                                _ body: (PipelineSession, RunArguments) throws -> Int32) -> Int32 {
        let arguments: RunArguments
        switch RunArguments.parse(args, allowed: pipelineOptions.union(extra)) {
        case .failure(let error): return usageFailure(name, error.description, usage)
        case .success(let parsed): arguments = parsed
        }
        if arguments.help { print(usage); return 0 }
        guard arguments.positional.count == positionals else {
            return usageFailure(name, positionals == 1 ? "name one pipeline file" : "name a pipeline file and a stage", usage)
        }
        return guarded(name) { try body(try openSession(arguments, console: Console(verbosity: arguments.verbosity)), arguments) }
    }

    /// `tvp-run cache ls|du|gc|verify`
    public static func runCache(_ args: [String]) -> Int32 {
        let arguments: RunArguments
        switch RunArguments.parse(args, allowed: ["--cache", "--manifest", "--keep-pipelines", "--older-than", "--all", "--discard", "--set"]) {
        case .failure(let error): return usageFailure("cache", error.description, cacheUsage)
        case .success(let parsed): arguments = parsed
        }
        if arguments.help { print(cacheUsage); return 0 }
        guard arguments.positional.count == 1, let action = arguments.positional.first, ["ls", "du", "gc", "verify"].contains(action) else {
            return usageFailure("cache", "expected ls, du, gc or verify", cacheUsage)
        }
        return guarded("cache") {
            let cache = try StageCache(root: arguments.cacheDirectory)
            switch action {
            case "ls":
                print(StageCache.listing(try cache.entries()))
            case "du":
                let usage = try cache.diskUsage()
                print("\(usage.entries) entries, \(formatByteCount(usage.bytes)) in \(cache.root)")
            case "verify":
                let report = try cache.verifyAll()
                print(report.text)
                if arguments.discard { for entry in report.damaged { try cache.discard(entry.key) } }
                return report.damaged.isEmpty ? 0 : 1
            default:
                guard !arguments.keepPipelines.isEmpty || arguments.olderThanDays != nil || arguments.all else {
                    throw UsageError("cache gc needs --keep-pipelines FILE…, --older-than DAYS or --all")
                }
                var keep = Set<StageKey>()
                for file in arguments.keepPipelines {
                    var single = arguments
                    single.positional = [file]
                    keep.formUnion(try openSession(single, console: .silent()).keys)
                }
                let report = try cache.collectGarbage(keep: keep, olderThan: arguments.olderThanDays.map { $0 * 86_400 })
                print("removed \(report.removed.count) entries, freed \(formatByteCount(report.freedBytes))" +
                      (report.busy.isEmpty ? "" : "; \(report.busy.count) in use, left alone"))
            }
            return 0
        }
    }
}
