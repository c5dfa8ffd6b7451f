import TVPTensor

/// Maps vision features [B, T, C] to LLM-input tokens [B, T', D] (D the language model's width).
///
/// Connectors are the only part of a composed MLLM that may be trained (the embedded zoo trains
/// them on captions): their weights are leaf tensors that do not require grad until a trainer asks
/// (`setTrainable(true)` or `requiresGrad` on each of `parameters`); optimizers update them in place.
public protocol Connector {
    /// C, the feature width taken.
    var inputWidth: Int { get }
    /// D, the token width made.
    var outputWidth: Int { get }
    /// T' for T input tokens (T when the connector keeps one token per feature).
    func outputTokenCount(inputTokens: Int) throws -> Int
    /// Every weight under its checkpoint name (relative to the connector, e.g. "linear_1.weight"),
    /// for saving a trained connector as safetensors and loading it back with `init(weights:prefix:)`.
    var namedParameters: [String: Tensor] { get }

    /// features [B, T, C] → tokens [B, T', D]. Differentiable w.r.t. the features and any weight
    /// that requires grad.
    func callAsFunction(_ features: Tensor) throws -> Tensor
}

/// A connector that also reads the prompt, as InstructBLIP's instruction-aware Q-Former does: the
/// language model's token ids of the text after the image (`PromptTokens.afterImage`), one list
/// per sample. Without instructions (`callAsFunction(_:)`, e.g. the FCA loss's clean reference) it
/// reads the image alone.
public protocol InstructedConnector: Connector {
    /// features [B, T, C] and B instructions (nil: none) → tokens [B, T', D].
    func callAsFunction(_ features: Tensor, instructions: [[Int]]?) throws -> Tensor
}

extension InstructedConnector {
    public func callAsFunction(_ features: Tensor) throws -> Tensor { try callAsFunction(features, instructions: nil) }
}

extension Connector {
    /// The weights in name order (a stable order for optimizers and checkpoints).
    public var parameters: [Tensor] { namedParameters.sorted { $0.key < $1.key }.map(\.value) }

    /// The number of trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Turns gradient recording for every weight on (training) or off (frozen).
    public func setTrainable(_ trainable: Bool) {
        for p in parameters { p.requiresGrad = trainable }
    }
}

/// One `nn.Linear`: weight [out, in] and optional bias [out].
public struct LinearLayer {
    public let weight: Tensor
    public let bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// PyTorch's default `nn.Linear` initialization (weight and bias uniform in ±1/√in), seeded.
    public init(inputs: Int, outputs: Int, bias: Bool = true, seed: UInt64) {
        let bound = 1 / Float(max(inputs, 1)).squareRoot()
        weight = Tensor.uniform([outputs, inputs], low: -bound, high: bound, seed: seed)
        self.bias = bias ? Tensor.uniform([outputs], low: -bound, high: bound, seed: seed &+ 0x9E37_79B9) : nil
    }

    /// Takes `prefix + "weight"` [out, in] (any shape when the sizes are −1) and `prefix + "bias"`
    /// when present (required when `requireBias`).
    public init(weights w: Weights, prefix p: String, inputs: Int = -1, outputs: Int = -1, requireBias: Bool = false) throws {
        weight = try w.take(p + "weight", shape: [outputs, inputs])
        bias = requireBias ? try w.take(p + "bias", shape: [weight.dim(0)]) : try w.takeIfPresent(p + "bias", shape: [weight.dim(0)])
    }

    public var inputs: Int { weight.dim(1) }
    public var outputs: Int { weight.dim(0) }

    /// x [..., in] → [..., out].
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try linear(x, weight, bias) }

    /// "weight" and "bias" under `prefix`.
    public func named(_ prefix: String) -> [String: Tensor] {
        var out = [prefix + "weight": weight]
        if let bias { out[prefix + "bias"] = bias }
        return out
    }
}

/// Checks features [B, T, C] against a connector's input width.
func checkFeatures(_ x: Tensor, width: Int, _ op: String) throws {
    try require(x.rank == 3 && x.dim(2) == width, op, "features \(describe(x.shape)) should be [B, T, \(width)]")
}
