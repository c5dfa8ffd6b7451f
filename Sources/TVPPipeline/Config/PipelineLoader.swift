import Foundation
import TVPFormats

/// One point of a (possibly one-point) sweep: its assignments and its validated spec.
public struct PipelinePoint: Sendable {
    /// `fca=0.005,lr=10`; empty for a pipeline without a sweep.
    public var label: String
    public var assignments: [SweepAssignment]
    public var spec: PipelineSpec
    /// The engine's pipeline name: the spec's name, with `[label]` for sweep points.
    public var pipelineName: String { label.isEmpty ? spec.name : "\(spec.name)[\(label)]" }
}

/// A pipeline file loaded, overridden, expanded and validated: nothing runs before this succeeds.
public struct LoadedPipeline: Sendable {
    /// The file as given (after case-insensitive resolution).
    public var path: String
    /// Every file read (the pipeline, then its `extends:` bases).
    public var sources: [String]
    /// The sweep's points, in order (one when there is no sweep).
    public var points: [PipelinePoint]
    /// The scale profile applied (`--scale`), if any, and the names the file declares.
    public var scale: String? = nil
    public var scales: [String] = []
    /// The command line's overrides as given (`--set train.lr=0.5`, `-m loss.fca=0,0.005`), in order.
    public var overrides: [String] = []

    /// The pipeline's name (the first point's; `name` cannot be swept into different values).
    public var name: String { points[0].spec.name }
    public var isSweep: Bool { points.count > 1 || !(points.first?.label.isEmpty ?? true) }
    /// The sweep's successive halving (`prune: halving`), run by `HalvingSearch`.
    public var halving: HalvingSpec? = nil
}

public enum PipelineLoader {
    /// Reads `path` (with `extends:`), applies `overrides` in order, expands the sweep (the file's
    /// `sweep:` axes, then one axis per `-m`), and validates every point. Throws the first
    /// `YAMLError` (file:line:column, or the override's argument) and nothing has run.
    /// `scale`: the name of one of the file's `scales:` (its overrides apply before `overrides`).
    /// `maxPoints`: the most sweep points expanded (`--max-points`); a larger sweep is refused
    /// before any point is built.
    public static func load(path: String, overrides: [Override] = [], multirun: [MultirunOverride] = [], scale: String? = nil,
                            maxPoints: Int = SweepSpec.defaultMaximumPoints, context: ValidationContext) throws -> LoadedPipeline {
        let document = try YAMLDocument.load(path: path)
        return try load(root: document.root, path: path, sources: document.sources, overrides: overrides,
                        multirun: multirun, scale: scale, maxPoints: maxPoints, context: context)
    }

    /// `load` on an already-composed tree.
    public static func load(root: YAMLNode, path: String, sources: [String] = [], overrides: [Override] = [],
                            multirun: [MultirunOverride] = [], scale: String? = nil, maxPoints: Int = SweepSpec.defaultMaximumPoints,
                            context: ValidationContext) throws -> LoadedPipeline {
        var tree = root
        var context = context
        context.pipelinePath = path
        guard case .mapping = tree else {
            throw YAMLError("a pipeline file must be a mapping of sections (name, data, models, …), found \(tree.kindDescription)", at: tree.mark)
        }
        let scales = try ScaleProfiles(removingFrom: &tree)
        for override in try scales.overrides(named: scale) { tree = try override.apply(to: tree) }
        for override in overrides { tree = try override.apply(to: tree) }
        var sweep = try SweepSpec(node: tree["sweep"], multirun: multirun)
        try addSeedsAxis(removingFrom: &tree, to: &sweep)
        try sweep.requirePointCount(atMost: maxPoints)
        var points: [PipelinePoint] = []
        var name: String?
        for assignments in try sweep.points() {
            var pointTree = tree
            for assignment in assignments { pointTree = try assignment.override.apply(to: pointTree) }
            let spec = try PipelineSpec(root: pointTree, context: context)
            if let name, name != spec.name, let nameAssignment = assignments.first(where: { $0.key == ["name"] }) {
                throw YAMLError("'name' cannot be swept: every point of a sweep belongs to one pipeline", at: nameAssignment.keyMark)
            }
            name = spec.name
            points.append(PipelinePoint(label: sweep.isEmpty ? "" : assignments.label, assignments: assignments, spec: spec))
            if let halving = sweep.search.halving { try requireRungs(halving, of: spec) }
        }
        return LoadedPipeline(path: path, sources: sources, points: points, scale: scale, scales: scales.names,
                              overrides: overrides.map(\.source) + multirun.map(\.source), halving: sweep.search.halving)
    }
}

/// `seeds: N` (top level, after scales and overrides): N training seeds from `train.seed` (default
/// 42) on, as one more sweep axis over `train.seed`, the innermost, so the run folder's `seeds.md`
/// reports every other point's results as mean ± sd over the seeds. Stages that do not depend on
/// the seed (renders, loads, zero-shot evaluations) run once. Removed from the tree (not part of
/// the spec); `seeds: 1` is no axis.
func addSeedsAxis(removingFrom tree: inout YAMLNode, to sweep: inout SweepSpec) throws {
    guard case .mapping(var pairs, let rootMark) = tree, let index = pairs.firstIndex(where: { $0.key.scalarText == "seeds" }) else { return }
    let node = pairs.remove(at: index).value
    tree = .mapping(pairs, rootMark)
    let count = try node.int()
    guard (1...1000).contains(count) else { throw YAMLError("'seeds' is the number of training seeds, 1 to 1000; found \(count)", at: node.mark) }
    guard count > 1 else { return }
    if sweep.search.kind == .random || sweep.search.halving != nil {
        throw YAMLError("'seeds: \(count)' does not combine with a random search or halving (each would rank seeds as points); " +
                        "run the search, then the chosen point with seeds: \(count)", at: node.mark)
    }
    let seedKey = ["train", "seed"]
    if let axis = sweep.axes.first(where: { $0.keys.contains(seedKey) }), let mark = axis.marks.first {
        throw YAMLError("'seeds: \(count)' and a sweep over train.seed (at \(mark)) both set the seeds; keep one", at: node.mark)
    }
    let first = try tree["train"]?["seed"].map { try $0.int() } ?? 42
    let values = (0..<count).map { [YAMLNode.scalar(String(first + $0), YAMLScalarInfo(), node.mark)] }
    sweep.axes.append(SweepSpec.Axis(keys: [seedKey], values: values, marks: [node.mark], sources: [node.mark.description]))
}

/// What halving needs of every point: a prompt to train, validation to rank it by, and validation
/// points at the rungs (each rung a multiple of `train.validate_every`).
func requireRungs(_ halving: HalvingSpec, of spec: PipelineSpec) throws {
    guard spec.evaluate.protocols.contains(where: { $0.variant != nil }) else {
        throw YAMLError("halving ranks trained prompts, and this pipeline trains none: evaluate vp or tvp", at: halving.mark)
    }
    guard spec.train.validation > 0 else {
        throw YAMLError("halving ranks points by their validation accuracy: hold training items out with train.validation "
                        + "(e.g. train: {validation: 64})", at: halving.mark)
    }
    if let rung = halving.rungs.first(where: { $0 % spec.train.validateEvery != 0 }) {
        throw YAMLError("rung \(rung) is not a multiple of train.validate_every (\(spec.train.validateEvery)): the points are ranked by "
                        + "the validation at each rung; use multiples, or set validate_every to a divisor of every rung", at: halving.rungsMark)
    }
}

/// Finds `path` on disk, matching each component case-insensitively where the exact spelling does
/// not exist (`pipelines/clevr.yaml` finds `Pipelines/clevr.yaml`). Returns the path as it exists,
/// or nil when no spelling exists or a component is ambiguous (two spellings match).
public func resolvePathIgnoringCase(_ path: String, fileManager: FileManager = .default) -> String? {
    if fileManager.fileExists(atPath: path) { return path }
    let absolute = path.hasPrefix("/")
    var current = absolute ? "/" : ""
    for component in path.split(separator: "/", omittingEmptySubsequences: true).map(String.init) {
        let candidate = current.isEmpty ? component : (current.hasSuffix("/") ? current + component : current + "/" + component)
        if component == "." || component == ".." || fileManager.fileExists(atPath: candidate) {
            current = candidate
            continue
        }
        let folder = current.isEmpty ? "." : current
        let matches = ((try? fileManager.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.lowercased() == component.lowercased() }
        guard matches.count == 1 else { return nil }
        current = current.isEmpty ? matches[0] : (current.hasSuffix("/") ? current + matches[0] : current + "/" + matches[0])
    }
    return fileManager.fileExists(atPath: current) ? current : nil
}
