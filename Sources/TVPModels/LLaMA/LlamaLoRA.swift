import Foundation
import TVPTensor

/// Low-rank adapters on a frozen LLaMA's attention projections (LoRA, Hu et al. 2021, as Hugging
/// Face PEFT applies it): each adapted projection W [out, in] becomes
///
///     W·x + scale · B·(A·x),   A = lora_A [r, in],  B = lora_B [out, r],  scale = alpha / r
///
/// with B zero at initialization, so a fresh adapter leaves the model's outputs unchanged. Only A
/// and B train; the base weights stay frozen (and shared between adapted copies of one model).
/// Tensor names follow PEFT: `model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight`.
public struct LlamaLoRA: @unchecked Sendable {
    /// The projections adapted (PEFT's default `target_modules` for LLaMA).
    public static let targets = ["q_proj", "v_proj"]

    /// One adapted projection's pair.
    public struct Pair {
        public let a: Tensor   // lora_A.weight [r, in]
        public let b: Tensor   // lora_B.weight [out, r]
    }

    public let rank: Int
    public let scale: Float
    /// Per layer, `targets` → pair.
    public let layers: [[String: Pair]]

    /// Fresh adapters for `config`: A ~ U(−1/√in, 1/√in) (PEFT's Kaiming-uniform with a = √5), B = 0.
    public init(config c: LlamaConfig, rank: Int, alpha: Float, seed: UInt64) throws {
        try require(rank >= 1, "LlamaLoRA", "rank \(rank) should be ≥ 1")
        let d = c.hiddenSize, outs = Self.outputWidths(c)
        var counter = seed
        layers = (0..<c.numHiddenLayers).map { _ in
            var pairs: [String: Pair] = [:]
            for target in Self.targets {
                counter &+= 1
                let bound = 1 / Float(d).squareRoot()
                let a = Tensor.uniform([rank, d], low: -bound, high: bound, seed: counter)
                pairs[target] = Pair(a: a, b: Tensor(zeros: [outs[target]!, rank]))
            }
            return pairs
        }
        (self.rank, self.scale) = (rank, alpha / Float(rank))
    }

    /// Adapters from PEFT-named tensors (`prefix` + names above), the rank read from their shapes;
    /// `scale` is alpha / r (PEFT keeps alpha in adapter_config.json, not with the tensors).
    public init(config c: LlamaConfig, weights w: Weights, prefix p: String = "", scale: Float) throws {
        let d = c.hiddenSize, outs = Self.outputWidths(c)
        let r = try w.take(p + "model.layers.0.self_attn.q_proj.lora_A.weight", shape: [-1, d]).dim(0)
        layers = try (0..<c.numHiddenLayers).map { i in
            var pairs: [String: Pair] = [:]
            for target in Self.targets {
                let base = p + "model.layers.\(i).self_attn.\(target)."
                pairs[target] = Pair(a: try w.take(base + "lora_A.weight", shape: [r, d]), b: try w.take(base + "lora_B.weight", shape: [outs[target]!, r]))
            }
            return pairs
        }
        (self.rank, self.scale) = (r, scale)
    }

    /// Each target's output width: q_proj H·Dh, v_proj Hkv·Dh.
    static func outputWidths(_ c: LlamaConfig) -> [String: Int] {
        ["q_proj": c.numAttentionHeads * c.headDim, "v_proj": c.numKeyValueHeads * c.headDim]
    }

    /// Every A and B under its PEFT name.
    public var namedParameters: [String: Tensor] {
        var named: [String: Tensor] = [:]
        for (i, pairs) in layers.enumerated() {
            for (target, pair) in pairs {
                named["model.layers.\(i).self_attn.\(target).lora_A.weight"] = pair.a
                named["model.layers.\(i).self_attn.\(target).lora_B.weight"] = pair.b
            }
        }
        return named
    }

    public var parameters: [Tensor] { namedParameters.sorted { $0.key < $1.key }.map(\.value) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    public func setTrainable(_ trainable: Bool) { for p in parameters { p.requiresGrad = trainable } }

    /// `weight·x` plus this layer's adapter for `target`, when it has one.
    func project(_ x: Tensor, _ weight: Tensor, layer: Int, target: String) throws -> Tensor {
        let base = try linear(x, weight)
        guard let pair = layers[layer][target] else { return base }
        return try base + linear(linear(x, pair.a), pair.b) * scale
    }
}

extension LlamaModel {
    /// This model with `lora` on its attention projections (the same frozen base tensors), or
    /// without adapters for nil.
    public func adapted(_ lora: LlamaLoRA?) throws -> LlamaModel {
        if let lora {
            try require(lora.layers.count == layers.count, "LlamaModel.adapted",
                        "adapters for \(lora.layers.count) layers, the model has \(layers.count)")
        }
        var copy = self
        copy.lora = lora
        return copy
    }
}
