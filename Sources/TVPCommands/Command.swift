import Foundation
import TVPFormats
import TVPPipeline
import TVPTensor

/// The `tvp-run` command line: parses arguments, dispatches subcommands, returns the exit code.
public enum TVPRunCommand {
    public static let usage = """
    tvp-run — Transferable Visual Prompts as declarative, cached pipelines

    Usage:
      tvp-run FILE.yaml [KEY=VALUE…] [--set KEY=VALUE]… [-m KEY=V1,V2]… [--cache DIR] [--runs DIR]
                        [--fail-fast] [--only S] [--from S] [--until S] [--quiet|--verbose] [--offline]
                        [--max-points N]
                                       validate the pipeline, run what is not cached, write
                                       runs/PIPELINE/TIMESTAMP/ (tables, plots, prompts, report.html);
                                       a sweep of more than 1000 points needs --max-points
      tvp-run plan FILE                each stage: cached or to run, and why
      tvp-run dag FILE [--format ascii|dot|mermaid]
                                       draw the stage graph
      tvp-run why FILE STAGE           what changed since STAGE last ran
      tvp-run FILE.yaml --executor slurm [--partition P --time T --gpus-per-task N --cpus-per-task N
                        --array-limit K --sbatch-arg ARG… --dry-run]
                                       submit what is not cached as Slurm jobs (docs/cluster.md)
      tvp-run runs [PIPELINE] [--runs DIR] [--where KEY=VALUE]… [--json]
                                       past runs and sweeps, newest first: when, status, version,
                                       overrides, headline numbers, claims
      tvp-run diff RUN_A RUN_B [--html OUT] [--json]
                                       the parameters that differ, the results side by side with
                                       paired tests on shared test items, overlaid loss curves
      tvp-run status RUN               done / running / failed per unit of a Slurm run folder
      tvp-run cancel RUN               cancel the jobs of a Slurm run folder
      tvp-run cache ls|du|gc|verify [--keep-pipelines FILE…] [--older-than DAYS] [--all] [--discard]
                                       list, measure, prune or verify the stage cache
      tvp-run bench [--batch N] [--layers N] [--image PX] [--threads N] [--iterations N]
                    [--twin PYTHON [--twin-script PATH]]
                                       time a ViT-B/32-shaped forward and forward + input
                                       gradient against the sgemm peak; with --twin, also run
                                       the PyTorch twin (scripts/bench/vit_twin.py) and print
                                       the ratio (defaults: batch 16, 12 layers, 224 px, 3 runs)
      tvp-run bench --models [--threads N] [--iterations N]
                                       time SmolLM2-135M (prefill, decode), a MiniLM-L6-shaped
                                       BERT and EfficientNet-Lite0 (forward, input gradient)
                                       against the sgemm peak (fetched assets; others skipped)
      tvp-run bench --zoo [--twin PYTHON [--twin-script PATH]] [--threads N] [--iterations N]
                                       time a TVP training step and a batch's evaluation of the
                                       default's surrogate (zoo-effnet-mlp), print where the
                                       step's time goes; with --twin, check and time the PyTorch
                                       twin (scripts/bench/zoo_twin.py) and print the ratios
      tvp-run bench --pipeline [--tasks N] [--images N] [--points N] [--iterations N]
                                       time planning, a fully cached rerun and the cache's
                                       bookkeeping per stage on a generated sweep
      tvp-run blas [--coretype]        the OpenBLAS kernel in use and why; --coretype prints only
                                       the OPENBLAS_CORETYPE in effect (empty: OpenBLAS's own choice)
      tvp-run fetch NAME… | --list [--cache DIR] [--offline] [--manifest PATH]
                                       fetch assets of datasets.manifest into the cache,
                                       verifying sizes and checksums (sources in order:
                                       local, PyPI, Debian, https); --list shows what is cached
      tvp-run prompt import IN.pth OUT.safetensors | export IN OUT.pth
                   | show IN OUT.png [--image SAMPLE]
                                       convert prompts to and from the official PyTorch
                                       checkpoint; draw a prompt (and a prompted sample); IN may
                                       be a run folder's prompt-TASK-VARIANT.safetensors
      tvp-run zoo evaluate [--weights DIR] [--models A,B]
                                       the zero-shot table of a built zoo (the zoo itself is
                                       built by the pipeline file Pipelines/zoo.yaml)
      tvp-run COMMAND --help           the options of one command (also: tvp-run help COMMAND)
      tvp-run --help                   this text
      tvp-run --version                the version

    Exit codes:
      0  success (every stage ran or was cached, no expect: claim fails)
      1  a stage failed, a claim fails, or an asset could not be fetched
      2  usage or configuration error: bad options, a pipeline file that does not validate
         (file:line:column), unknown names; nothing ran

    Environment:
      TVP_THREADS   worker threads for tvp and OpenBLAS together (default: all cores)
      TVP_CACHE     cache folder (default ~/.cache/tvp; assets under assets/NAME/FILE)
      TVP_OFFLINE   1 to never touch the network (local sources and the cache only)
      TVP_MANIFEST  the dataset manifest (default ./datasets.manifest)
      TVP_BLAS      unset: every CPU with AVX2 and FMA runs OpenBLAS's Haswell kernel, so the same
                    file and seed give bit-identical prompts and tables on AMD and Intel machines;
                    fastest: the fastest kernel this CPU has (AVX-512's SkylakeX on Intel Xeons;
                    numbers then differ in the last bits, and cached results are keyed apart)
      OPENBLAS_CORETYPE  OpenBLAS's kernel; when set, tvp-run keeps it (overrides TVP_BLAS)
    """

    public static func main(_ args: [String]) -> Int32 {
        guard let first = args.first else {
            print(usage)
            return 2
        }
        switch first {
        case "help" where args.count == 2:
            guard let command = subcommands[args[1]] else {
                let hint = suggest(args[1], from: Array(subcommands.keys)).map { " Did you mean '\($0)'?" } ?? ""
                FileHandle.standardError.write(Data("tvp-run help: no command '\(args[1])'.\(hint) Run 'tvp-run --help' for the list.\n".utf8))
                return 2
            }
            return command(["--help"])
        case "--help", "-h", "help":
            print(usage)
            return 0
        case "--version":
            print("tvp-run \(tvpVersion)")
            return 0
        default:
            break
        }
        if let command = subcommands[first] { return command(Array(args.dropFirst())) }
        if looksLikePipelineFile(first) { return runPipeline(args) }
        let hint = suggest(first, from: Array(subcommands.keys)).map { " Did you mean '\($0)'?" } ?? ""
        FileHandle.standardError.write(Data("tvp-run: unknown command '\(first)'.\(hint) Run 'tvp-run --help' for the list.\n".utf8))
        return 2
    }

    /// The subcommands by name; each takes the arguments after its name and returns the exit code.
    /// A new command adds one entry here, its lines to `usage`, and its own `--help` text.
    static let subcommands: [String: ([String]) -> Int32] = [
        "run": runPipeline,
        "plan": runPlan,
        "dag": runDAG,
        "why": runWhy,
        "cache": runCache,
        "fetch": runFetch,
        "prompt": runPrompt,
        "bench": runBench,
        "blas": runBLAS,
        "zoo": runZoo,
        "status": runStatus,
        "cancel": runCancel,
        "runs": runRuns,
        "diff": runDiff,
    ]

    /// Whether a first argument names a pipeline file (`tvp-run FILE.yaml`): a YAML suffix, or a
    /// path that exists (ignoring case).
    static func looksLikePipelineFile(_ argument: String) -> Bool {
        let lower = argument.lowercased()
        return lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") || (argument.contains("/") && resolvePathIgnoringCase(argument) != nil)
    }
}

extension TVPRunCommand {
    /// Reads `--name value` options into `set`; returns an error message for anything else.
    static func parseOptions(_ args: [String], _ set: (String, String) -> String?) -> String? {
        var i = 0
        while i < args.count {
            let name = args[i]
            guard name.hasPrefix("--"), i + 1 < args.count else { return "expected '--option value', got '\(name)'" }
            if let problem = set(name, args[i + 1]) { return problem }
            i += 2
        }
        return nil
    }

    static func runBLAS(_ args: [String]) -> Int32 {
        let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? ""
        switch args {
        case ["--coretype"]:
            print(chosen)
        case []:
            let why = chosen.isEmpty ? "OpenBLAS's own choice for this CPU" : "OPENBLAS_CORETYPE=\(chosen)"
            let mode = BLASKernel.cacheTag.isEmpty ? "reproducible: the same numbers on every AVX2 machine"
                : "not the reproducible \(BLASKernel.reproducibleCoreType) kernel: numbers may differ from other machines'"
            print("OpenBLAS kernel: \(BLASKernel.coreName) (\(why); \(mode)); \(Parallel.threads) thread(s)")
        default:
            print("Usage: tvp-run blas [--coretype]\n  the OpenBLAS kernel in use; --coretype prints only the OPENBLAS_CORETYPE in effect")
            return args == ["--help"] || args == ["-h"] ? 0 : 2
        }
        return 0
    }

    /// Runs a benchmark mode: `--help` prints `usage`; `parse` reads each `--name value` option
    /// (returning a message for a bad one, exit 2); `run` measures, printing as it goes (exit 1 if it throws).
    static func runBenchmarkMode(_ mode: String, _ args: [String], usage: String, parse: (String, String) -> String?,
                                 run: ((String) -> Void) throws -> Void) -> Int32 {
        if args.contains("--help") || args.contains("-h") { print(usage); return 0 }
        if let problem = parseOptions(args, parse) {
            FileHandle.standardError.write(Data("tvp-run bench \(mode): \(problem)\n\n\(usage)\n".utf8))
            return 2
        }
        do {
            try run { print($0) }
            return 0
        } catch {
            FileHandle.standardError.write(Data("tvp-run bench \(mode): \(error)\n".utf8))
            return 1
        }
    }

    /// `--threads N` and `--iterations N` (positive) of a benchmark mode; nil when `name` is one of them and `value` fits.
    static func parseRepeats(_ name: String, _ value: String, threads: inout Int, iterations: inout Int) -> String? {
        guard let n = Int(value), n > 0 else { return "\(name) takes a positive whole number" }
        switch name {
        case "--threads": threads = n
        case "--iterations": iterations = n
        default: return "unknown option '\(name)'"
        }
        return nil
    }

    static func runBench(_ args: [String]) -> Int32 {
        if args.first == "--pipeline" { return PipelineBenchmark.main(Array(args.dropFirst())) }
        if args.first == "--models" { return ModelBenchmark.main(Array(args.dropFirst())) }
        if args.first == "--zoo" { return ZooBenchmark.main(Array(args.dropFirst())) }
        var bench = Benchmark()
        let problem = parseOptions(args) { name, value in
            func int() -> Int? { Int(value).flatMap { $0 > 0 ? $0 : nil } }
            switch name {
            case "--batch": guard let n = int() else { return "--batch takes a positive whole number" }; bench.batch = n
            case "--layers": guard let n = int() else { return "--layers takes a positive whole number" }; bench.layers = n
            case "--image": guard let n = int(), n % 32 == 0 else { return "--image takes a multiple of 32" }; bench.imageSize = n
            case "--threads": guard let n = int() else { return "--threads takes a positive whole number" }; bench.threads = n
            case "--iterations": guard let n = int() else { return "--iterations takes a positive whole number" }; bench.iterations = n
            case "--twin": bench.twinPython = value
            case "--twin-script": bench.twinScript = value
            default: return "unknown option '\(name)' (see tvp-run --help)"
            }
            return nil
        }
        if let problem {
            FileHandle.standardError.write(Data("tvp-run bench: \(problem)\n".utf8))
            return 2
        }
        return bench.report()
    }
}
