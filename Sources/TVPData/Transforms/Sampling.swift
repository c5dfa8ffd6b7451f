import TVPTensor

/// How many examples of each class `Sampling.perClass` takes.
public enum PerClassAmount: Equatable, Sendable {
    /// k examples of every class (the official `sample_indices(few_shot=k)`).
    case count(Int)
    /// int(fraction · class size) examples of each class (the official `sample_percent_indices`,
    /// and `SampledCIFAR10(percentage)` for the validation subset).
    case fraction(Double)
}

/// Seeded data order and subsets, as index lists for `LabeledImageBatches.load` or
/// `MultipleChoiceSet.load`. Every result depends only on its arguments (our `RandomGenerator`, not
/// Python's, so the indices differ from the official run's while following the same rules).
public enum Sampling {
    /// A permutation of 0..<count for `epoch` (Fisher–Yates): the same seed and epoch give the same
    /// order, different epochs different orders (PyTorch's `DataLoader(shuffle=True)` reshuffles
    /// every epoch).
    public static func shuffledIndices(count: Int, seed: UInt64, epoch: Int = 0) -> [Int] {
        var rng = RandomGenerator(seed: epochSeed(seed, epoch))
        var indices = Array(0..<max(count, 0))
        shuffle(&indices, using: &rng)
        return indices
    }

    /// Shuffles `indices` in place (Fisher–Yates from the last position down, as Python's
    /// `random.shuffle`).
    public static func shuffle(_ indices: inout [Int], using rng: inout RandomGenerator) {
        if indices.count < 2 { return }
        for i in stride(from: indices.count - 1, to: 0, by: -1) {
            indices.swapAt(i, randomIndex(below: i + 1, using: &rng))
        }
    }

    /// A class-balanced subset as the official code draws it: for each class present in `labels`, in
    /// ascending label order, `amount` indices of that class — with replacement (`random.choices`,
    /// the official behaviour: duplicates possible) or without (`random.sample`: distinct, and the
    /// amount must not exceed the class size) — then, if `shuffled`, the concatenation is shuffled.
    /// Without shuffling, each class's indices keep the order they were drawn in.
    public static func perClass(labels: [Int], amount: PerClassAmount, replacement: Bool, seed: UInt64,
                                shuffled: Bool = true) throws -> [Int] {
        let op = "Sampling.perClass"
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw TensorError(op, "label \(labels[bad]) at index \(bad) is negative")
        }
        switch amount {
        case let .count(k): try require(k >= 0, op, "count \(k) must be non-negative")
        case let .fraction(f): try require(f >= 0 && f <= 1, op, "fraction \(f) is outside [0, 1]")
        }
        var members: [Int: [Int]] = [:]
        for (i, label) in labels.enumerated() { members[label, default: []].append(i) }
        var rng = RandomGenerator(seed: seed)
        var chosen: [Int] = []
        for label in members.keys.sorted() {
            let pool = members[label]!
            let k: Int
            switch amount {
            case let .count(n): k = n
            case let .fraction(f): k = Int(f * Double(pool.count))
            }
            if replacement {
                for _ in 0..<k { chosen.append(pool[randomIndex(below: pool.count, using: &rng)]) }
            } else {
                try require(k <= pool.count, op,
                            "class \(label) has \(pool.count) examples, fewer than the \(k) asked for without replacement")
                // Partial Fisher–Yates: the first k positions become a uniform sample in draw order.
                var rest = pool
                for i in 0..<k {
                    rest.swapAt(i, i + randomIndex(below: rest.count - i, using: &rng))
                    chosen.append(rest[i])
                }
            }
        }
        if shuffled { shuffle(&chosen, using: &rng) }
        return chosen
    }

    /// `indices` cut into consecutive batches of `size`; the last, shorter one is kept unless
    /// `dropLast`.
    public static func batches(_ indices: [Int], size: Int, dropLast: Bool = false) throws -> [[Int]] {
        try require(size >= 1, "Sampling.batches", "batch size \(size) must be positive")
        var out: [[Int]] = []
        var start = 0
        while start < indices.count {
            let end = min(start + size, indices.count)
            if end - start < size && dropLast { break }
            out.append(Array(indices[start..<end]))
            start = end
        }
        return out
    }

    /// The generator seed of one epoch: `seed` and `epoch` mixed so neighbouring epochs are unrelated.
    static func epochSeed(_ seed: UInt64, _ epoch: Int) -> UInt64 {
        seed ^ (UInt64(bitPattern: Int64(epoch)) &* 0xD1B5_4A32_D192_ED03)
    }
}
