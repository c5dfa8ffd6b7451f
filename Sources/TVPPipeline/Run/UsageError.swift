/// A mistake in what the caller asked for — a bad option, an unknown stage, a folder that is not a
/// run — rather than a failure of the work: `tvp-run` reports it as a usage error (exit code 2).
public struct UsageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
