import Foundation

/// The `tvp-run` command line: parses arguments, dispatches subcommands, returns the exit code.
public enum TVPRunCommand {
    public static let version = "0.1.0"

    public static let usage = """
    tvp-run — Transferable Visual Prompts as declarative, cached pipelines

    Usage:
      tvp-run bench [--batch N] [--layers N] [--threads N] [--iterations N]
                                       time a ViT-B/32-shaped forward and input gradient
      tvp-run --help                   this text
      tvp-run --version                the version

    Environment:
      TVP_THREADS   worker threads for tvp and OpenBLAS together (default: all cores)
    """

    public static func main(_ args: [String]) -> Int32 {
        guard let first = args.first else {
            print(usage)
            return 2
        }
        switch first {
        case "--help", "-h", "help":
            print(usage)
            return 0
        case "--version":
            print("tvp-run \(version)")
            return 0
        default:
            FileHandle.standardError.write(Data("tvp-run: unknown command '\(first)'. Run 'tvp-run --help' for the list.\n".utf8))
            return 2
        }
    }
}
