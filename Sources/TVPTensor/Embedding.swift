// Embedding lookup; forward and backward side by side.
// Shapes: ids [...] (any shape, given explicitly), table [V, D], out [..., D].
// forward:  out[p] = table[ids[p]]
// backward: dTable[ids[p]] += dOut[p]   (only when the table requires grad; ids repeat freely)

/// Looks up rows of `table` [V, D] for token ids laid out as `shape` (e.g. [B, N]); returns
/// `shape + [D]`. An id outside 0..<V throws, naming the id, its position and V.
public func embedding(ids: [Int32], shape: [Int], table: Tensor) throws -> Tensor {
    try checkEmbeddingShapes(count: ids.count, shape: shape, table: table)
    return try gatherRowsCore("embedding", table: table, ids: ids, idsShape: shape, outShape: shape + [table.shape[1]])
}

/// `embedding` for `Int` ids.
public func embedding(ids: [Int], shape: [Int], table: Tensor) throws -> Tensor {
    try checkEmbeddingShapes(count: ids.count, shape: shape, table: table)
    return try gatherRowsCore("embedding", table: table, ids: ids, idsShape: shape, outShape: shape + [table.shape[1]])
}

private func checkEmbeddingShapes(count: Int, shape: [Int], table: Tensor) throws {
    try require(table.rank == 2, "embedding", "table must be [V, D], got \(describe(table.shape))")
    try require(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == count, "embedding",
                "\(count) ids do not fill shape \(describe(shape)) (\(shape.reduce(1, *)) needed)")
}
