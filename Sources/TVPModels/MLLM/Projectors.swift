import TVPTensor

/// LLaVA-1.5's projector (HF `LlavaMultiModalProjector`, names `multi_modal_projector.linear_1/linear_2`):
///
///     tokens = linear_2(gelu(linear_1(features)))      [B, T, C] → [B, T, D] → [B, T, D]
public struct MLPProjector: Connector {
    public let linear1: LinearLayer
    public let linear2: LinearLayer
    /// HF `projector_hidden_act`: "gelu" is exact (erf), "gelu_pytorch_tanh" / "gelu_new" the tanh form.
    public let activation: GELUApproximation

    public init(linear1: LinearLayer, linear2: LinearLayer, activation: GELUApproximation = .none) throws {
        try require(linear2.inputs == linear1.outputs, "MLPProjector",
                    "linear_2 \(describe(linear2.weight.shape)) does not take linear_1's \(linear1.outputs) outputs")
        self.linear1 = linear1
        self.linear2 = linear2
        self.activation = activation
    }

    /// Random PyTorch-default initialization (seeded): C → D → D.
    public init(inputWidth: Int, outputWidth: Int, bias: Bool = true, activation: GELUApproximation = .none, seed: UInt64) {
        linear1 = LinearLayer(inputs: inputWidth, outputs: outputWidth, bias: bias, seed: seed)
        linear2 = LinearLayer(inputs: outputWidth, outputs: outputWidth, bias: bias, seed: seed &+ 1)
        self.activation = activation
    }

    /// `prefix + "linear_1.weight"` [D, C], `"linear_2.weight"` [D, D] and their biases when present.
    public init(weights w: Weights, prefix p: String = "multi_modal_projector.", activation: GELUApproximation = .none) throws {
        let first = try LinearLayer(weights: w, prefix: p + "linear_1.")
        try self.init(linear1: first, linear2: LinearLayer(weights: w, prefix: p + "linear_2.", inputs: first.outputs, outputs: first.outputs),
                      activation: activation)
    }

    public var inputWidth: Int { linear1.inputs }
    public var outputWidth: Int { linear2.outputs }
    public func outputTokenCount(inputTokens: Int) -> Int { inputTokens }
    public var namedParameters: [String: Tensor] { linear1.named("linear_1.").merging(linear2.named("linear_2.")) { a, _ in a } }

    public func callAsFunction(_ features: Tensor) throws -> Tensor {
        try linear2(hidden(features))
    }

    /// What linear_2 reads: GELU(linear_1(features)) [B, T, D].
    public func hidden(_ features: Tensor) throws -> Tensor {
        try checkFeatures(features, width: inputWidth, "MLPProjector")
        return try gelu(linear1(features), approximate: activation)
    }
}

/// LLaVA-1's projector: one linear map per token, [B, T, C] → [B, T, D] (names `weight`, `bias`).
public struct LinearProjector: Connector {
    public let projection: LinearLayer

    public init(projection: LinearLayer) { self.projection = projection }

    /// Random PyTorch-default initialization (seeded).
    public init(inputWidth: Int, outputWidth: Int, bias: Bool = true, seed: UInt64) {
        projection = LinearLayer(inputs: inputWidth, outputs: outputWidth, bias: bias, seed: seed)
    }

    /// `prefix + "weight"` [D, C] and `prefix + "bias"` [D] when present (LLaVA-1: prefix "model.mm_projector.").
    public init(weights w: Weights, prefix p: String) throws {
        projection = try LinearLayer(weights: w, prefix: p)
    }

    public var inputWidth: Int { projection.inputs }
    public var outputWidth: Int { projection.outputs }
    public func outputTokenCount(inputTokens: Int) -> Int { inputTokens }
    public var namedParameters: [String: Tensor] { projection.named("") }

    public func callAsFunction(_ features: Tensor) throws -> Tensor {
        try checkFeatures(features, width: inputWidth, "LinearProjector")
        return try projection(features)
    }
}

/// A MiniGPT-4-like short visual prefix: average each group of k consecutive tokens, then one
/// linear map, [B, T, C] → [B, T/k, C] → [B, T/k, D]. T must be a multiple of k.
public struct PooledLinearProjector: Connector {
    public let groupSize: Int
    public let projection: LinearLayer

    public init(groupSize: Int, projection: LinearLayer) throws {
        try require(groupSize >= 1, "PooledLinearProjector", "group size \(groupSize) must be at least 1")
        self.groupSize = groupSize
        self.projection = projection
    }

    /// Random PyTorch-default initialization (seeded).
    public init(inputWidth: Int, outputWidth: Int, groupSize: Int, bias: Bool = true, seed: UInt64) throws {
        try self.init(groupSize: groupSize, projection: LinearLayer(inputs: inputWidth, outputs: outputWidth, bias: bias, seed: seed))
    }

    /// `prefix + "weight"` [D, C] and `prefix + "bias"` [D] when present.
    public init(weights w: Weights, prefix p: String, groupSize: Int) throws {
        try self.init(groupSize: groupSize, projection: LinearLayer(weights: w, prefix: p))
    }

    public var inputWidth: Int { projection.inputs }
    public var outputWidth: Int { projection.outputs }
    public var namedParameters: [String: Tensor] { projection.named("") }

    public func outputTokenCount(inputTokens: Int) throws -> Int {
        try require(inputTokens % groupSize == 0, "PooledLinearProjector",
                    "\(inputTokens) tokens do not split into groups of \(groupSize)")
        return inputTokens / groupSize
    }

    /// [B, T, C] → [B, T/k, k, C] → mean over k → [B, T/k, C] → [B, T/k, D].
    public func callAsFunction(_ features: Tensor) throws -> Tensor {
        try checkFeatures(features, width: inputWidth, "PooledLinearProjector")
        let (b, t, c) = (features.dim(0), features.dim(1), features.dim(2))
        let groups = try outputTokenCount(inputTokens: t)
        let pooled = groupSize == 1 ? features : try features.reshaped([b, groups, groupSize, c]).mean(axis: 2)
        return try projection(pooled)
    }
}
