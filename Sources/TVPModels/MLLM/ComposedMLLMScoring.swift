import TVPTensor

// The language side of ComposedMLLM: splicing visual tokens between text embeddings, the
// answer-only loss, and candidate scoring. Shapes: B images, T visual tokens per image, D LM width,
// N tokens per LLM row, R scored rows, V vocabulary, C candidates.

extension ComposedMLLM {
    /// The answer-only LM loss, a scalar: each sample's LLM input is
    /// `beforeImage ‖ visualTokens[b] ‖ afterImage ‖ answerTokens[b]` (the batch right-padded to the
    /// longest, padding masked out as keys); logits are computed only at the rows that predict answer
    /// tokens (teacher forcing), and their cross-entropy is averaged as `lossAveraging` says (by
    /// default over every answer token of the batch, as HF with −100 labels).
    /// Differentiable w.r.t. `visualTokens` [B, T, D] (and through it the images and any trainable
    /// connector weight). Answers must be non-empty.
    public func loss(visualTokens visual: Tensor, promptTokens: [PromptTokens], answerTokens: [[Int]]) throws -> Tensor {
        let logits = try answerLogits(visualTokens: visual, promptTokens: promptTokens, answerTokens: answerTokens)  // [R, V]
        let targets = answerTokens.flatMap { $0 }
        return try profiled("LM head") {
            switch lossAveraging {
            case .allAnswerTokens:
                return try crossEntropy(logits, targets: targets)
            case .perSample:
                let b = answerTokens.count
                let weights = answerTokens.flatMap { answer in Array(repeating: 1 / Float(b * answer.count), count: answer.count) }
                let perToken = try crossEntropy(logits, targets: targets, reduction: .none)   // [R]
                return try (perToken * Tensor(weights, shape: [weights.count])).sum()
            }
        }
    }

    /// [R, V]: the teacher-forced logits that predict each answer token (R = all answer tokens,
    /// sample 0's first), from one right-padded forward pass of
    /// `beforeImage ‖ visualTokens[b] ‖ afterImage ‖ answerTokens[b]`; the LM head runs on those rows only.
    public func answerLogits(visualTokens visual: Tensor, promptTokens: [PromptTokens], answerTokens: [[Int]]) throws -> Tensor {
        let op = "ComposedMLLM.loss"
        let b = try checkVisualTokens(visual, op)
        try require(promptTokens.count == b && answerTokens.count == b, op,
                    "\(name): \(b) images, \(promptTokens.count) prompts and \(answerTokens.count) answers")
        try require(answerTokens.allSatisfy { !$0.isEmpty }, op, "\(name): every answer needs at least one token (lengths \(answerTokens.map(\.count)))")
        let t = visual.dim(1)
        let hidden = try profiled("LM") {
            let (x, mask) = try inputEmbeddings(visual: visual, rows: (0..<b).map {
                (image: $0, before: promptTokens[$0].beforeImage, after: promptTokens[$0].afterImage + answerTokens[$0])
            })
            return try language.forward(inputEmbeddings: x, attentionMask: mask)
        }
        // Answer token j of sample i sits at start + j and is predicted by the row before it.
        var rows: [(batch: Int, position: Int)] = []
        for i in 0..<b {
            let start = promptTokens[i].beforeImage.count + t + promptTokens[i].afterImage.count
            rows += answerTokens[i].indices.map { (i, start + $0 - 1) }
        }
        return try profiled("LM head") { try language.logits(hidden, rows: rows) }
    }

    /// [B, C]: the mean token log-probability of each candidate after image b's prefix
    /// `beforeImage ‖ visualTokens[b] ‖ afterImage`. Prefixes of equal length run together, once,
    /// into a KV cache that every candidate reuses (`LlamaModel.meanLogLikelihood`); images whose
    /// prefixes differ in length run in separate groups. Differentiable w.r.t. `visualTokens`.
    public func logLikelihood(visualTokens visual: Tensor, promptTokens: [PromptTokens], candidateTokens: [[Int]]) throws -> Tensor {
        let op = "ComposedMLLM.logLikelihood"
        let b = try checkVisualTokens(visual, op)
        try require(promptTokens.count == b, op, "\(name): \(b) images and \(promptTokens.count) prompts")
        let t = visual.dim(1)
        var groups: [Int: [Int]] = [:], order: [Int] = []       // prefix length → images, lengths in first-seen order
        for i in 0..<b {
            let length = promptTokens[i].beforeImage.count + t + promptTokens[i].afterImage.count
            if groups[length] == nil { order.append(length) }
            groups[length, default: []].append(i)
        }
        var scores: [Tensor] = [], images: [Int] = []
        for length in order {
            let members = groups[length]!
            let (prefix, _) = try inputEmbeddings(visual: visual, rows: members.map {
                (image: $0, before: promptTokens[$0].beforeImage, after: promptTokens[$0].afterImage)
            })
            scores.append(try language.meanLogLikelihood(prefixEmbeddings: prefix, continuations: candidateTokens))
            images += members
        }
        if images == Array(0..<b) { return try concat(scores, axis: 0) }
        // Rows are in group order; put image i's row back at i.
        var rowOf = [Int](repeating: 0, count: b)
        for (row, image) in images.enumerated() { rowOf[image] = row }
        return try gatherRows(concat(scores, axis: 0), rowOf)
    }

    /// LLM input embeddings [R, N, D] for rows `before ‖ visual[image] ‖ after`, right-padded to the
    /// longest row N with `paddingTokenID`, and the [R, N] key mask (nil when no row is padded).
    /// One gather from a table of [text embeddings; visual tokens], so the visual gradient is a scatter-add.
    func inputEmbeddings(visual: Tensor, rows: [(image: Int, before: [Int], after: [Int])]) throws -> (Tensor, [Bool]?) {
        let (b, t, d) = (visual.dim(0), visual.dim(1), visual.dim(2))
        let lengths = rows.map { $0.before.count + t + $0.after.count }
        let n = lengths.max() ?? 0
        let padded = lengths.contains { $0 < n }
        var text: [Int] = []
        for row in rows { text += row.before + row.after }
        if padded { text.append(paddingTokenID) }
        let m = text.count
        let visualTable = try visual.reshaped([b * t, d])
        let table = m == 0 ? visualTable
            : try concat([embedding(ids: text, shape: [m], table: language.embedTokens), visualTable], axis: 0)
        // Table row of every position: text rows first (0..<m), then image i's token j at m + i·T + j.
        var index: [Int] = [], mask: [Bool] = []
        index.reserveCapacity(rows.count * n)
        var next = 0
        for (row, length) in zip(rows, lengths) {
            index += (next..<(next + row.before.count))
            next += row.before.count
            index += ((m + row.image * t)..<(m + (row.image + 1) * t))
            index += (next..<(next + row.after.count))
            next += row.after.count
            index += Array(repeating: m - 1, count: n - length)
            if padded { mask += Array(repeating: true, count: length) + Array(repeating: false, count: n - length) }
        }
        let x = try gatherRows(table, index).reshaped([rows.count, n, d])
        return (x, padded ? mask : nil)
    }

    /// B, after checking visual tokens [B, T, D] against the language model's width.
    private func checkVisualTokens(_ visual: Tensor, _ op: String) throws -> Int {
        try require(visual.rank == 3 && visual.dim(0) > 0 && visual.dim(1) > 0 && visual.dim(2) == language.config.hiddenSize, op,
                    "\(name): visual tokens \(describe(visual.shape)) should be [B, T, \(language.config.hiddenSize)] with B, T ≥ 1")
        return visual.dim(0)
    }
}
