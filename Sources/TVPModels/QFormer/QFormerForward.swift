// The Q-Former forward pass (HF Blip2QFormerModel / InstructBlipQFormerModel, eval mode).
// Shapes: B batch, Q queries, T instruction tokens, D width, Ni image tokens, Dv image width, H heads.
//
// embeddings:  x = LN(queries)                                      BLIP-2          [B, Q, D]
//              x = LN(concat(queries, words[ids] + positions[0..<T])) InstructBLIP  [B, Q + T, D]
// per layer:   a = LN(a_in + dense(attention(x, x)))                 (text padding hidden as keys)
//              q = a[:, :Q];  q = LN(q + dense(attention(q, image)))  (cross-attention layers only)
//              x = concat(ffn_query(q), ffn_text(a[:, Q:]))           ffn(y) = LN(y + output(gelu(intermediate(y))))
// output:      x[:, :Q]
//
// Only the query positions leave the module, so the last layer computes attention outputs and
// feed-forwards for the Q query rows alone (keys and values still come from every position).

import TVPTensor

extension QFormer {
    /// The Q query outputs [B, Q, D] (HF `last_hidden_state[:, :Q]`).
    ///
    /// - queries: the learned query tokens, [1, Q, D] (shared, broadcast over the batch) or [B, Q, D].
    /// - imageFeatures: [B, Ni, Dv], the vision tower's output; every image token is a key.
    /// - instruction: InstructBLIP's instruction tokens (BERT WordPiece ids, right-padded; padding is
    ///   hidden as attention keys); nil runs the queries alone. Throws when this Q-Former reads no
    ///   instruction but one is given.
    public func callAsFunction(queries: Tensor, imageFeatures image: Tensor, instruction: BERTBatch? = nil) throws -> Tensor {
        guard let instruction else { return try callAsFunction(queries: queries, imageFeatures: image, instructionWords: nil, lengths: []) }
        guard let wordEmbeddings else {
            throw TensorError("QFormer", acceptsInstruction ? "this Q-Former has no word table: hand the instruction in as word vectors (instructionWords:)"
                                                            : "this Q-Former (BLIP-2) reads no instruction; only InstructBLIP's does")
        }
        try require(instruction.batchSize == image.dim(0), "QFormer", "instruction batch \(instruction.batchSize) differs from image batch \(image.dim(0))")
        let words = try embedding(ids: instruction.ids, shape: [instruction.batchSize, instruction.tokens], table: wordEmbeddings)
        return try callAsFunction(queries: queries, imageFeatures: image, instructionWords: words, lengths: instruction.lengths)
    }

    /// The Q query outputs [B, Q, D] for an instruction given as word vectors `instructionWords`
    /// [B, T, D] (before the position table is added; right-padded, row b valid up to `lengths[b]`),
    /// or for the queries alone when nil.
    public func callAsFunction(queries: Tensor, imageFeatures image: Tensor, instructionWords: Tensor?, lengths: [Int]) throws -> Tensor {
        let op = "QFormer", c = config, d = c.hiddenSize
        try require(image.rank == 3 && image.dim(2) == c.encoderHiddenSize && image.dim(0) > 0 && image.dim(1) > 0, op,
                    "image features \(describe(image.shape)) should be [B, Ni, \(c.encoderHiddenSize)]")
        let b = image.dim(0)
        try require(queries.rank == 3 && queries.dim(2) == d && queries.dim(1) > 0 && (queries.dim(0) == 1 || queries.dim(0) == b), op,
                    "queries \(describe(queries.shape)) should be [1, Q, \(d)] or [\(b), Q, \(d)]")
        let q = queries.dim(1)
        var x = queries.dim(0) == b ? queries : try queries.broadcast(to: [b, q, d])
        var mask: AttentionMask?
        var t = 0
        if let words = instructionWords {
            guard let positionEmbeddings else { throw TensorError(op, "this Q-Former (BLIP-2) reads no instruction; only InstructBLIP's does") }
            t = words.rank == 3 ? words.dim(1) : 0
            try require(words.rank == 3 && words.dim(0) == b && t > 0 && words.dim(2) == d, op,
                        "instruction words \(describe(words.shape)) should be [\(b), T, \(d)]")
            try require(lengths.count == b && lengths.allSatisfy { (1...t).contains($0) }, op, "instruction lengths \(lengths) should be \(b) values in 1...\(t)")
            try require(t <= c.maxPositionEmbeddings, op, "instruction of \(t) tokens; the position table holds \(c.maxPositionEmbeddings)")
            x = try concat([x, words + slice(positionEmbeddings, axis: 0, range: 0..<t)], axis: 1)
            if lengths.contains(where: { $0 < t }) {
                mask = .keyLengths(lengths.map { q + $0 }, keys: q + t)
            }
        }
        x = try layerNorm(x, weight: embeddingNormWeight, bias: embeddingNormBias, eps: c.layerNormEps)
        for (index, layer) in layers.enumerated() {
            x = try forward(layer, x, queries: q, image: image, mask: mask, last: index == layers.count - 1)
        }
        return t > 0 && layers.isEmpty ? try slice(x, axis: 1, range: 0..<q) : x
    }

    /// One layer on x [B, Q + T, D] → [B, Q + T, D], or → [B, Q, D] when `last`.
    func forward(_ l: Layer, _ x: Tensor, queries q: Int, image: Tensor, mask: AttentionMask?, last: Bool) throws -> Tensor {
        let n = x.dim(1)
        let attended = try attend(l.selfAttention, x, context: x, mask: mask, rows: last ? q : n)
        var queryPart = attended.dim(1) == q ? attended : try slice(attended, axis: 1, range: 0..<q)
        if let cross = l.crossAttention {
            queryPart = try attend(cross, queryPart, context: image, mask: nil, rows: q)
        }
        let queryOut = try feedForward(l.queryFeedForward, queryPart)
        guard attended.dim(1) > q, let text = l.textFeedForward else { return queryOut }
        let textOut = try feedForward(text, slice(attended, axis: 1, range: q..<n))
        return try concat([queryOut, textOut], axis: 1)
    }

    /// LN(x' + dense(attention(query(x'), key(context), value(context)))) with x' the first `rows`
    /// positions of x [B, N, D]; context [B, Nk, Dk] → [B, rows, D].
    func attend(_ a: Attention, _ x: Tensor, context: Tensor, mask: AttentionMask?, rows: Int) throws -> Tensor {
        let h = config.numAttentionHeads
        let input = rows == x.dim(1) ? x : try slice(x, axis: 1, range: 0..<rows)
        let query = try splitHeads(a.query(input), heads: h)                  // [B, H, rows, Dh]
        let key = try splitHeads(a.key(context), heads: h)                    // [B, H, Nk, Dh]
        let value = try splitHeads(a.value(context), heads: h)
        let attended = try mergeHeads(scaledDotProductAttention(q: query, k: key, v: value, mask: mask))
        return try layerNorm(a.output(attended) + input, weight: a.normWeight, bias: a.normBias, eps: config.layerNormEps)
    }

    /// LN(y + output(gelu(intermediate(y)))) on y [B, N, D].
    func feedForward(_ f: FeedForward, _ y: Tensor) throws -> Tensor {
        let inner = try gelu(f.intermediate(y), approximate: .none)
        return try layerNorm(f.output(inner) + y, weight: f.normWeight, bias: f.normBias, eps: config.layerNormEps)
    }
}
