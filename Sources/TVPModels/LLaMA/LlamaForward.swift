import TVPTensor
extension LlamaModel {
    /// The decoder over input embeddings: x [B, N, D] → final hidden states [B, N, D] (after
    /// `model.norm`, before the LM head; HF's `last_hidden_state`).
    ///
    /// - positions: the RoPE position of each of the N new tokens, shared by the batch; default
    ///   `cache.length ..< cache.length + N` (0..<N without a cache).
    /// - attentionMask: [B, N] row-major, true for real tokens (HF `attention_mask == 1`); padded
    ///   tokens are hidden as keys. Right padding keeps real tokens' positions right; padded rows'
    ///   outputs are meaningless and should be ignored.
    /// - cache: when given, attention also sees the cached tokens (the new ones are the last N of
    ///   the key sequence: causal mask aligned bottom-right) and the new keys and values are appended.
    ///
    /// Gradients flow to `inputEmbeddings` (and through the cache to earlier calls' inputs), and to `lora` when it trains; never to base weights.
    public func forward(inputEmbeddings x: Tensor, positions: [Int]? = nil, attentionMask: [Bool]? = nil,
                        cache: LlamaKVCache? = nil) throws -> Tensor {
        let op = "LlamaModel.forward"
        let c = config
        try require(x.rank == 3 && x.dim(2) == c.hiddenSize, op, "input embeddings \(describe(x.shape)) should be [B, N, \(c.hiddenSize)]")
        let (b, n) = (x.dim(0), x.dim(1))
        try require(b > 0 && n > 0, op, "input embeddings \(describe(x.shape)) hold no tokens")
        let start = cache?.length ?? 0
        let positions = positions ?? Array(start..<(start + n))
        try require(positions.count == n, op, "\(positions.count) positions for \(n) tokens")
        if let attentionMask {
            try require(attentionMask.count == b * n, op, "attention mask of \(attentionMask.count) flags for [B, N] = [\(b), \(n)]")
        }
        let keyMask = try cache?.keyMask(batch: b, newTokens: n, newValid: attentionMask) ?? attentionMask
        let mask = keyMask.map { AttentionMask(validKeys: $0) }

        var h = x
        for (index, layer) in layers.enumerated() {
            h = try decoderLayer(layer, index: index, h, positions: positions, mask: mask, cache: cache)
        }
        cache?.commit(batch: b, newTokens: n, mask: keyMask)
        return try rmsNorm(h, weight: norm, eps: c.rmsNormEps)
    }

    /// `forward(inputEmbeddings:)` on the embeddings of B rows of N token ids.
    public func forward(tokens: [[Int]], positions: [Int]? = nil, attentionMask: [Bool]? = nil,
                        cache: LlamaKVCache? = nil) throws -> Tensor {
        try forward(inputEmbeddings: embed(tokens), positions: positions, attentionMask: attentionMask, cache: cache)
    }

    /// One pre-norm block: x + attention(input_layernorm(x)), then + mlp(post_attention_layernorm(·)).
    func decoderLayer(_ layer: Layer, index: Int, _ x: Tensor, positions: [Int], mask: AttentionMask?,
                      cache: LlamaKVCache?) throws -> Tensor {
        let c = config
        // Attention: [B, N, D] → q [B, H, N, Dh], k and v [B, Hkv, N, Dh].
        let normed = try rmsNorm(x, weight: layer.inputLayerNorm, eps: c.rmsNormEps)
        func project(_ weight: Tensor, _ target: String) throws -> Tensor {
            try lora?.project(normed, weight, layer: index, target: target) ?? linear(normed, weight)
        }
        let q = try rope(splitHeads(project(layer.qProj, "q_proj"), heads: c.numAttentionHeads),
                         positions: positions, base: c.ropeTheta, style: .halfSplit)
        var k = try rope(splitHeads(linear(normed, layer.kProj), heads: c.numKeyValueHeads),
                         positions: positions, base: c.ropeTheta, style: .halfSplit)
        var v = try splitHeads(project(layer.vProj, "v_proj"), heads: c.numKeyValueHeads)
        if let cache { (k, v) = try cache.append(layer: index, keys: k, values: v) }
        let attended = try scaledDotProductAttention(q: q, k: k, v: v, mask: mask, causal: true, causalAlignment: .bottomRight)
        let h = try x + linear(mergeHeads(attended), layer.oProj)
        // SwiGLU MLP: down(silu(gate(n)) · up(n)).
        let normed2 = try rmsNorm(h, weight: layer.postAttentionLayerNorm, eps: c.rmsNormEps)
        let gated = try silu(linear(normed2, layer.gateProj)) * linear(normed2, layer.upProj)
        return try h + linear(gated, layer.downProj)
    }

    /// LM-head logits [R, V] at chosen rows of hidden [B, N, D]: row r is token `rows[r].position`
    /// of batch item `rows[r].batch`. Only those rows are multiplied by the [V, D] head (an MLLM
    /// scores only its answer tokens). Differentiable w.r.t. `hidden`.
    public func logits(_ hidden: Tensor, rows: [(batch: Int, position: Int)]) throws -> Tensor {
        let op = "LlamaModel.logits"
        try require(hidden.rank == 3 && hidden.dim(2) == config.hiddenSize, op,
                    "hidden \(describe(hidden.shape)) should be [B, N, \(config.hiddenSize)]")
        let (b, n) = (hidden.dim(0), hidden.dim(1))
        for r in rows {
            try require(r.batch >= 0 && r.batch < b && r.position >= 0 && r.position < n, op,
                        "row (batch \(r.batch), position \(r.position)) is outside hidden \(describe(hidden.shape))")
        }
        let picked = try gatherRows(hidden.reshaped([b * n, config.hiddenSize]), rows.map { $0.batch * n + $0.position })
        return try linear(picked, lmHead)
    }

    /// LM-head logits [B, P, V] at token positions `positions` of every batch item of hidden [B, N, D].
    public func logits(_ hidden: Tensor, positions: [Int]) throws -> Tensor {
        try require(hidden.rank == 3, "LlamaModel.logits", "hidden \(describe(hidden.shape)) should be [B, N, D]")
        let b = hidden.dim(0)
        let rows = (0..<b).flatMap { i in positions.map { (batch: i, position: $0) } }
        return try logits(hidden, rows: rows).reshaped([b, positions.count, config.vocabSize])
    }

    /// LM-head logits at every position: hidden [..., D] → [..., V].
    public func logits(_ hidden: Tensor) throws -> Tensor {
        try linear(hidden, lmHead)
    }
}
