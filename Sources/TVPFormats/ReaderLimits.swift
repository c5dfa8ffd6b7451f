import Foundation

/// The limits every reader of downloaded files keeps, so that one input cannot exhaust memory or
/// the stack. Each has a default chosen far above what real files need; the ones that a large but
/// honest input could reach can be raised by an environment variable, named in the error.
public enum ReaderLimits {
    /// Most pixels (width × height) an image or a prompt may have: 2^28 (a 16384 × 16384 image)
    /// unless `TVP_MAX_PIXELS` says otherwise.
    public static var maxPixels: Int { value("TVP_MAX_PIXELS", default: 1 << 28) }

    /// Most bytes a reader makes out of fewer stored bytes (inflated gzip, zlib and ZIP data, a
    /// tensor view broadcast over a smaller storage): 1 GiB unless `TVP_MAX_EXPANDED_BYTES` says otherwise.
    public static var maxExpandedBytes: Int { value("TVP_MAX_EXPANDED_BYTES", default: 1 << 30) }

    /// Deepest nesting of containers in a pickle (Python's own pickler stops near 1000 frames,
    /// real checkpoints nest fewer than 20 levels).
    public static let maxPickleDepth = 256

    /// Deepest nesting of YAML sequences and mappings (pipeline files nest fewer than 10 levels).
    public static let maxYAMLDepth = 256

    /// Most nodes that aliases may add to one YAML document (each `*name` adds the whole anchored
    /// subtree); an alias bomb of nested aliases reaches millions.
    public static let maxYAMLAliasNodes = 100_000

    /// nil when `width × height` is within `maxPixels`; otherwise what is wrong and how to allow it.
    public static func pixelProblem(width: Int, height: Int) -> String? {
        let limit = maxPixels
        if let n = CheckedSize.product(width, height), n <= limit { return nil }
        let count = CheckedSize.product(width, height).map(String.init) ?? "more than 2^63"
        return "\(width)×\(height) is \(count) pixels, more than the limit of \(limit) (set TVP_MAX_PIXELS to a larger number to allow it)"
    }

    /// nil when `bytes` is within `maxExpandedBytes`; otherwise what is wrong and how to allow it.
    public static func expandedProblem(_ bytes: Int, _ what: String) -> String? {
        let limit = maxExpandedBytes
        if bytes >= 0, bytes <= limit { return nil }
        return "\(what) would be \(bytes) bytes, more than the limit of \(limit) (set TVP_MAX_EXPANDED_BYTES to a larger number to allow it)"
    }

    private static func value(_ name: String, default fallback: Int) -> Int {
        guard let text = ProcessInfo.processInfo.environment[name], let n = Int(text), n > 0 else { return fallback }
        return n
    }
}
