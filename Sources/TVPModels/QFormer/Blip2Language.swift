// The language side of Blip2Model: answer-only loss and candidate scoring on token ids, and the
// MultimodalModel string methods on top. Shapes: B batch, Q visual tokens, P prompt tokens,
// A answer tokens, L = longest P + A, D LM width, V vocabulary, C candidates, R scored rows.
//
// loss:  x = [visual ‖ embed(prompt_b ‖ answer_b ‖ padding)]  [B, Q + L, D], padding hidden as keys
//        answer token j of row b is predicted by position Q + P_b + j − 1 (logits only there)
//        HF Blip2ForConditionalGeneration: labels −100 outside the answers, shift by one, mean over
//        the answer tokens of the batch (`.meanOverTokens`), or per answer then over the batch.
// score: prefix [visual ‖ embed(prompt_b)] runs once per image into a KV cache (rows grouped by
//        prompt length, so no prefix is padded), then every candidate continues it.

import TVPTensor

extension Blip2Model {
    /// The answer-only LM loss (a scalar) for images [B, 3, S, S], one prompt and one non-empty
    /// answer per image (LM token ids; prompts as the LM sees them, BOS included). Differentiable
    /// w.r.t. `images`.
    public func loss(images: Tensor, promptIDs: [[Int]], answerIDs: [[Int]], instructionIDs: [[Int]]? = nil,
                     reduction: AnswerLossReduction = .meanOverTokens) throws -> Tensor {
        let op = "Blip2Model.loss"
        let b = images.rank == 4 ? images.dim(0) : 0
        try require(b > 0 && promptIDs.count == b && answerIDs.count == b, op,
                    "\(promptIDs.count) prompts and \(answerIDs.count) answers for images \(describe(images.shape))")
        try require(answerIDs.allSatisfy { !$0.isEmpty }, op, "every answer needs at least one token (lengths \(answerIDs.map(\.count)))")
        let lm = languageModel
        let visual = try visualTokens(images: images, instructionIDs: instructionIDs)     // [B, Q, D]
        let q = visual.dim(1)
        let texts = zip(promptIDs, answerIDs).map { $0 + $1 }
        let longest = texts.map(\.count).max()!
        let padded = texts.map { $0 + Array(repeating: 0, count: longest - $0.count) }
        let x = try concat([visual, lm.embed(padded)], axis: 1)                            // [B, Q + L, D]
        var mask: [Bool]?
        if texts.contains(where: { $0.count < longest }) {
            mask = texts.flatMap { t in Array(repeating: true, count: q + t.count) + Array(repeating: false, count: longest - t.count) }
        }
        let hidden = try lm.forward(inputEmbeddings: x, attentionMask: mask)
        var rows: [(batch: Int, position: Int)] = [], targets: [Int] = [], owners: [Int] = []
        for (item, (prompt, answer)) in zip(promptIDs, answerIDs).enumerated() {
            for (j, token) in answer.enumerated() {
                rows.append((item, q + prompt.count + j - 1)); targets.append(token); owners.append(item)
            }
        }
        let logits = try lm.logits(hidden, rows: rows)                                     // [R, V]
        switch reduction {
        case .meanOverTokens:
            return try crossEntropy(logits, targets: targets)
        case .meanOverAnswers:
            // −log p per row [R], averaged by a constant [1, R] row of 1 / (B · A_b).
            let perRow = try crossEntropy(logits, targets: targets, reduction: .none)
            let weights = Tensor(zeros: [1, rows.count])
            for (r, item) in owners.enumerated() { weights.data[r] = 1 / Float(b * answerIDs[item].count) }
            return try matmul(weights, perRow.reshaped([rows.count, 1])).reshaped([])
        }
    }

    /// [B, C]: the mean token log-probability of each candidate (LM ids, no specials) after image b
    /// and `promptIDs[b]`. Each image's prefix runs once (KV cache) for all candidates; prompts of
    /// different lengths run in groups of equal length. Differentiable w.r.t. `images`.
    public func logLikelihood(images: Tensor, promptIDs: [[Int]], candidateIDs: [[Int]],
                              instructionIDs: [[Int]]? = nil) throws -> Tensor {
        let op = "Blip2Model.logLikelihood"
        let b = images.rank == 4 ? images.dim(0) : 0
        try require(b > 0 && promptIDs.count == b, op, "\(promptIDs.count) prompts for images \(describe(images.shape))")
        let lm = languageModel
        let visual = try visualTokens(images: images, instructionIDs: instructionIDs)     // [B, Q, D]
        var pieces: [Tensor] = [], order: [Int] = []
        for length in Set(promptIDs.map(\.count)).sorted() {
            let members = (0..<b).filter { promptIDs[$0].count == length }
            var prefix = members.count == b ? visual : try gatherRows(visual, members)     // [G, Q, D]
            if length > 0 { prefix = try concat([prefix, lm.embed(members.map { promptIDs[$0] })], axis: 1) }
            pieces.append(try lm.meanLogLikelihood(prefixEmbeddings: prefix, continuations: candidateIDs))
            order += members
        }
        if order == Array(0..<b) { return pieces.count == 1 ? pieces[0] : try concat(pieces, axis: 0) }
        var inverse = Array(repeating: 0, count: b)
        for (position, item) in order.enumerated() { inverse[item] = position }
        return try gatherRows(concat(pieces, axis: 0), inverse)
    }

    // MARK: MultimodalModel (strings)

    /// The answer-only loss of `answers` given images and `prompts` (`.meanOverTokens`, as HF and the official TVP code).
    public func loss(images: Tensor, prompts: [String], answers: [String]) throws -> Tensor {
        let t = try requireTokenizer()
        var answerIDs = answers.map { t.encode($0) }
        if appendEOSToAnswers {
            guard let eos = t.eosTokenID else { throw TensorError("Blip2Model", "appendEOSToAnswers is set but the tokenizer has no EOS token") }
            answerIDs = answerIDs.map { $0 + [eos] }
        }
        return try loss(images: images, promptIDs: prompts.map { t.encodeWithSpecials($0) }, answerIDs: answerIDs,
                        instructionIDs: instructionIDs(prompts), reduction: .meanOverTokens)
    }

    /// [B, C] mean token log-likelihoods of `candidates` given images and `prompts`.
    public func logLikelihood(images: Tensor, prompts: [String], candidates: [String]) throws -> Tensor {
        let t = try requireTokenizer()
        return try logLikelihood(images: images, promptIDs: prompts.map { t.encodeWithSpecials($0) },
                                 candidateIDs: candidates.map { t.encode($0) }, instructionIDs: instructionIDs(prompts))
    }

    public func candidateTokenCounts(_ candidates: [String]) throws -> [Int] {
        let t = try requireTokenizer()
        return candidates.map { t.encode($0).count }
    }

    private func requireTokenizer() throws -> any Tokenizer {
        guard let tokenizer else {
            throw TensorError("Blip2Model", "\(name) has no LM tokenizer: set `tokenizer` or use the token-id methods")
        }
        return tokenizer
    }

    /// InstructBLIP: the prompts in the Q-Former's WordPiece ids ([CLS] … [SEP]); BLIP-2: nil.
    private func instructionIDs(_ prompts: [String]) throws -> [[Int]]? {
        guard isInstructBLIP else { return nil }
        guard let instructionTokenizer else {
            throw TensorError("Blip2Model", "\(name) is InstructBLIP: set `instructionTokenizer` (BERT WordPiece) for string prompts")
        }
        return prompts.map { instructionTokenizer.encodeWithSpecials($0) }
    }
}
