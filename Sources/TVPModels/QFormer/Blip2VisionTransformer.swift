import TVPTensor

/// BLIP-2's image tower (the EVA / BLIP ViT of HF `Blip2VisionModel`): patch conv with bias, class
/// token, learned positions, pre-norm blocks with a fused qkv projection (query and value biases,
/// no key bias), exact GELU, and a final LayerNorm over every token (no LayerNorm before the blocks).
///
///     x = concat(class_embedding, patch_embedding(image)) + position_embedding      [B, N, D]
///     per layer:  x += projection(attention(qkv(layer_norm1(x))));  x += fc2(gelu(fc1(layer_norm2(x))))
///     features = post_layernorm(x)                                                   [B, N, D]
///
/// The blocks are CLIP's `ResidualAttentionBlock` (same math), loaded from BLIP-2's names.
/// Shapes: image [B, 3, S, S] (already normalized), N = (S / P)² + 1.
public struct Blip2VisionTransformer {
    public let config: Blip2Config.Vision
    /// embeddings.patch_embedding.{weight [D, 3, P, P], bias [D]}.
    public let patchWeight, patchBias: Tensor
    /// embeddings.class_embedding [1, 1, D] stored as [D]; embeddings.position_embedding [1, N, D] stored as [N, D].
    public let classEmbedding, positionEmbedding: Tensor
    public let blocks: [ResidualAttentionBlock]
    /// post_layernorm.{weight, bias} [D].
    public let postNormWeight, postNormBias: Tensor

    /// Takes the tower's tensors under `prefix` (HF: "vision_model."). A layer's qkv bias may be stored
    /// fused (`self_attn.qkv.bias` [3D], HF) or as `self_attn.q_bias` and `self_attn.v_bias` [D] (the
    /// original EVA/LAVIS layout; the key part is zero).
    public init(config c: Blip2Config.Vision, weights w: Weights, prefix p: String = "vision_model.") throws {
        let d = c.hiddenSize, n = (c.imageSize / c.patchSize) * (c.imageSize / c.patchSize) + 1
        config = c
        patchWeight = try w.take(p + "embeddings.patch_embedding.weight", shape: [d, 3, c.patchSize, c.patchSize])
        patchBias = try w.take(p + "embeddings.patch_embedding.bias", shape: [d])
        classEmbedding = try w.take(p + "embeddings.class_embedding", shape: [1, 1, d]).reshaped([d])
        positionEmbedding = try w.take(p + "embeddings.position_embedding", shape: [1, n, d]).reshaped([n, d])
        blocks = try (0..<c.numHiddenLayers).map { i in
            try ResidualAttentionBlock(blip2Weights: w, prefix: p + "encoder.layers.\(i).", width: d,
                                       intermediate: c.intermediateSize, qkvBias: c.qkvBias)
        }
        let extra = p + "encoder.layers.\(c.numHiddenLayers).layer_norm1.weight"
        try require(!w.contains(extra), "Blip2VisionTransformer", "\(w.source): has more layers than num_hidden_layers = \(c.numHiddenLayers) ('\(extra)' exists)")
        postNormWeight = try w.take(p + "post_layernorm.weight", shape: [d])
        postNormBias = try w.take(p + "post_layernorm.bias", shape: [d])
    }

    /// The image features the Q-Former attends to: [B, 3, S, S] → [B, N, D] (HF `last_hidden_state`,
    /// after post_layernorm).
    public func callAsFunction(_ image: Tensor) throws -> Tensor {
        let c = config
        try require(image.rank == 4 && image.dim(1) == 3 && image.dim(2) == c.imageSize && image.dim(3) == c.imageSize,
                    "Blip2VisionTransformer", "image \(describe(image.shape)) should be [B, 3, \(c.imageSize), \(c.imageSize)]")
        let b = image.dim(0), d = c.hiddenSize, g = c.imageSize / c.patchSize
        // Patch embedding: [B, D, g, g] → [B, g², D].
        let patches = try conv2d(image, patchWeight, patchBias, stride: (c.patchSize, c.patchSize))
        let seq = try patches.reshaped([b, d, g * g]).transposed(1, 2)
        let cls = try classEmbedding.reshaped([1, 1, d]).broadcast(to: [b, 1, d])
        var x = try concat([cls, seq], axis: 1) + positionEmbedding
        for block in blocks {
            x = try block(x, heads: c.numAttentionHeads, activation: .gelu, eps: c.layerNormEps, causal: false)
        }
        return try layerNorm(x, weight: postNormWeight, bias: postNormBias, eps: c.layerNormEps)
    }
}

extension ResidualAttentionBlock {
    /// One BLIP-2 vision encoder layer from HF names under `prefix` (`vision_model.encoder.layers.N.`):
    /// `layer_norm1`, `self_attn.qkv` [3D, D] (+ bias, see `Blip2VisionTransformer.init`),
    /// `self_attn.projection`, `layer_norm2`, `mlp.fc1` [I, D], `mlp.fc2` [D, I].
    init(blip2Weights w: Weights, prefix b: String, width d: Int, intermediate: Int, qkvBias: Bool) throws {
        ln1Weight = try w.take(b + "layer_norm1.weight", shape: [d])
        ln1Bias = try w.take(b + "layer_norm1.bias", shape: [d])
        inProjWeight = try w.take(b + "self_attn.qkv.weight", shape: [3 * d, d])
        if let fused = try w.takeIfPresent(b + "self_attn.qkv.bias", shape: [3 * d]) {
            inProjBias = fused
        } else if qkvBias {
            let q = try w.take(b + "self_attn.q_bias", shape: [d]), v = try w.take(b + "self_attn.v_bias", shape: [d])
            inProjBias = try concat([q, Tensor(zeros: [d]), v], axis: 0)
        } else {
            inProjBias = Tensor(zeros: [3 * d])
        }
        outProjWeight = try w.take(b + "self_attn.projection.weight", shape: [d, d])
        outProjBias = try w.take(b + "self_attn.projection.bias", shape: [d])
        ln2Weight = try w.take(b + "layer_norm2.weight", shape: [d])
        ln2Bias = try w.take(b + "layer_norm2.bias", shape: [d])
        fcWeight = try w.take(b + "mlp.fc1.weight", shape: [intermediate, d])
        fcBias = try w.take(b + "mlp.fc1.bias", shape: [intermediate])
        projWeight = try w.take(b + "mlp.fc2.weight", shape: [d, intermediate])
        projBias = try w.take(b + "mlp.fc2.bias", shape: [d])
    }
}
