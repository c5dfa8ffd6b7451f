import Foundation

/// A YAML file loaded with `extends:` composition resolved.
///
/// A top-level mapping may name one base file (`extends: base.yaml`) or several
/// (`extends: [a.yaml, b.yaml]`, later bases override earlier ones), with paths relative to the
/// file that names them. Bases may extend further files; a cycle is an error that lists the chain.
/// The result is the bases deep-merged under the file (see `YAMLNode.deepMerged(onto:)`), without
/// the `extends` key; every value keeps the mark of the file and line where it was written.
public struct YAMLDocument: Sendable {
    /// The path the document was loaded from, as given.
    public let path: String
    /// The composed tree.
    public let root: YAMLNode
    /// Every file read to build `root`, in the order first read (the document itself first).
    public let sources: [String]

    /// Reads, parses and composes `path`.
    public static func load(path: String) throws -> YAMLDocument {
        var loader = ExtendsLoader()
        let root = try loader.load(path, chain: [], includedAt: nil)
        return YAMLDocument(path: path, root: root, sources: loader.sources)
    }
}

extension YAMLNode {
    /// Deep merge with `self` overriding `base`: when both are mappings, keys present in both are merged
    /// recursively (base order kept, the override's key node and mark used) and the override's new keys
    /// are appended; otherwise `self` replaces `base` (sequences and scalars are replaced, not joined).
    public func deepMerged(onto base: YAMLNode) -> YAMLNode {
        guard case .mapping(let overrides, let mark) = self, case .mapping(let basePairs, _) = base else { return self }
        var pairs = basePairs
        var indexOfKey: [String: Int] = [:]
        for (index, pair) in pairs.enumerated() { indexOfKey[pair.key.scalarText ?? ""] = index }
        for pair in overrides {
            let text = pair.key.scalarText ?? ""
            if let index = indexOfKey[text] {
                pairs[index] = (pair.key, pair.value.deepMerged(onto: pairs[index].value))
            } else {
                indexOfKey[text] = pairs.count
                pairs.append(pair)
            }
        }
        return .mapping(pairs, mark)
    }
}

private struct ExtendsLoader {
    var sources: [String] = []

    /// Loads `path` and its bases. `chain` holds the files currently being loaded (display path and
    /// canonical path), outermost first, to detect cycles.
    mutating func load(_ path: String, chain: [(shown: String, canonical: String)], includedAt: Mark?) throws -> YAMLNode {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        if let start = chain.firstIndex(where: { $0.canonical == canonical }) {
            let cycle = chain[start...].map(\.shown) + [path]
            throw YAMLError("extends cycle: " + cycle.joined(separator: " -> "), at: includedAt)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let reason = !exists ? "no such file" : isDirectory.boolValue ? "it is a directory" : "it is not readable"
            throw YAMLError("cannot read '\(path)': \(reason)", at: includedAt)
        }
        if !sources.contains(path) { sources.append(path) }
        let node = try YAMLParser.parse(bytes: [UInt8](data), path: path)

        guard case .mapping(let pairs, let mark) = node, let extendsIndex = pairs.firstIndex(where: {
            $0.key.scalarText == "extends" && $0.key.isPlainOrQuotedText
        }) else { return node }

        let extendsValue = pairs[extendsIndex].value
        let basePaths: [YAMLNode]
        switch extendsValue {
        case .sequence(let items, _): basePaths = items
        default: basePaths = [extendsValue]
        }
        var merged: YAMLNode?
        let innerChain = chain + [(path, canonical)]
        for basePathNode in basePaths {
            let relative: String
            do { relative = try basePathNode.string() } catch {
                throw YAMLError("'extends' expects a file path or a list of file paths, found \(basePathNode.kindDescription)", at: basePathNode.mark)
            }
            let basePath = resolve(relative, against: path)
            let base = try load(basePath, chain: innerChain, includedAt: basePathNode.mark)
            guard case .mapping = base else {
                throw YAMLError("'extends' bases must be mappings, but '\(relative)' holds \(base.kindDescription)", at: basePathNode.mark)
            }
            merged = merged.map { base.deepMerged(onto: $0) } ?? base
        }
        var own = pairs
        own.remove(at: extendsIndex)
        let child = YAMLNode.mapping(own, mark)
        guard let merged else { return child }
        return child.deepMerged(onto: merged)
    }

    /// `relative` as seen from the directory of `file`; absolute paths stay as they are.
    private func resolve(_ relative: String, against file: String) -> String {
        if relative.hasPrefix("/") { return relative }
        let directory = (file as NSString).deletingLastPathComponent
        return directory.isEmpty ? relative : (directory as NSString).appendingPathComponent(relative)
    }
}

private extension YAMLNode {
    /// True for a key that is a string scalar (not a tagged or non-string one).
    var isPlainOrQuotedText: Bool {
        if case .scalar(let text, let info, _) = self, case .string? = resolveScalar(text, info) { return true }
        return false
    }
}
