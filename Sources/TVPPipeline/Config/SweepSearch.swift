import Foundation
import TVPFormats
import TVPPrompting
import TVPTensor

/// How a sweep picks its points and whether it stops bad ones early. Declared among the sweep's axes:
///
/// ```yaml
/// sweep:
///   search: random                  # grid (default: every combination) or random
///   samples: 8                      # random: points drawn
///   seed: 0                         # random: the draws' seed (default 0)
///   train.lr: {log: [1.0e-4, 0.03]} # random: a range, log-uniform; also {uniform: [a, b]}, {int: [a, b]}
///   train.optimizer: [adam, sgd]    # a list: a grid axis, or (random) one value drawn per point
///   prune: halving                  # successive halving on the validation accuracy
///   rungs: [8, 16, 32]              # halving: training steps at which the points are compared
///   keep: 0.5                       # halving: the fraction of points that go on after each rung (default 0.5)
/// ```
///
/// Drawn numbers keep three significant digits (labels stay readable). Point i is drawn from
/// (seed, i) alone, so `samples: 16` begins with the 8 points of `samples: 8`.
public struct SweepSearch: Sendable {
    public enum Kind: String, Sendable { case grid, random }

    /// A declared range of a random search.
    public struct Range: Sendable {
        public enum Distribution: String, Sendable, CaseIterable { case log, uniform, int }
        public var key: [String]
        public var distribution: Distribution
        public var low: Double, high: Double
        public var mark: Mark

        /// One value drawn from `rng`, as the YAML scalar a point sets.
        func draw(_ rng: inout RandomGenerator) -> YAMLNode {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let text: String
            switch distribution {
            case .int: text = String(Int(low) + min(Int(u * (high - low + 1)), Int(high - low)))
            case .uniform: text = String(format: "%.3g", low + u * (high - low))
            case .log: text = String(format: "%.3g", exp(log(low) + u * (log(high) - log(low))))
            }
            return .scalar(text, YAMLScalarInfo(), mark)
        }
    }

    public var kind = Kind.grid
    /// Random: the number of points drawn.
    public var samples: Int?
    public var seed: UInt64 = 0
    public var ranges: [Range] = []
    public var halving: HalvingSpec?
    /// Where `search:` is written (or the sweep, when it is not).
    public var mark: Mark?

    /// The keys of the search's settings, which the `sweep:` mapping holds beside its axes.
    static let settings: Set<String> = ["search", "samples", "seed", "prune", "rungs", "keep"]

    init() {}

    /// Reads the settings (key → (key node, value)) and the `{log|uniform|int: [a, b]}` ranges.
    init(settings: [String: (key: YAMLNode, value: YAMLNode)], ranges: [(key: YAMLNode, value: YAMLNode)], sweepMark: Mark) throws {
        mark = settings["search"]?.key.mark ?? sweepMark
        if let (_, value) = settings["search"] {
            guard let kind = Kind(rawValue: try value.string()) else {
                throw YAMLError("'search' is grid (every combination of the lists) or random (samples: N points drawn), not '\(value.scalarText ?? "")'",
                                at: value.mark)
            }
            self.kind = kind
        }
        for name in ["samples", "seed"] {
            if kind == .grid, let (key, _) = settings[name] {
                throw YAMLError("'\(name)' belongs to a random search: add search: random, or remove it", at: key.mark)
            }
        }
        if let (_, value) = settings["samples"] {
            let count = try value.int()
            guard count >= 1 else { throw YAMLError("'samples' is the number of points drawn, at least 1; found \(count)", at: value.mark) }
            samples = count
        } else if kind == .random {
            throw YAMLError("search: random needs samples: N, the number of points to draw", at: mark!)
        }
        if let (_, value) = settings["seed"] {
            let seed = try value.int()
            guard seed >= 0 else { throw YAMLError("'seed' of the random search is an integer >= 0; found \(seed)", at: value.mark) }
            self.seed = UInt64(seed)
        }
        for (key, value) in ranges {
            let keyText = try key.string()
            guard kind == .random else {
                throw YAMLError("'\(keyText)' declares a range, which only a random search draws from: add search: random and samples: N, " +
                                "or give a list of values", at: key.mark)
            }
            self.ranges.append(try Range(key: SweepSpec.dottedKey(keyText, at: key.mark), node: value))
        }
        halving = try HalvingSpec(settings: settings)
    }
}

extension SweepSearch.Range {
    /// `{log: [1.0e-4, 0.1]}`, `{uniform: [0, 0.01]}` or `{int: [1, 4]}`.
    init(key: [String], node: YAMLNode) throws {
        let name = key.joined(separator: ".")
        let kinds = Distribution.allCases.map(\.rawValue)
        let entries = try node.entries()
        guard entries.count == 1, let kindText = entries[0].key.scalarText, let distribution = Distribution(rawValue: kindText) else {
            throw YAMLError("the range of '\(name)' is one of {log: [LOW, HIGH]}, {uniform: [LOW, HIGH]} or {int: [LOW, HIGH]}; found keys "
                            + entries.map { $0.key.scalarText ?? "?" }.joined(separator: ", ") + " (known: \(kinds.joined(separator: ", ")))", at: node.mark)
        }
        let bounds = entries[0].value
        let items = try bounds.items()
        guard items.count == 2 else {
            throw YAMLError("the range of '\(name)' needs two bounds, [LOW, HIGH]; found \(items.count) values", at: bounds.mark)
        }
        let low = distribution == .int ? Double(try items[0].int()) : try items[0].double()
        let high = distribution == .int ? Double(try items[1].int()) : try items[1].double()
        guard low.isFinite, high.isFinite, low < high else {
            throw YAMLError("the range of '\(name)' is empty or not finite: [\(items[0].scalarText ?? ""), \(items[1].scalarText ?? "")]; "
                            + "write [LOW, HIGH] with LOW < HIGH", at: bounds.mark)
        }
        if distribution == .log && low <= 0 {
            throw YAMLError("the log range of '\(name)' must have positive bounds (it draws log-uniformly); found \(items[0].scalarText ?? "")",
                            at: items[0].mark)
        }
        self.init(key: key, distribution: distribution, low: low, high: high, mark: node.mark)
    }
}

/// Successive halving (`prune: halving`): every point trains to the first rung's step count; the
/// points whose best validation point so far ranks in the top `keep` fraction train on to the next
/// rung, continuing where they stopped; and so on. The points that reach the last rung are evaluated
/// as any sweep point; the others are reported with the rung they reached. Run by `HalvingSearch`.
public struct HalvingSpec: Sendable, Equatable {
    /// Training steps at which the points are ranked, increasing.
    public var rungs: [Int]
    /// The fraction of the ranked points that go on after each rung (rounded up, at least one).
    public var keep: Double
    /// Where `prune:` and `rungs:` are written.
    public var mark: Mark
    public var rungsMark: Mark

    /// Reads `prune`, `rungs` and `keep` (nil without `prune:`).
    init?(settings: [String: (key: YAMLNode, value: YAMLNode)]) throws {
        guard let (pruneKey, prune) = settings["prune"] else {
            for name in ["rungs", "keep"] {
                if let (key, _) = settings[name] { throw YAMLError("'\(name)' belongs to pruning: add prune: halving, or remove it", at: key.mark) }
            }
            return nil
        }
        let kind = try prune.string()
        if kind == "none" {
            for name in ["rungs", "keep"] {
                if let (key, _) = settings[name] { throw YAMLError("'\(name)' belongs to pruning, and prune is none: remove it", at: key.mark) }
            }
            return nil
        }
        guard kind == "halving" else { throw YAMLError("'prune' is halving (successive halving on the validation accuracy) or none; found '\(kind)'", at: prune.mark) }
        guard let (rungsKey, rungsNode) = settings["rungs"] else {
            throw YAMLError("prune: halving needs rungs: [S1, S2, …], the training steps at which the points are compared (e.g. [8, 16, 32])",
                            at: pruneKey.mark)
        }
        let rungs = try rungsNode.items().map { try $0.int() }
        guard rungs.count >= 2 else {
            throw YAMLError("halving needs at least two rungs (points are pruned between them); found \(rungs.count)", at: rungsNode.mark)
        }
        guard rungs[0] >= 1, zip(rungs, rungs.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw YAMLError("rungs are training step counts, positive and increasing, like [8, 16, 32]; found \(rungs)", at: rungsNode.mark)
        }
        keep = 0.5
        if let (_, node) = settings["keep"] {
            keep = try node.double()
            guard keep > 0 && keep < 1 else {
                throw YAMLError("'keep' is the fraction of points that go on after each rung, between 0 and 1 (0.5 halves them); found \(keep)",
                                at: node.mark)
            }
        }
        self.rungs = rungs
        mark = pruneKey.mark
        rungsMark = rungsKey.mark
    }

    /// How many of `count` ranked points go on to the next rung.
    public func survivors(of count: Int) -> Int { min(count, max(1, Int((Double(count) * keep).rounded(.up)))) }
}
