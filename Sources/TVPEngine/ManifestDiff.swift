/// One difference between a stored manifest and the current one: what `tvp-run why` prints.
public enum ManifestChange: Equatable, Sendable, CustomStringConvertible {
    case kind(old: String, new: String)
    case code(old: String, new: String)
    /// A parameter at `path` (`a.b.c`, array items as `a[2]`; `""` for the whole value); nil is absent.
    case parameter(path: String, old: JSONValue?, new: JSONValue?)
    /// An asset checksum by name; nil is absent.
    case asset(name: String, old: String?, new: String?)
    /// The input at `index` has another key: its upstream stage changed (or another stage is wired in).
    /// Ids are the stage ids recorded then and now (nil where unknown or absent).
    case input(index: Int, oldID: String?, newID: String?, oldKey: StageKey?, newKey: StageKey?)

    public var description: String {
        func show(_ value: JSONValue?) -> String { value?.canonicalText ?? "(absent)" }
        switch self {
        case .kind(let old, let new): return "kind: \(old) → \(new)"
        case .code(let old, let new): return "code: \(old.prefix(12)) → \(new.prefix(12)) (its source files changed)"
        case .parameter(let path, let old, let new):
            return "parameter \(path.isEmpty ? "(all)" : path): \(show(old)) → \(show(new))"
        case .asset(let name, let old, let new):
            return "asset \(name): \(old.map { String($0.prefix(12)) } ?? "(absent)") → \(new.map { String($0.prefix(12)) } ?? "(absent)")"
        case .input(let index, let oldID, let newID, let oldKey, let newKey):
            let keys = "\(oldKey?.short ?? "(absent)") → \(newKey?.short ?? "(absent)")"
            if let oldID, let newID, oldID != newID {
                return "input \(index): was '\(oldID)', now '\(newID)' (key \(keys))"
            }
            if let id = newID ?? oldID {
                return oldKey != nil && newKey != nil ? "input \(index) '\(id)' changed upstream (key \(keys))" : "input \(index) '\(id)': key \(keys)"
            }
            return "input \(index): key \(keys)"
        }
    }
}

/// The differences from `old` (with the input stage ids recorded when it ran) to `new`, in a fixed
/// order: kind, code, parameters (depth first, keys sorted), assets, inputs.
public func diffManifests(old: StageManifest, oldInputIDs: [String], new: StageManifest, newInputIDs: [String]) -> [ManifestChange] {
    var changes: [ManifestChange] = []
    if old.kind != new.kind { changes.append(.kind(old: old.kind, new: new.kind)) }
    if old.code != new.code { changes.append(.code(old: old.code, new: new.code)) }
    diffJSON(old.parameters, new.parameters, path: "", into: &changes)
    for name in Set(old.assets.keys).union(new.assets.keys).sorted() where old.assets[name] != new.assets[name] {
        changes.append(.asset(name: name, old: old.assets[name], new: new.assets[name]))
    }
    for index in 0..<max(old.inputKeys.count, new.inputKeys.count) {
        let oldKey = index < old.inputKeys.count ? old.inputKeys[index] : nil
        let newKey = index < new.inputKeys.count ? new.inputKeys[index] : nil
        guard oldKey != newKey else { continue }
        changes.append(.input(index: index,
                              oldID: index < oldInputIDs.count && oldKey != nil ? oldInputIDs[index] : nil,
                              newID: index < newInputIDs.count && newKey != nil ? newInputIDs[index] : nil,
                              oldKey: oldKey, newKey: newKey))
    }
    return changes
}

private func diffJSON(_ old: JSONValue?, _ new: JSONValue?, path: String, into changes: inout [ManifestChange]) {
    switch (old, new) {
    case (.object(let a)?, .object(let b)?):
        for key in JSONValue.sortedKeys(a.merging(b) { x, _ in x }) {
            diffJSON(a[key], b[key], path: path.isEmpty ? key : path + "." + key, into: &changes)
        }
    case (.array(let a)?, .array(let b)?) where a.count == b.count:
        for index in a.indices { diffJSON(a[index], b[index], path: path + "[\(index)]", into: &changes) }
    default:
        if old != new { changes.append(.parameter(path: path, old: old, new: new)) }
    }
}
