import TVPPipeline
/// The `tvp-run FILE` options of cluster execution: `--executor local|slurm`, the Slurm job options,
/// `--dry-run`, and `--unit` (what the generated job scripts pass to run one piece of the split).
struct ClusterArguments: Equatable {
    var executor = "local"
    var slurm = SlurmOptions()
    var dryRun = false
    /// `shared` or a unit number: run only that piece of the `WorkSplit`.
    var unit: String?
    /// With `unit`, for a halving search: the round whose split the unit belongs to (`SlurmSearch`).
    var round: Int?

    static let valueOptions = ["--executor", "--partition", "--time", "--gpus-per-task", "--cpus-per-task", "--array-limit",
                               "--sbatch-arg", "--unit", "--round"]
    static let flags = ["--dry-run"]
    static var options: Set<String> { Set(valueOptions + flags) }

    /// Whether the run goes anywhere but the plain local executor.
    var isActive: Bool { executor != "local" || unit != nil }

    /// The option an argument names: `--sbatch-arg=--mem=8G` names `--sbatch-arg`.
    static func name(of argument: String) -> String {
        guard let equals = argument.firstIndex(of: "="), valueOptions.contains(String(argument[..<equals])) else { return argument }
        return String(argument[..<equals])
    }

    /// Consumes `args[index]` (and its value) if it is one of these options, as `--name value` or
    /// `--name=value`: the number of arguments taken, a usage error, or nil when the option is not ours.
    mutating func take(_ args: [String], at index: Int) -> Result<Int, UsageError>? {
        let name = ClusterArguments.name(of: args[index])
        if name == "--dry-run" { dryRun = true; return .success(1) }
        guard ClusterArguments.valueOptions.contains(name) else { return nil }
        let inline = name != args[index]
        guard inline || index + 1 < args.count else { return .failure(UsageError("\(name) needs a value")) }
        let value = inline ? String(args[index].dropFirst(name.count + 1)) : args[index + 1]
        func count() -> Int? { Int(value).flatMap { $0 > 0 ? $0 : nil } }
        switch name {
        case "--executor":
            guard ["local", "slurm"].contains(value) else { return .failure(UsageError("--executor takes local or slurm, not '\(value)'")) }
            executor = value
        case "--partition": slurm.partition = value
        case "--time": slurm.time = value
        case "--gpus-per-task":
            guard let n = count() else { return .failure(UsageError("--gpus-per-task takes a positive whole number")) }
            slurm.gpusPerTask = n
        case "--cpus-per-task":
            guard let n = count() else { return .failure(UsageError("--cpus-per-task takes a positive whole number")) }
            slurm.cpusPerTask = n
        case "--array-limit":
            guard let n = count() else { return .failure(UsageError("--array-limit takes a positive whole number")) }
            slurm.arrayLimit = n
        case "--sbatch-arg": slurm.extraArguments.append(value)
        case "--round":
            guard let n = count() else { return .failure(UsageError("--round takes a positive whole number")) }
            round = n
        default:
            guard value == "shared" || Int(value).map({ $0 >= 0 }) == true else {
                return .failure(UsageError("--unit takes shared or a unit number, not '\(value)'"))
            }
            unit = value
        }
        return .success(inline ? 1 : 2)
    }

    /// Checks the combination once everything is parsed.
    func validate() -> UsageError? {
        if executor == "local" && (dryRun || slurm != SlurmOptions()) {
            return UsageError("--dry-run and the Slurm options (--partition, --time, …) need --executor slurm")
        }
        if executor == "slurm" && unit != nil { return UsageError("--unit runs one piece locally; it does not go with --executor slurm") }
        if round != nil && unit == nil { return UsageError("--round goes with --unit (the job scripts of a halving search pass both)") }
        return nil
    }
}
