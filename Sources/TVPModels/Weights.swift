import TVPTensor

/// A named set of tensors being turned into a model. Architectures `take` each tensor by its
/// checkpoint name with the shape they expect; afterwards `finish()` fails on any key never taken,
/// so a wrong checkpoint cannot half-load silently.
public final class Weights {
    public let source: String
    private var tensors: [String: Tensor]
    private var taken: Set<String> = []

    /// `source` names where the tensors came from (a file path) for error messages.
    public init(_ tensors: [String: Tensor], source: String) {
        self.tensors = tensors
        self.source = source
    }

    public var keys: [String] { tensors.keys.sorted() }

    public func contains(_ key: String) -> Bool { tensors[key] != nil }

    /// The tensor stored under `key`, checked against `shape` when given (-1 matches any size).
    public func take(_ key: String, shape: [Int]? = nil) throws -> Tensor {
        guard let t = tensors[key] else {
            let near = tensors.keys.filter { $0.hasSuffix(key.split(separator: ".").last.map(String.init) ?? key) }.sorted().prefix(3)
            throw TensorError("weights", "\(source): missing tensor '\(key)'" + (near.isEmpty ? "" : " (similar keys: \(near.joined(separator: ", ")))"))
        }
        if let shape {
            let fits = shape.count == t.shape.count && zip(shape, t.shape).allSatisfy { $0 == -1 || $0 == $1 }
            try require(fits, "weights", "\(source): tensor '\(key)' has shape \(describe(t.shape)), expected \(describe(shape))")
        }
        taken.insert(key)
        return t
    }

    /// Like `take`, but nil when the key is absent.
    public func takeIfPresent(_ key: String, shape: [Int]? = nil) throws -> Tensor? {
        contains(key) ? try take(key, shape: shape) : nil
    }

    /// Marks keys as deliberately unused (buffers a model recomputes, for instance).
    public func ignore(where predicate: (String) -> Bool) {
        for key in tensors.keys where predicate(key) { taken.insert(key) }
    }

    /// Throws if any tensor was never taken.
    public func finish() throws {
        let unused = tensors.keys.filter { !taken.contains($0) }.sorted()
        try require(unused.isEmpty, "weights", "\(source): \(unused.count) unused tensor(s): \(unused.prefix(5).joined(separator: ", "))\(unused.count > 5 ? ", …" : "")")
    }
}
