import TVPTensor

/// The MLP activation of a CLIP tower. OpenAI's released CLIP weights (and open_clip's `*-quickgelu`
/// configs, HF `hidden_act: quick_gelu`) use QuickGELU; open_clip's plain configs such as
/// `ViT-B-32.json` (trained on LAION) build `nn.GELU`, the exact erf form.
public enum CLIPActivation: String, Sendable, Equatable {
    /// x · sigmoid(1.702 · x).
    case quickGELU = "quick_gelu"
    /// Exact GELU, x · Φ(x).
    case gelu = "gelu"

    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .quickGELU: return TVPTensor.quickGELU(x)
        case .gelu: return TVPTensor.gelu(x)
        }
    }
}

/// One pre-norm transformer block as in CLIP's `ResidualAttentionBlock`, shared by the image and
/// the text tower: x + attn(ln_1(x)), then + mlp(ln_2(x)), with a fused q/k/v in-projection.
///
/// Tensor names (OpenAI layout, under a prefix such as `visual.transformer.resblocks.3.`):
/// `ln_1.{weight,bias}`, `attn.in_proj_weight` [3D, D], `attn.in_proj_bias` [3D],
/// `attn.out_proj.{weight,bias}`, `ln_2.{weight,bias}`, `mlp.c_fc.{weight,bias}` [F, D],
/// `mlp.c_proj.{weight,bias}` [D, F]. Shapes: x [B, N, D] → [B, N, D].
public struct ResidualAttentionBlock {
    public let ln1Weight, ln1Bias, inProjWeight, inProjBias, outProjWeight, outProjBias: Tensor
    public let ln2Weight, ln2Bias, fcWeight, fcBias, projWeight, projBias: Tensor

    /// Takes the block's tensors from `weights` under `prefix`, checking them against width `width`.
    public init(weights w: Weights, prefix b: String, width d: Int) throws {
        ln1Weight = try w.take(b + "ln_1.weight", shape: [d])
        ln1Bias = try w.take(b + "ln_1.bias", shape: [d])
        inProjWeight = try w.take(b + "attn.in_proj_weight", shape: [3 * d, d])
        inProjBias = try w.take(b + "attn.in_proj_bias", shape: [3 * d])
        outProjWeight = try w.take(b + "attn.out_proj.weight", shape: [d, d])
        outProjBias = try w.take(b + "attn.out_proj.bias", shape: [d])
        ln2Weight = try w.take(b + "ln_2.weight", shape: [d])
        ln2Bias = try w.take(b + "ln_2.bias", shape: [d])
        fcWeight = try w.take(b + "mlp.c_fc.weight", shape: [-1, d])
        let hidden = fcWeight.dim(0)
        fcBias = try w.take(b + "mlp.c_fc.bias", shape: [hidden])
        projWeight = try w.take(b + "mlp.c_proj.weight", shape: [d, hidden])
        projBias = try w.take(b + "mlp.c_proj.bias", shape: [d])
    }

    /// Counts the blocks `<prefix>0.`, `<prefix>1.`, … present in `weights` (by their `ln_1.weight`).
    public static func count(in w: Weights, prefix: String) -> Int {
        var layers = 0
        while w.contains(prefix + "\(layers).ln_1.weight") { layers += 1 }
        return layers
    }

    /// Random weights for one block in the checkpoint's names (benchmarks and tests), CLIP-like scales.
    public static func randomWeights(width d: Int, prefix b: String, seed: inout UInt64) -> [String: Tensor] {
        func randn(_ shape: [Int], _ std: Float) -> Tensor { seed &+= 1; return Tensor.randn(shape, std: std, seed: seed) }
        return [
            b + "ln_1.weight": Tensor(repeating: 1, shape: [d]), b + "ln_1.bias": Tensor(zeros: [d]),
            b + "ln_2.weight": Tensor(repeating: 1, shape: [d]), b + "ln_2.bias": Tensor(zeros: [d]),
            b + "attn.in_proj_weight": randn([3 * d, d], 0.02), b + "attn.in_proj_bias": Tensor(zeros: [3 * d]),
            b + "attn.out_proj.weight": randn([d, d], 0.02), b + "attn.out_proj.bias": Tensor(zeros: [d]),
            b + "mlp.c_fc.weight": randn([4 * d, d], 0.02), b + "mlp.c_fc.bias": Tensor(zeros: [4 * d]),
            b + "mlp.c_proj.weight": randn([d, 4 * d], 0.02), b + "mlp.c_proj.bias": Tensor(zeros: [d]),
        ]
    }

    /// x [B, N, D] → [B, N, D]. `causal` hides later tokens from earlier ones (the text tower).
    /// With `queries` = Q < N, only the first Q tokens are computed ([B, N, D] → [B, Q, D]): every
    /// token still serves as a key and value, but the query, output projection and MLP run on Q
    /// tokens only. A tower whose output is its class token runs its last block this way.
    public func callAsFunction(_ x: Tensor, heads h: Int, activation: CLIPActivation, eps: Float, causal: Bool,
                               queries: Int? = nil) throws -> Tensor {
        let op = "ResidualAttentionBlock"
        let d = ln1Weight.dim(0)
        try require(x.rank == 3 && x.dim(2) == d, op, "input \(describe(x.shape)) should be [B, N, \(d)]")
        try require(h > 0 && d % h == 0, op, "width \(d) does not split into \(h) heads")
        let b = x.dim(0), n = x.dim(1), q = queries ?? n
        try require(q >= 1 && q <= n, op, "queries \(q) outside 1...\(n)")
        let normed = try layerNorm(x, weight: ln1Weight, bias: ln1Bias, eps: eps)
        let query: Tensor, key: Tensor, value: Tensor, residual: Tensor
        if q == n {
            // One fused GEMM; [B, N, 3, H, Dh] → [3, B, H, N, Dh], then free views along the first axis.
            let split = try linear(normed, inProjWeight, inProjBias).reshaped([b, n, 3, h, d / h]).permuted([2, 0, 3, 1, 4])
            (query, key, value, residual) = (try select(split, axis: 0, index: 0), try select(split, axis: 0, index: 1),
                                             try select(split, axis: 0, index: 2), x)
        } else {
            // Keys and values for every token (rows D..<3D of the in-projection), queries for the first Q.
            let kvWeight = try slice(inProjWeight, axis: 0, range: d..<(3 * d)), kvBias = try slice(inProjBias, axis: 0, range: d..<(3 * d))
            let kv = try linear(normed, kvWeight, kvBias).reshaped([b, n, 2, h, d / h]).permuted([2, 0, 3, 1, 4])
            let qWeight = try slice(inProjWeight, axis: 0, range: 0..<d), qBias = try slice(inProjBias, axis: 0, range: 0..<d)
            query = try splitHeads(linear(slice(normed, axis: 1, range: 0..<q), qWeight, qBias), heads: h)
            (key, value, residual) = (try select(kv, axis: 0, index: 0), try select(kv, axis: 0, index: 1), try slice(x, axis: 1, range: 0..<q))
        }
        let attended = try scaledDotProductAttention(q: query, k: key, v: value, causal: causal)
        var y = try residual + linear(mergeHeads(attended), outProjWeight, outProjBias)
        let hidden = try activation(linear(layerNorm(y, weight: ln2Weight, bias: ln2Bias, eps: eps), fcWeight, fcBias))
        y = try y + linear(hidden, projWeight, projBias)
        return y
    }
}
