import Foundation
import TVPData
import TVPFormats
import TVPPipeline

/// The options shared by `tvp-run FILE`, `plan`, `dag`, `why` and `cache`.
struct RunArguments {
    var positional: [String] = []
    var overrides: [String] = []
    var multirun: [String] = []
    var cache: String?
    var runs: String?
    var manifest: String?
    var failFast = false
    var only: [String] = []
    var from: [String] = []
    var until: [String] = []
    var verbosity = Console.Verbosity.normal
    var offline = false
    var format: String?
    /// `--scale NAME`: one of the pipeline file's `scales:` profiles.
    var scale: String?
    var threads: Int?
    /// `--max-points N`: the most sweep points a file may expand to.
    var maxPoints: Int?
    var keepPipelines: [String] = []
    var olderThanDays: Double?
    var all = false
    /// `cache verify --discard`: mark damaged entries unfinished.
    var discard = false
    var help = false
    /// `tvp-run runs`: `--where KEY=VALUE` filters (all must match) and `--json`.
    var filters: [String] = []
    var json = false
    /// `tvp-run diff --html OUT`.
    var html: String?
    /// `--executor`, `--unit`, `--dry-run` and the Slurm options (Slurm/ClusterArguments.swift).
    var cluster = ClusterArguments()

    /// Options taking one value, and the flags; each command allows a subset.
    static let valueOptions = ["--set", "-m", "--scale", "--cache", "--runs", "--manifest", "--only", "--from", "--until", "--format",
                               "--threads", "--older-than", "--max-points", "--where", "--html"]
    static let flags = ["--fail-fast", "--quiet", "-q", "--verbose", "-v", "--offline", "--all", "--discard", "--json", "--help", "-h"]

    /// Parses `args`; `allowed` are the options this command takes. Returns a message for a usage error.
    /// Arguments of the form `key=value` (not an existing file) are `--set` overrides, as in Hydra.
    static func parse(_ args: [String], allowed: Set<String>) -> Result<RunArguments, UsageError> {
        var parsed = RunArguments()
        var i = 0
        while i < args.count {
            let arg = args[i]
            if arg == "--help" || arg == "-h" { parsed.help = true; i += 1; continue }
            if arg == "--keep-pipelines", allowed.contains(arg) {
                i += 1
                while i < args.count && !args[i].hasPrefix("-") { parsed.keepPipelines.append(args[i]); i += 1 }
                if parsed.keepPipelines.isEmpty { return .failure(UsageError("--keep-pipelines needs at least one pipeline file")) }
                continue
            }
            if allowed.contains(ClusterArguments.name(of: arg)), let taken = parsed.cluster.take(args, at: i) {
                switch taken {
                case .failure(let error): return .failure(error)
                case .success(let count): i += count; continue
                }
            }
            if arg.hasPrefix("-") && arg.count > 1 {
                guard allowed.contains(arg) else {
                    let hint = suggest(arg, from: Array(allowed)).map { "; did you mean '\($0)'?" } ?? ""
                    return .failure(UsageError("unknown option '\(arg)'\(hint)"))
                }
                if valueOptions.contains(arg) {
                    guard i + 1 < args.count else { return .failure(UsageError("\(arg) needs a value")) }
                    let value = args[i + 1]
                    switch arg {
                    case "--set": parsed.overrides.append(value)
                    case "-m": parsed.multirun.append(value)
                    case "--cache": parsed.cache = value
                    case "--runs": parsed.runs = value
                    case "--manifest": parsed.manifest = value
                    case "--only": parsed.only += value.split(separator: ",").map(String.init)
                    case "--from": parsed.from += value.split(separator: ",").map(String.init)
                    case "--until": parsed.until += value.split(separator: ",").map(String.init)
                    case "--format": parsed.format = value
                    case "--scale": parsed.scale = value
                    case "--where": parsed.filters.append(value)
                    case "--html": parsed.html = value
                    case "--threads":
                        guard let n = Int(value), n > 0 else { return .failure(UsageError("--threads takes a positive whole number")) }
                        parsed.threads = n
                    case "--max-points":
                        guard let n = Int(value), n > 0 else { return .failure(UsageError("--max-points takes a positive whole number")) }
                        parsed.maxPoints = n
                    default:
                        guard let days = Double(value), days >= 0 else { return .failure(UsageError("--older-than takes a number of days")) }
                        parsed.olderThanDays = days
                    }
                    i += 2
                    continue
                }
                switch arg {
                case "--fail-fast": parsed.failFast = true
                case "--quiet", "-q": parsed.verbosity = .quiet
                case "--verbose", "-v": parsed.verbosity = .verbose
                case "--offline": parsed.offline = true
                case "--discard": parsed.discard = true
                case "--json": parsed.json = true
                default: parsed.all = true
                }
                i += 1
                continue
            }
            if allowed.contains("--set"), !parsed.positional.isEmpty, arg.contains("="), !FileManager.default.fileExists(atPath: arg) {
                parsed.overrides.append(arg)
            } else {
                parsed.positional.append(arg)
            }
            i += 1
        }
        return .success(parsed)
    }

    /// The `--set` and `-m` arguments of a recorded command line (`tvp-run FILE …`), as LoadedPipeline records them.
    static func overrides(recorded commandLine: [String]) -> [String] {
        guard case .success(let arguments) = parse(Array(commandLine.dropFirst()),
                                                   allowed: Set(valueOptions + flags).union(ClusterArguments.options)) else { return [] }
        return arguments.overrides.map { "--set " + $0 } + arguments.multirun.map { "-m " + $0 }
    }

    /// `--cache`, else `$TVP_CACHE`, else `~/.cache/tvp` (the asset cache and the stage cache share it).
    var cacheDirectory: String { cache ?? Fetcher.defaultCacheDirectory() }

    /// `--manifest`, else `$TVP_MANIFEST`, else `datasets.manifest`.
    var manifestPath: String {
        manifest ?? ProcessInfo.processInfo.environment["TVP_MANIFEST"].flatMap { $0.isEmpty ? nil : $0 } ?? "datasets.manifest"
    }
}
