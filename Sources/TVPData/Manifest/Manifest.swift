import Foundation
import TVPFormats

/// The dataset manifest (`datasets.manifest`): every real asset tvp knows, its licence and citation,
/// its files with sizes and checksums, and the sources to fetch each file from, in priority order.
///
/// Loading validates everything the fetcher and the loaders rely on; every problem is a `YAMLError`
/// with the manifest's `path:line:column` and, for a mistyped key, the key that was probably meant.
public struct Manifest: Sendable {
    /// The path the manifest was loaded from.
    public let path: String
    /// Assets in manifest order.
    public let assets: [Asset]

    /// The schema version this reader understands.
    public static let version = 1

    /// The loaders an asset may name (the tvp readers that parse its files).
    public static let loaders = [
        "idx-gz", "csv-gz", "cifar-python", "cifar-binary", "clevr", "hateful-memes", "pope", "svhn-mat",
        "imagefolder", "image-dir", "image-file", "cifar-c", "gguf", "safetensors", "torch-pickle",
        "clip-bpe", "open-clip-config",
    ]

    public init(path: String, assets: [Asset]) {
        self.path = path
        self.assets = assets
    }

    /// Reads, parses and validates the manifest at `path`.
    public static func load(path: String) throws -> Manifest {
        let document = try YAMLDocument.load(path: path)
        return try Manifest(path: path, root: document.root)
    }

    /// Parses and validates an already-loaded YAML tree (`path` is used in messages only).
    public init(path: String, root: YAMLNode) throws {
        try root.checkKeys(allowed: ["version", "assets"])
        let versionNode = try root.required("version")
        guard try versionNode.int() == Manifest.version else {
            throw YAMLError("manifest version \(versionNode.scalarText ?? "?") is not supported (this tvp reads version \(Manifest.version))", at: versionNode.mark)
        }
        var assets: [Asset] = []
        for (key, value) in try root.required("assets").entries() {
            assets.append(try parseAsset(name: try key.string(), nameMark: key.mark, node: value))
        }
        let names = assets.map(\.name)
        for asset in assets {
            for (index, required) in asset.requires.enumerated() where !names.contains(required) {
                let mark = (try? root.required("assets").required(asset.name).required("requires").items()[index].mark) ?? asset.mark
                throw unknownName(required, among: names, what: "asset", at: mark)
            }
        }
        self.path = path
        self.assets = assets
    }

    /// The asset called `name`; an unknown name throws a `ManifestLookupError` with a did-you-mean.
    public func asset(named name: String) throws -> Asset {
        if let asset = assets.first(where: { $0.name == name }) { return asset }
        throw ManifestLookupError(name: name, manifestPath: path, suggestion: suggest(name, from: assets.map(\.name)),
                                  known: assets.map(\.name))
    }

    /// The named assets preceded by everything they require (transitively), each once, requirements first.
    public func withRequirements(_ names: [String]) throws -> [Asset] {
        var ordered: [Asset] = []
        var visiting: Set<String> = []
        func visit(_ name: String) throws {
            if ordered.contains(where: { $0.name == name }) || visiting.contains(name) { return }
            visiting.insert(name)
            let asset = try asset(named: name)
            for required in asset.requires { try visit(required) }
            ordered.append(asset)
        }
        for name in names { try visit(name) }
        return ordered
    }
}

/// An asset name that is not in the manifest.
public struct ManifestLookupError: Error, CustomStringConvertible, Equatable {
    public let name: String
    public let manifestPath: String
    /// The closest known name, if any is close.
    public let suggestion: String?
    public let known: [String]

    public var description: String {
        if let suggestion { return "unknown asset '\(name)' in \(manifestPath); did you mean '\(suggestion)'?" }
        return "unknown asset '\(name)' in \(manifestPath); known assets: " + known.joined(separator: ", ")
    }
}

/// "unknown WHAT 'x'; did you mean 'y'?" (or the list of known names) at `mark`.
func unknownName(_ name: String, among known: [String], what: String, at mark: Mark) -> YAMLError {
    if let guess = suggest(name, from: known) {
        return YAMLError("unknown \(what) '\(name)'; did you mean '\(guess)'?", at: mark)
    }
    return YAMLError("unknown \(what) '\(name)'; expected one of: " + known.joined(separator: ", "), at: mark)
}
