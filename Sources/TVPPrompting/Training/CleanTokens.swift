import TVPTensor

/// Identifies the clean images of one training batch: the samples and the augmentation draw that
/// produced them (nil without augmentation, when the same samples always give the same images).
public struct CleanBatchKey: Hashable, Codable, Sendable {
    public var indices: [Int]
    public var augmentationSeed: UInt64?

    public init(indices: [Int], augmentationSeed: UInt64?) {
        self.indices = indices
        self.augmentationSeed = augmentationSeed
    }
}

/// Supplies the surrogates' clean visual tokens for FCA, so they can be computed once and reused
/// across epochs, sweep points and resumed runs (a pipeline stage can back it with files).
public protocol CleanTokenProvider: AnyObject {
    /// The tokens [B, T, D] of `surrogate` for the clean images of `batch`, or nil when unknown
    /// (the trainer then computes them and calls `store`).
    func tokens(surrogate: String, batch: CleanBatchKey) throws -> Tensor?
    func store(_ tokens: Tensor, surrogate: String, batch: CleanBatchKey) throws
}

/// An in-memory `CleanTokenProvider`.
public final class CleanTokenCache: CleanTokenProvider {
    private var entries: [String: [CleanBatchKey: Tensor]] = [:]

    public init() {}

    /// How many batches are cached, over all surrogates.
    public var count: Int { entries.values.reduce(0) { $0 + $1.count } }

    public func tokens(surrogate: String, batch: CleanBatchKey) -> Tensor? { entries[surrogate]?[batch] }

    public func store(_ tokens: Tensor, surrogate: String, batch: CleanBatchKey) {
        entries[surrogate, default: [:]][batch] = tokens.detached()
    }
}
