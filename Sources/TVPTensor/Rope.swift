import Foundation

// Rotary position embedding (RoPE); forward and backward side by side.
// Shapes: x [..., N, Dh] (usually [B, H, N, Dh]), positions [N], out like x.
// Pair i (0 ≤ i < Dh/2) turns by angle θ = position · base^(−2i/Dh):
//   (a, b) → (a cos θ − b sin θ, a sin θ + b cos θ)
// backward: the inverse rotation (θ → −θ) applied to the output's gradient.

/// Which elements of a head form the rotated pairs.
public enum RopeStyle: Sendable {
    /// Pair (i, i + Dh/2): Hugging Face LLaMA's `rotate_half` (`q * cos + rotate_half(q) * sin`).
    case halfSplit
    /// Pair (2i, 2i + 1): Meta's original LLaMA code and GGUF/llama.cpp's normal rope.
    case interleaved
}

/// Rotates head vectors by their token position. `positions[n]` is the position of token n
/// (`positions.count` must equal N, the second-to-last axis); Dh must be even. Angles follow Hugging
/// Face: inverse frequencies base^(−2i/Dh), angles and their cosines in Float32.
public func rope(_ x: Tensor, positions: [Int], base: Float = 10000, style: RopeStyle = .halfSplit) throws -> Tensor {
    let op = "rope"
    try require(x.rank >= 2, op, "needs [..., N, Dh] (usually [B, H, N, Dh]), got \(describe(x.shape))")
    let tokens = x.dim(-2), width = x.dim(-1)
    try require(positions.count == tokens, op, "\(positions.count) positions for N = \(tokens) tokens of \(describe(x.shape))")
    try require(width % 2 == 0, op, "head width \(width) of \(describe(x.shape)) is odd; rotary pairs need an even width")
    try require(base > 0 && base.isFinite, op, "base \(base) must be positive and finite")
    let half = width / 2
    // cos and sin per token and pair: [N, Dh/2], computed like HF (Float32 inv_freq · position).
    let cosTable = Tensor(uninitialized: [tokens, half]), sinTable = Tensor(uninitialized: [tokens, half])
    for i in 0..<half {
        let inverseFrequency = 1 / Foundation.pow(base, Float(2 * i) / Float(width))
        for n in 0..<tokens {
            let angle = Float(positions[n]) * inverseFrequency
            cosTable.data[n * half + i] = Foundation.cos(angle)
            sinTable.data[n * half + i] = Foundation.sin(angle)
        }
    }
    let out = Tensor(uninitialized: x.shape)
    rotatePairs(x.data, out.data, rows: x.count / max(width, 1), tokens: tokens, half: half,
                cos: cosTable.data, sin: sinTable.data, sinSign: 1, style: style)
    return out.recorded(op, [x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        rotatePairs(g.data, dx.data, rows: x.count / max(width, 1), tokens: tokens, half: half,
                    cos: cosTable.data, sin: sinTable.data, sinSign: -1, style: style)
        return [dx]
    }
}

/// dst = rotation of src, row by row (`rows` = everything before Dh; row r is token r % tokens).
/// `sinSign` −1 rotates backwards.
private func rotatePairs(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int, tokens: Int, half: Int,
                         cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, sinSign: Float, style: RopeStyle) {
    let width = 2 * half
    Parallel.forRanges(rows, costPerItem: width * 3) { range in
        for r in range {
            let s = src + r * width, d = dst + r * width
            let c = cos + (r % tokens) * half, sn = sin + (r % tokens) * half
            switch style {
            case .halfSplit:
                for i in 0..<half {
                    let a = s[i], b = s[i + half], si = sinSign * sn[i]
                    d[i] = a * c[i] - b * si
                    d[i + half] = a * si + b * c[i]
                }
            case .interleaved:
                for i in 0..<half {
                    let a = s[2 * i], b = s[2 * i + 1], si = sinSign * sn[i]
                    d[2 * i] = a * c[i] - b * si
                    d[2 * i + 1] = a * si + b * c[i]
                }
            }
        }
    }
}
