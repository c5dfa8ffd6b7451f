import TVPTensor
extension LlamaModel {
    /// Greedy decoding with a KV cache: the prompt runs once, then one token per step. Returns the
    /// new tokens only (the `eos` token that stopped generation included, as transformers does).
    /// Runs without recording gradients.
    public func generate(promptIDs: [Int], maxNewTokens: Int, eos: Set<Int> = []) throws -> [Int] {
        try require(!promptIDs.isEmpty, "LlamaModel.generate", "the prompt is empty")
        return try withoutGrad { try generate(promptEmbeddings: embed([promptIDs]), maxNewTokens: maxNewTokens, eos: eos) }
    }

    /// Greedy decoding after prompt embeddings [1, N, D] (text with spliced-in visual tokens, for instance).
    public func generate(promptEmbeddings: Tensor, maxNewTokens: Int, eos: Set<Int> = []) throws -> [Int] {
        let op = "LlamaModel.generate"
        try require(promptEmbeddings.rank == 3 && promptEmbeddings.dim(0) == 1 && promptEmbeddings.dim(1) > 0, op,
                    "prompt embeddings \(describe(promptEmbeddings.shape)) should be [1, N, \(config.hiddenSize)] with N ≥ 1")
        try require(maxNewTokens >= 0, op, "maxNewTokens \(maxNewTokens) is negative")
        return try withoutGrad {
            let cache = LlamaKVCache(layers: layers.count)
            var hidden = try forward(inputEmbeddings: promptEmbeddings, cache: cache)
            var out: [Int] = []
            while out.count < maxNewTokens {
                let last = try logits(hidden, positions: [hidden.dim(1) - 1])
                let next = argmax(last.data, count: config.vocabSize)
                out.append(next)
                if eos.contains(next) || out.count == maxNewTokens { break }
                hidden = try forward(tokens: [[next]], cache: cache)
            }
            return out
        }
    }

    /// The mean over each candidate's tokens of log p(token | prefix, the candidate's earlier
    /// tokens): scores [B, C] for prefixes [B, P, D] (B prefixes of equal length P ≥ 1, e.g. image
    /// plus question embeddings) and C non-empty candidate continuations (answer token ids).
    ///
    /// Batched: the prefixes run once into a KV cache, whose last row scores every candidate's first
    /// token; the cache is gathered to the items whose candidate has more tokens, which then run
    /// together, right-padded (padding sits after every real token, so causal attention never sees
    /// it), and the LM head runs only on the rows that predict candidate tokens.
    /// Differentiable w.r.t. `prefixEmbeddings` (under `withoutGrad` for plain evaluation).
    public func meanLogLikelihood(prefixEmbeddings prefix: Tensor, continuations: [[Int]]) throws -> Tensor {
        let op = "LlamaModel.meanLogLikelihood"
        try require(prefix.rank == 3 && prefix.dim(1) > 0 && prefix.dim(2) == config.hiddenSize, op,
                    "prefix embeddings \(describe(prefix.shape)) should be [B, P, \(config.hiddenSize)] with P ≥ 1")
        try require(!continuations.isEmpty && continuations.allSatisfy { !$0.isEmpty }, op,
                    "needs at least one candidate and no empty candidate (lengths \(continuations.map(\.count)))")
        for (i, c) in continuations.enumerated() {
            for t in c { try require(t >= 0 && t < config.vocabSize, op, "candidate \(i) holds token \(t) outside 0..<\(config.vocabSize)") }
        }
        let (b, p, candidates) = (prefix.dim(0), prefix.dim(1), continuations.count)
        let longest = continuations.map(\.count).max()!
        let cache = LlamaKVCache(layers: layers.count)
        let prefixHidden = try forward(inputEmbeddings: prefix, cache: cache)
        // The last prefix row predicts every candidate's first token: [B, V], gathered to [B·C, V].
        let firstRows = try logits(prefixHidden, rows: (0..<b).map { (batch: $0, position: p - 1) })
        let items = (0..<b).flatMap { i in Array(repeating: i, count: candidates) }
        var rowLogits = [try gatherRows(firstRows, items)]
        var targets = items.indices.map { continuations[$0 % candidates][0] }
        var owners = Array(items.indices)          // which (b, c) item each scored row belongs to
        if longest > 1 {
            // Candidate tokens 0..<L−1 (right-padded with token 0) predict tokens 1..<L; one-token
            // candidates are done.
            let continued = items.indices.filter { continuations[$0 % candidates].count > 1 }
            let feed = continued.map { item -> [Int] in
                let c = continuations[item % candidates]
                return Array(c.dropLast()) + Array(repeating: 0, count: longest - c.count)
            }
            let hidden = try forward(tokens: feed, cache: cache.gathered(continued.map { items[$0] }))
            var rows: [(batch: Int, position: Int)] = []
            for (row, item) in continued.enumerated() {
                let c = continuations[item % candidates]
                for j in 1..<c.count { rows.append((row, j - 1)); targets.append(c[j]); owners.append(item) }
            }
            if !rows.isEmpty { rowLogits.append(try logits(hidden, rows: rows)) }
        }
        // −log p per scored row [R], averaged per item by a constant [B·C, R] matrix of 1/length.
        let negativeLogLikelihood = try crossEntropy(concat(rowLogits, axis: 0), targets: targets, reduction: .none)
        let averaging = Tensor(zeros: [items.count, owners.count])
        for (r, item) in owners.enumerated() {
            averaging.data[item * owners.count + r] = -1 / Float(continuations[item % candidates].count)
        }
        return try matmul(averaging, negativeLogLikelihood.reshaped([owners.count, 1])).reshaped([b, candidates])
    }
}

/// Index of the largest of `count` values (the first on ties, like torch.argmax).
private func argmax(_ values: UnsafePointer<Float>, count: Int) -> Int {
    var best = 0
    for i in 1..<count where values[i] > values[best] { best = i }
    return best
}
