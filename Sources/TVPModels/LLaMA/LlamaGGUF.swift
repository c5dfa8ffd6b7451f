import Foundation
import TVPTensor

/// llama.cpp's GGUF layout of a LLaMA model, mapped back to Hugging Face names and row order.
///
/// Names: small pure rules (`hfName`), e.g. `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`.
///
/// Row order: llama.cpp's `convert_hf_to_gguf.py` (`LlamaModel.permute`) reorders the rows of each
/// head of `q_proj` and `k_proj` so its interleaved rope (pairs 2i, 2i+1) computes what HF's
/// half-split rope (pairs i, i + Dh/2) computes on the original rows:
///   `w.reshape(heads, 2, Dh/2, D).swapaxes(1, 2)`.
/// We undo that permutation when loading (`unpermuteRotaryRows`, the same as transformers'
/// `LlamaTensorProcessor._reverse_permute_weights`) and then run the one `.halfSplit` rope on both
/// sources, so HF checkpoints and GGUF files give the same weights and the same code path.
/// Quantization blocks run along rows (the input axis), so permuting whole rows after dequantizing
/// is exact.
public enum LlamaGGUF {
    /// The Hugging Face name of a GGUF tensor name, or nil when no rule applies.
    public static func hfName(_ ggufName: String) -> String? {
        switch ggufName {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = ggufName.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, parts[3] == "weight",
              let module = blockModules[String(parts[2])] else { return nil }
        return "model.layers.\(layer).\(module).weight"
    }

    /// GGUF block tensor → HF module path inside `model.layers.N.`.
    static let blockModules: [String: String] = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    ]

    /// Undoes llama.cpp's q/k row permutation: w [heads·Dh, D] with GGUF row h·Dh + 2i + j
    /// (j ∈ {0, 1}, i < Dh/2) becomes HF row h·Dh + j·Dh/2 + i.
    public static func unpermuteRotaryRows(_ w: Tensor, heads: Int) throws -> Tensor {
        let op = "LlamaGGUF.unpermuteRotaryRows"
        try require(w.rank == 2 && heads > 0 && w.dim(0) % (2 * heads) == 0, op,
                    "weight \(describe(w.shape)) does not split into \(heads) heads of even width")
        let dh = w.dim(0) / heads, half = dh / 2, cols = w.dim(1)
        let out = Tensor(uninitialized: w.shape)
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let from = w.data + (h * dh + 2 * i + j) * cols
                    (out.data + (h * dh + j * half + i) * cols).update(from: from, count: cols)
                }
            }
        }
        return out
    }

    /// Every tensor of `file`, dequantized to Float32, under its HF name (tensors no rule knows keep
    /// their GGUF name, so `Weights.finish()` reports them), with q/k rows put back in HF order.
    public static func weights(_ file: GGUFFile, config: LlamaConfig) throws -> Weights {
        var tensors: [String: Tensor] = [:]
        for info in file.tensorInfos {
            var t = try file.tensor(info.name)
            let name = hfName(info.name) ?? info.name
            if name.hasSuffix("self_attn.q_proj.weight") { t = try unpermuteRotaryRows(t, heads: config.numAttentionHeads) }
            if name.hasSuffix("self_attn.k_proj.weight") { t = try unpermuteRotaryRows(t, heads: config.numKeyValueHeads) }
            tensors[name] = t
        }
        return Weights(tensors, source: file.path)
    }
}
