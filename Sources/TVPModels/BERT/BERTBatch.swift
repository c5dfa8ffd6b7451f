import TVPTensor
/// A right-padded batch of token-id sequences for `BERTEncoder`: ids [B, N] row-major, and how many
/// leading tokens of each row are real (the rest are padding, masked out as attention keys and
/// left out of mean pooling). Ids come from a WordPiece tokenizer ([CLS] … [SEP] for BERT).
public struct BERTBatch: Equatable, Sendable {
    /// Token ids [B, N], row-major; positions at or past a row's length hold padding.
    public let ids: [Int32]
    /// Token types (segments) [B, N], or nil for all zeros (single-sentence input).
    public let tokenTypeIDs: [Int32]?
    /// B and N.
    public let batchSize: Int, tokens: Int
    /// Valid tokens per row, each in 1...N.
    public let lengths: [Int]

    /// A batch from ids laid out as [batchSize, tokens]; throws when the counts do not fit or a
    /// length is outside 1...tokens.
    public init(ids: [Int32], batchSize: Int, tokens: Int, lengths: [Int], tokenTypeIDs: [Int32]? = nil) throws {
        let op = "BERTBatch"
        try require(batchSize > 0 && tokens > 0, op, "batch size \(batchSize) and tokens \(tokens) must be positive")
        try require(ids.count == batchSize * tokens, op, "\(ids.count) ids do not fill [B, N] = \(describe([batchSize, tokens]))")
        try require(lengths.count == batchSize, op, "\(lengths.count) lengths for a batch of \(batchSize)")
        for (b, n) in lengths.enumerated() {
            try require(n >= 1 && n <= tokens, op, "row \(b) has length \(n), expected 1...\(tokens)")
        }
        if let types = tokenTypeIDs {
            try require(types.count == ids.count, op, "\(types.count) token types for \(ids.count) ids [B, N] = \(describe([batchSize, tokens]))")
        }
        (self.ids, self.batchSize, self.tokens, self.lengths, self.tokenTypeIDs) = (ids, batchSize, tokens, lengths, tokenTypeIDs)
    }

    /// Pads `sequences` on the right with `padID` to the longest one. `tokenTypes`, when given,
    /// must match the sequences one for one (padded with 0).
    public init(sequences: [[Int32]], padID: Int32 = 0, tokenTypes: [[Int32]]? = nil) throws {
        let op = "BERTBatch"
        try require(!sequences.isEmpty && sequences.allSatisfy { !$0.isEmpty }, op, "needs at least one sequence, none empty")
        if let tokenTypes {
            try require(tokenTypes.map(\.count) == sequences.map(\.count), op,
                        "token type lengths \(tokenTypes.map(\.count)) differ from sequence lengths \(sequences.map(\.count))")
        }
        let n = sequences.map(\.count).max()!
        var ids: [Int32] = [], types: [Int32] = []
        ids.reserveCapacity(sequences.count * n)
        for (b, s) in sequences.enumerated() {
            ids += s + Array(repeating: padID, count: n - s.count)
            if let tokenTypes { types += tokenTypes[b] + Array(repeating: 0, count: n - s.count) }
        }
        try self.init(ids: ids, batchSize: sequences.count, tokens: n, lengths: sequences.map(\.count),
                      tokenTypeIDs: tokenTypes == nil ? nil : types)
    }

    /// A batch from a tokenizer's [B, N] `attention_mask` (1 = token, 0 = padding). Each row must be
    /// ones then zeros (right padding), with at least one token.
    public init(ids: [Int32], attentionMask: [Int32], batchSize: Int, tokens: Int, tokenTypeIDs: [Int32]? = nil) throws {
        try require(attentionMask.count == batchSize * tokens, "BERTBatch",
                    "attention mask has \(attentionMask.count) values, expected [B, N] = \(describe([batchSize, tokens]))")
        var lengths: [Int] = []
        for b in 0..<batchSize {
            let row = attentionMask[(b * tokens)..<((b + 1) * tokens)]
            let length = row.prefix { $0 == 1 }.count
            try require(row.dropFirst(length).allSatisfy { $0 == 0 }, "BERTBatch",
                        "attention mask row \(b) is not ones followed by zeros (only right padding is supported): \(Array(row))")
            lengths.append(length)
        }
        try self.init(ids: ids, batchSize: batchSize, tokens: tokens, lengths: lengths, tokenTypeIDs: tokenTypeIDs)
    }
}

/// sentence-transformers mean pooling: the average of `hidden` [B, N, D] over the first
/// `lengths[b]` tokens of each row → [B, D]. One batched product with a [B, 1, N] weight row
/// (1 / length on valid tokens, 0 on padding), so padding positions get no gradient.
public func meanPooling(_ hidden: Tensor, lengths: [Int]) throws -> Tensor {
    try require(hidden.rank == 3, "meanPooling", "hidden must be [B, N, D], got \(describe(hidden.shape))")
    let (b, n, d) = (hidden.dim(0), hidden.dim(1), hidden.dim(2))
    try require(lengths.count == b && lengths.allSatisfy { $0 >= 1 && $0 <= n }, "meanPooling",
                "lengths \(lengths) must give one value in 1...\(n) per row of \(describe(hidden.shape))")
    let average = Tensor(zeros: [b, 1, n])
    for (row, length) in lengths.enumerated() {
        (average.data + row * n).update(repeating: 1 / Float(length), count: length)
    }
    return try matmul(average, hidden).reshaped([b, d])
}
