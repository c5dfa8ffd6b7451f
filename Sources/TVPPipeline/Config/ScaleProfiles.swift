import TVPFormats

/// A pipeline file's `scales:` — named sets of overrides that shrink or grow the whole experiment,
/// chosen with `--scale NAME` (a paper table at `smoke` scale for CI, at `full` scale by hand):
///
///     scales:
///       smoke: {data.clevr.train.limit: 16, data.clevr.test.limit: 20}
///       full: {}
///
/// Keys are dotted like `--set`'s and apply as `--set` does, after the file (and its `extends:`
/// bases, which may declare scales too) and before the command line's `--set`. The section itself
/// is not part of the pipeline: only the values it changes reach the stages and their cache keys.
struct ScaleProfiles {
    /// Profile name → its overrides, in file order.
    private var profiles: [(name: String, overrides: [Override], mark: Mark)] = []
    private var sectionMark: Mark?

    /// Reads and removes `scales:` from the pipeline's root mapping (no change when absent).
    init(removingFrom tree: inout YAMLNode) throws {
        guard case .mapping(var pairs, let rootMark) = tree, let index = pairs.firstIndex(where: { $0.key.scalarText == "scales" }) else { return }
        let section = pairs.remove(at: index).value
        tree = .mapping(pairs, rootMark)
        sectionMark = section.mark
        guard case .mapping = section else {
            throw YAMLError("'scales' maps profile names to {dotted.key: value} overrides, found \(section.kindDescription)", at: section.mark)
        }
        for (nameNode, body) in try section.entries() {
            let name = try nameNode.string()
            if body.isNull { profiles.append((name, [], nameNode.mark)); continue }
            guard case .mapping = body else {
                throw YAMLError("scale '\(name)' maps dotted keys to values (like {train.epochs: 1}), found \(body.kindDescription)", at: body.mark)
            }
            let overrides = try body.entries().map { keyNode, value -> Override in
                let key = try keyNode.string()
                let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard parts.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
                    throw YAMLError("'\(key)' is not a dotted key like train.lr", at: keyNode.mark)
                }
                return Override(mode: .set, key: parts, value: value, source: "scales.\(name).\(key)", keyMark: keyNode.mark)
            }
            profiles.append((name, overrides, nameNode.mark))
        }
    }

    var names: [String] { profiles.map(\.name) }

    /// The overrides of profile `name` (none for nil); an unknown name is an error listing the
    /// declared ones, with a did-you-mean.
    func overrides(named name: String?) throws -> [Override] {
        guard let name else { return [] }
        guard let profile = profiles.first(where: { $0.name == name }) else {
            let hint = suggest(name, from: names).map { "; did you mean '\($0)'?" } ?? ""
            let known = names.isEmpty ? "the file declares no scales: section" : "the file's scales are \(names.joined(separator: ", "))"
            throw YAMLError("unknown scale '\(name)' (--scale): \(known)\(hint)", at: sectionMark ?? Mark(path: "--scale \(name)", line: 1, column: 9))
        }
        return profile.overrides
    }
}
