import Foundation
import TVPTensor

/// Feature Consistency Alignment: the mean over batch and tokens of the L2 norm (not squared) of
/// the difference between prompted and clean visual tokens, both [B, N, D] (or [B, D]).
/// The clean tokens are constant (computed once, cacheable), so no gradient flows to them.
public func featureConsistencyLoss(prompted: Tensor, clean: Tensor) throws -> Tensor {
    try require(prompted.shape == clean.shape, "featureConsistencyLoss",
                "prompted features \(describe(prompted.shape)) and clean features \(describe(clean.shape)) differ")
    return try l2Norm(prompted - clean.detached(), axis: -1).mean()
}

/// Task Semantics Enrichment score: min(exp(logitScale), 100) × the cosine similarity between each
/// prompted image's guide features [B, E] and its ground-truth caption's text features [B, E],
/// averaged over the batch. The training loss subtracts `tse ×` this score.
public func taskSemanticsScore(imageFeatures: Tensor, textFeatures: Tensor, logitScale: Float) throws -> Tensor {
    try require(imageFeatures.rank == 2 && imageFeatures.shape == textFeatures.shape, "taskSemanticsScore",
                "image features \(describe(imageFeatures.shape)) and text features \(describe(textFeatures.shape)) should both be [B, E]")
    let scale = min(Float(Foundation.exp(Double(logitScale))), 100)
    return try cosineSimilarity(imageFeatures, textFeatures.detached(), axis: -1).mean() * scale
}

/// The TVP objective: task + fca · FCA − tse · TSE. Terms with weight 0 may be nil.
public func transferObjective(task: Tensor, fca: Float, featureConsistency: Tensor?, tse: Float, taskSemantics: Tensor?) throws -> Tensor {
    var total = task
    if fca != 0 {
        guard let featureConsistency else { throw TensorError("transferObjective", "fca = \(fca) but no feature-consistency term was computed") }
        total = try total + featureConsistency * fca
    }
    if tse != 0 {
        guard let taskSemantics else { throw TensorError("transferObjective", "tse = \(tse) but no task-semantics term was computed") }
        total = try total - taskSemantics * tse
    }
    return total
}
