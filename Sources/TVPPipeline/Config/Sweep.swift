import TVPFormats
import TVPPrompting
import TVPTensor

/// A sweep: the cartesian product of its axes. Declared in the file as
///
/// ```yaml
/// sweep:
///   loss.fca: [0, 0.005]          # a grid axis over any dotted key
///   zip:                          # one axis whose keys move together (lists of equal length)
///     train.seed: [1, 2]
///     train.lr: [10, 5]
/// ```
///
/// and extended on the command line with `-m key=v1,v2` (each one more grid axis, after the file's).
/// A random search draws its points instead, and halving prunes them (`SweepSearch`).
public struct SweepSpec: Sendable {
    /// One axis: `keys` move together; `values[i]` holds one value per key for the axis' i-th step.
    public struct Axis: Sendable {
        public var keys: [[String]]
        public var values: [[YAMLNode]]
        /// Where the axis is declared (its first key, or the `-m` argument).
        public var marks: [Mark]
        public var sources: [String]
    }

    public var axes: [Axis]
    /// Grid or random, and the pruning.
    public var search = SweepSearch()

    /// Reads the `sweep:` node (nil: none) and appends the `-m` axes.
    public init(node: YAMLNode?, multirun: [MultirunOverride] = []) throws {
        axes = []
        if let node, !node.isNull {
            var settings: [String: (key: YAMLNode, value: YAMLNode)] = [:], ranges: [(key: YAMLNode, value: YAMLNode)] = []
            for (keyNode, value) in try node.entries() {
                let keyText = try keyNode.string()
                if SweepSearch.settings.contains(keyText) {
                    settings[keyText] = (keyNode, value)
                } else if keyText != "zip", case .mapping = value {
                    ranges.append((keyNode, value))
                } else if keyText == "zip" {
                    var keys: [[String]] = [], columns: [[YAMLNode]] = [], marks: [Mark] = []
                    for (zipKey, list) in try value.entries() {
                        keys.append(try SweepSpec.dottedKey(try zipKey.string(), at: zipKey.mark))
                        columns.append(try SweepSpec.values(list, key: try zipKey.string()))
                        marks.append(zipKey.mark)
                    }
                    guard let count = columns.first?.count else { throw YAMLError("'sweep.zip' lists no keys", at: value.mark) }
                    if let bad = columns.firstIndex(where: { $0.count != count }) {
                        throw YAMLError("zipped lists must have equal lengths: '\(keys[0].joined(separator: "."))' has \(count) values, " +
                                        "'\(keys[bad].joined(separator: "."))' has \(columns[bad].count)", at: marks[bad])
                    }
                    axes.append(Axis(keys: keys, values: (0..<count).map { i in columns.map { $0[i] } }, marks: marks,
                                     sources: marks.map(\.description)))
                } else {
                    let key = try SweepSpec.dottedKey(keyText, at: keyNode.mark)
                    axes.append(Axis(keys: [key], values: try SweepSpec.values(value, key: keyText).map { [$0] },
                                     marks: [keyNode.mark], sources: [keyNode.mark.description]))
                }
            }
            search = try SweepSearch(settings: settings, ranges: ranges, sweepMark: node.mark)
        }
        for override in multirun {
            let mark = Mark(path: override.source, line: 1, column: 4)
            axes.append(Axis(keys: [override.key], values: override.values.map { [$0] }, marks: [mark], sources: [override.source]))
        }
        var seen: [String: Mark] = [:]
        for (key, mark) in axes.flatMap({ zip($0.keys, $0.marks) }) + search.ranges.map({ ($0.key, $0.mark) }) {
            let text = key.joined(separator: ".")
            if let first = seen[text] { throw YAMLError("'\(text)' is swept twice (first at \(first))", at: mark) }
            seen[text] = mark
        }
        if search.kind == .random && seen.isEmpty {
            throw YAMLError("a random search needs something to draw: a range like train.lr: {log: [1.0e-4, 0.1]} or a list of values",
                            at: search.mark ?? node?.mark ?? Mark(path: "sweep", line: 1, column: 1))
        }
        if let halving = search.halving, let count = pointCount, count < 2 {
            throw YAMLError("halving compares points, and this sweep has \(count); sweep two or more", at: halving.mark)
        }
    }

    /// Whether the sweep sets anything (axes, ranges or a random search).
    public var isEmpty: Bool { axes.isEmpty && search.ranges.isEmpty }

    static func dottedKey(_ text: String, at mark: Mark) throws -> [String] {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty }) else { throw YAMLError("'\(text)' is not a dotted key like train.lr", at: mark) }
        guard !["sweep", "extends"].contains(parts[0]) else { throw YAMLError("'\(parts[0])' cannot be swept", at: mark) }
        return parts
    }

    static func values(_ node: YAMLNode, key: String) throws -> [YAMLNode] {
        guard case .sequence(let items, _) = node else {
            throw YAMLError("sweep values for '\(key)' must be a list, found \(node.kindDescription)", at: node.mark)
        }
        guard !items.isEmpty else { throw YAMLError("sweep values for '\(key)' are empty", at: node.mark) }
        return items
    }

    /// The number of points (1 when there are no axes); nil when it does not fit in an Int.
    public var pointCount: Int? {
        if let samples = search.samples { return samples }
        return axes.reduce(1 as Int?) { count, axis in
            count.flatMap { count in
                let (product, overflow) = count.multipliedReportingOverflow(by: axis.values.count)
                return overflow ? nil : product
            }
        }
    }

    /// The most points a sweep expands to unless `--max-points` says otherwise.
    public static let defaultMaximumPoints = 1000

    /// Refuses a sweep of more than `limit` points, naming each axis' size and where it is declared.
    func requirePointCount(atMost limit: Int) throws {
        if let count = pointCount, count <= limit { return }
        let sizes = axes.map { "\($0.values.count) (\($0.keys.map { $0.joined(separator: ".") }.joined(separator: "+")))" }
        let total = pointCount.map(String.init) ?? "more than \(Int.max)"
        throw YAMLError("the sweep has \(total) points (\(sizes.joined(separator: " × "))); at most \(limit) are expanded — "
                        + "narrow an axis, or pass --max-points N to allow more", at: axes.first?.marks.first ?? Mark(path: "sweep", line: 1, column: 1))
    }

    /// Every point as its assignments (key, value, mark of the key): the grid's, the first axis varying
    /// slowest, or the random search's draws.
    public func points() throws -> [[SweepAssignment]] {
        if let samples = search.samples { return try randomPoints(samples) }
        var result: [[SweepAssignment]] = [[]]
        for axis in axes {
            result = result.flatMap { prefix in
                axis.values.map { step in
                    prefix + zip(axis.keys.indices, step).map { SweepAssignment(key: axis.keys[$0], value: $1, keyMark: axis.marks[$0]) }
                }
            }
        }
        return result
    }
}

extension SweepSpec {
    /// `count` points, point i drawn from (seed, i): one value of each list (a zipped axis moves
    /// together) and one from each range. A point that repeats an earlier one is drawn again.
    func randomPoints(_ count: Int) throws -> [[SweepAssignment]] {
        var points: [[SweepAssignment]] = [], labels: Set<String> = []
        for index in 0..<count {
            var attempt: UInt64 = 0
            while true {
                var rng = RandomGenerator(seed: mixSeed(search.seed, UInt64(index), attempt))
                var point: [SweepAssignment] = []
                for axis in axes {
                    let step = axis.values[Int(rng.next() % UInt64(axis.values.count))]
                    point += zip(axis.keys.indices, step).map { SweepAssignment(key: axis.keys[$0], value: $1, keyMark: axis.marks[$0]) }
                }
                for range in search.ranges { point.append(SweepAssignment(key: range.key, value: range.draw(&rng), keyMark: range.mark)) }
                if labels.insert(point.label).inserted { points.append(point); break }
                attempt += 1
                guard attempt < 1000 else {
                    throw YAMLError("the random search cannot draw \(count) distinct points (point \(index + 1) repeats earlier ones 1000 times): "
                                    + "widen its ranges or lists, or lower samples", at: search.mark ?? Mark(path: "sweep", line: 1, column: 1))
                }
            }
        }
        return points
    }
}

/// One key set by a sweep point.
public struct SweepAssignment: Sendable {
    public var key: [String]
    public var value: YAMLNode
    public var keyMark: Mark

    /// The override that applies it.
    var override: Override {
        Override(mode: .set, key: key, value: value, source: "sweep \(key.joined(separator: "."))", keyMark: keyMark)
    }
}

extension Array where Element == SweepAssignment {
    /// `fca=0.005,lr=10`: the last key component (the full key where two axes share it) = the value.
    public var label: String {
        let lasts = map { $0.key.last! }
        return map { assignment -> String in
            let short = assignment.key.last!
            let name = lasts.filter { $0 == short }.count > 1 ? assignment.key.joined(separator: ".") : short
            var value = assignment.value.canonicalJSON()
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return "\(name)=\(value)"
        }.joined(separator: ",")
    }
}
