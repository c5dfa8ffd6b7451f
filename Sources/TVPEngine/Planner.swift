import TVPFormats

/// Why a stage must run.
public enum RunReason: Equatable, Sendable, CustomStringConvertible {
    /// No finished entry for its key, and no earlier run of a stage with this id to compare with.
    case noEntry
    /// A run started this very entry but never finished it (it failed or was killed).
    case unfinished
    /// Its entry is finished but its files are not what was sealed when it was written (what differs).
    case damaged(String)
    /// What changed since the last run of the stage with this id (the key it ran under is given).
    case changed(previous: StageKey, changes: [ManifestChange])
    /// Inputs that are not cached yet and run first.
    case upstreamToRun([String])

    public var description: String {
        switch self {
        case .noEntry: return "no cache entry"
        case .unfinished: return "an earlier run did not finish it"
        case .damaged(let problem): return "its cache entry is damaged (\(problem))"
        case .changed(let previous, let changes):
            let list = changes.isEmpty ? "its last entry \(previous.short) was removed" : changes.map(\.description).joined(separator: "; ")
            return "changed since \(previous.short): \(list)"
        case .upstreamToRun(let names): return "upstream to run: " + names.joined(separator: ", ")
        }
    }
}

/// Whether a stage is cached or must run, and why.
public enum StageStatus: Equatable, Sendable {
    case cached
    case toRun([RunReason])

    public var isCached: Bool { self == .cached }
}

/// One line of `tvp-run plan`.
public struct StagePlan: Sendable, Equatable {
    public var node: Int
    public var name: String
    public var key: StageKey
    public var status: StageStatus
}

extension StageGraph {
    /// Each node's status against `cache`, in graph (topological) order.
    public func plan(cache: StageCache) throws -> [StagePlan] {
        var plans: [StagePlan] = []
        for node in nodes {
            let damage = cache.contains(node.key) ? cache.damage(of: node.key) : nil
            if cache.contains(node.key) && damage == nil {
                plans.append(StagePlan(node: node.index, name: node.name, key: node.key, status: .cached))
                continue
            }
            var reasons = [try damage.map { .damaged($0) } ?? ownReason(node, cache: cache)]
            let upstream = node.inputs.filter { !plans[$0].status.isCached }.map { nodes[$0].name }
            if !upstream.isEmpty { reasons.append(.upstreamToRun(upstream)) }
            plans.append(StagePlan(node: node.index, name: node.name, key: node.key, status: .toRun(reasons)))
        }
        return plans
    }

    /// Why an uncached node's own entry is missing: unfinished, changed since the stage's last run, or new.
    func ownReason(_ node: StageNode, cache: StageCache) throws -> RunReason {
        if cache.hasUnfinishedEntry(node.key) { return .unfinished }
        guard let previous = cache.lastKey(forStageID: node.stage.id) else { return .noEntry }
        guard previous != node.key, let manifest = try cache.manifest(for: previous) else {
            return .changed(previous: previous, changes: [])
        }
        let oldInputIDs = cache.record(for: previous)?.inputIDs ?? []
        return .changed(previous: previous, changes: diffManifests(old: manifest, oldInputIDs: oldInputIDs,
                                                                   new: node.manifest, newInputIDs: node.stage.inputs))
    }

    /// `tvp-run why FILE STAGE`: the stage's status, and the differences between the manifest stored
    /// for the last run of this stage id and the current one (empty when they are the same).
    public func why(_ name: String, cache: StageCache) throws -> String {
        var lines: [String] = []
        for index in try nodes(named: name) {
            let node = nodes[index]
            let previous = cache.lastKey(forStageID: node.stage.id)
            if cache.contains(node.key), let problem = cache.damage(of: node.key) {
                lines.append("\(node.name): to run (key \(node.key.short))")
                lines.append("  \(RunReason.damaged(problem))")
                continue
            }
            if cache.contains(node.key) {
                lines.append("\(node.name): cached (key \(node.key.short))")
                if let previous, previous != node.key {
                    lines.append("  (the last run of '\(node.stage.id)' used key \(previous.short); this one was cached before)")
                }
                continue
            }
            lines.append("\(node.name): to run (key \(node.key.short))")
            switch try ownReason(node, cache: cache) {
            case .changed(let previous, let changes) where !changes.isEmpty:
                lines.append("  compared with its last run (key \(previous.short)):")
                lines += changes.map { "  - \($0)" }
            case let reason:
                lines.append("  \(reason)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `tvp-run plan`: one line per stage — status, name, short key, and why it runs.
    public static func formatPlan(_ plans: [StagePlan]) -> String {
        let toRun = plans.filter { !$0.status.isCached }.count
        let rows = plans.map { plan -> [String] in
            switch plan.status {
            case .cached: return ["cached", plan.name, plan.key.short, ""]
            case .toRun(let reasons): return ["to run", plan.name, plan.key.short, reasons.map(\.description).joined(separator: "; ")]
            }
        }
        return formatTable(header: ["status", "stage", "key", "why"], rows: rows)
            + "\n\(plans.count) stages: \(plans.count - toRun) cached, \(toRun) to run"
    }
}
