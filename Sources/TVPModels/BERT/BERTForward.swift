import TVPTensor
// The BERT forward pass, post-LayerNorm (Hugging Face BertModel, eval mode: no dropout).
// Shapes: B batch, N tokens, D width, H heads, Dh = D / H, I intermediate width.
//
// embeddings: x = LN(words[ids] + positions[0..<N] + types[typeIDs])
// per layer:  x = LN(x + dense(attention(q(x), k(x), v(x), keys masked past each row's length)))
//             x = LN(x + output(gelu(intermediate(x))))
// sentence:   normalize(mean of x over each row's valid tokens)
//
// Everything is built from TVPTensor ops, so gradients flow to the word embeddings passed in and to
// any weight whose `requiresGrad` is set; frozen weights get none and cost no weight-gradient GEMM.

extension BERTEncoder {
    /// Looks up the word embeddings of `batch.ids`: [B, N, D]. Throws on an id outside the vocabulary.
    public func wordEmbeddings(_ batch: BERTBatch) throws -> Tensor {
        try embedding(ids: batch.ids, shape: [batch.batchSize, batch.tokens], table: wordEmbeddings)
    }

    /// The last hidden states [B, N, D] (`last_hidden_state`) of a batch of token ids.
    public func hiddenStates(_ batch: BERTBatch) throws -> Tensor {
        try hiddenStates(wordEmbeddings: wordEmbeddings(batch), lengths: batch.lengths, tokenTypeIDs: batch.tokenTypeIDs)
    }

    /// The last hidden states [B, N, D] from word embeddings [B, N, D] (looked up, or learned soft
    /// tokens): position and token-type embeddings are added here. Row b attends its first
    /// `lengths[b]` tokens; padding positions still get hidden states (as in HF) but are never keys.
    /// `tokenTypeIDs` is [B, N] row-major, nil for all zeros.
    public func hiddenStates(wordEmbeddings words: Tensor, lengths: [Int], tokenTypeIDs: [Int32]? = nil) throws -> Tensor {
        let op = "BERTEncoder"
        let c = config, d = c.hiddenSize
        try require(words.rank == 3 && words.dim(2) == d, op, "word embeddings \(describe(words.shape)) should be [B, N, \(d)]")
        let (b, n) = (words.dim(0), words.dim(1))
        try require(n >= 1 && n <= c.maxPositionEmbeddings, op,
                    "\(n) tokens per row; this model has \(c.maxPositionEmbeddings) positions (and needs at least 1)")
        try require(lengths.count == b && lengths.allSatisfy { $0 >= 1 && $0 <= n }, op,
                    "lengths \(lengths) must give one value in 1...\(n) per row of \(describe(words.shape))")
        // Token types [B, N, D], or the single row 0 [D] broadcast over every token.
        let types = try tokenTypeIDs.map { try embedding(ids: $0, shape: [b, n], table: tokenTypeEmbeddings) }
            ?? select(tokenTypeEmbeddings, axis: 0, index: 0)
        let positions = try slice(positionEmbeddings, axis: 0, range: 0..<n)          // [N, D]
        var x = try layerNorm(words + positions + types, weight: embeddingNormWeight, bias: embeddingNormBias, eps: c.layerNormEps)
        let mask = AttentionMask.keyLengths(lengths, keys: n)
        for layer in layers { x = try forward(layer, x, mask: mask) }
        return x
    }

    /// One post-LN encoder layer on x [B, N, D].
    func forward(_ l: Layer, _ x: Tensor, mask: AttentionMask) throws -> Tensor {
        let h = config.numAttentionHeads, eps = config.layerNormEps
        let q = try splitHeads(linear(x, l.queryWeight, l.queryBias), heads: h)          // [B, H, N, Dh]
        let k = try splitHeads(linear(x, l.keyWeight, l.keyBias), heads: h)
        let v = try splitHeads(linear(x, l.valueWeight, l.valueBias), heads: h)
        let attended = try mergeHeads(scaledDotProductAttention(q: q, k: k, v: v, mask: mask))   // [B, N, D]
        let attentionOut = try linear(attended, l.attentionOutputWeight, l.attentionOutputBias)
        let y = try layerNorm(attentionOut + x, weight: l.attentionNormWeight, bias: l.attentionNormBias, eps: eps)
        let inner = try gelu(linear(y, l.intermediateWeight, l.intermediateBias), approximate: .none)   // [B, N, I]
        let mlpOut = try linear(inner, l.outputWeight, l.outputBias)
        return try layerNorm(mlpOut + y, weight: l.outputNormWeight, bias: l.outputNormBias, eps: eps)
    }

    /// Sentence embeddings [B, D] as all-MiniLM-L6-v2 computes them with sentence-transformers:
    /// mean pooling over valid tokens, then (when `normalized`) L2 normalization (eps 1e-12).
    public func sentenceEmbeddings(_ batch: BERTBatch, normalized: Bool = true) throws -> Tensor {
        try sentenceEmbeddings(wordEmbeddings: wordEmbeddings(batch), lengths: batch.lengths,
                               tokenTypeIDs: batch.tokenTypeIDs, normalized: normalized)
    }

    /// `sentenceEmbeddings` from word embeddings [B, N, D] (see `hiddenStates(wordEmbeddings:…)`).
    public func sentenceEmbeddings(wordEmbeddings words: Tensor, lengths: [Int], tokenTypeIDs: [Int32]? = nil,
                                   normalized: Bool = true) throws -> Tensor {
        let pooled = try meanPooling(hiddenStates(wordEmbeddings: words, lengths: lengths, tokenTypeIDs: tokenTypeIDs), lengths: lengths)
        return normalized ? try normalize(pooled, axis: -1, eps: 1e-12) : pooled
    }

    /// BERT's pooler, `pooler_output` = tanh(dense(hidden[:, 0])) → [B, D], from hidden states
    /// [B, N, D]. Throws when the checkpoint has no `pooler.dense`.
    public func poolerOutput(_ hidden: Tensor) throws -> Tensor {
        guard let poolerWeight, let poolerBias else {
            throw TensorError("BERTEncoder", "this checkpoint has no pooler.dense weights")
        }
        try require(hidden.rank == 3 && hidden.dim(2) == config.hiddenSize, "BERTEncoder",
                    "hidden \(describe(hidden.shape)) should be [B, N, \(config.hiddenSize)]")
        return try TVPTensor.tanh(linear(select(hidden, axis: 1, index: 0), poolerWeight, poolerBias))
    }
}
