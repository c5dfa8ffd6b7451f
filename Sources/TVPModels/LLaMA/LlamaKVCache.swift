import TVPTensor
/// Keys and values of the tokens a `LlamaModel` has already seen, per layer, so the next call only
/// runs the new tokens (greedy decoding, scoring many continuations of one prefix).
///
/// Shapes: keys and values [B, Hkv, Nk, Dh] per layer, after RoPE; `validKeys` [B, Nk] row-major
/// (nil while every key is a real token). Each forward call appends its tokens; the tensors keep
/// their autograd history, so gradients flow from later tokens back into the cached prefix.
public final class LlamaKVCache {
    /// Nk, tokens cached so far (the position of the next token when positions start at 0).
    public private(set) var length = 0
    /// B, fixed by the first forward call (0 while empty).
    public private(set) var batch = 0
    private(set) var keys: [Tensor?]
    private(set) var values: [Tensor?]
    /// Key padding over the cached tokens, [B, Nk] row-major; nil means every key is valid.
    public private(set) var validKeys: [Bool]?

    /// An empty cache for a model with `layers` decoder layers.
    public init(layers: Int) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    /// The layer's cached keys and values [B, Hkv, Nk, Dh], nil while empty.
    public func layer(_ index: Int) -> (keys: Tensor, values: Tensor)? {
        guard index >= 0 && index < keys.count, let k = keys[index], let v = values[index] else { return nil }
        return (k, v)
    }

    /// Key padding for `newTokens` more tokens of batch `b`: the cached flags followed by
    /// `newValid` ([B, N], nil = all real). nil when every key is valid. Throws on a batch mismatch.
    func keyMask(batch b: Int, newTokens n: Int, newValid: [Bool]?) throws -> [Bool]? {
        try require(length == 0 || batch == b, "LlamaKVCache", "the cache holds batch \(batch), the new tokens batch \(b)")
        if validKeys == nil && newValid == nil { return nil }
        let old = validKeys ?? Array(repeating: true, count: b * length)
        let new = newValid ?? Array(repeating: true, count: b * n)
        var out: [Bool] = []
        out.reserveCapacity(b * (length + n))
        for i in 0..<b { out += old[(i * length)..<((i + 1) * length)]; out += new[(i * n)..<((i + 1) * n)] }
        return out
    }

    /// Appends layer `index`'s new keys and values [B, Hkv, N, Dh] and returns all of them [B, Hkv, Nk + N, Dh].
    func append(layer index: Int, keys k: Tensor, values v: Tensor) throws -> (Tensor, Tensor) {
        let allKeys = try keys[index].map { try concat([$0, k], axis: 2) } ?? k
        let allValues = try values[index].map { try concat([$0, v], axis: 2) } ?? v
        keys[index] = allKeys
        values[index] = allValues
        return (allKeys, allValues)
    }

    /// Records that every layer appended `n` tokens of batch `b` whose key padding, with the cached
    /// tokens', is `mask` (as returned by `keyMask`).
    func commit(batch b: Int, newTokens n: Int, mask: [Bool]?) {
        batch = b
        length += n
        validKeys = mask
    }

    /// A new cache whose batch item i is this cache's item `sources[i]` (items may repeat): one
    /// prefix scored against many continuations. Differentiable (rows are gathered, not copied out).
    public func gathered(_ sources: [Int]) throws -> LlamaKVCache {
        let op = "LlamaKVCache.gathered"
        try require(!sources.isEmpty && sources.allSatisfy { $0 >= 0 && $0 < batch }, op,
                    "sources \(sources) must be indices into the cached batch of \(batch)")
        let out = LlamaKVCache(layers: keys.count)
        for l in 0..<keys.count {
            out.keys[l] = try keys[l].map { try gatherRows($0, sources) }
            out.values[l] = try values[l].map { try gatherRows($0, sources) }
        }
        out.batch = sources.count
        out.length = length
        if let validKeys {
            out.validKeys = sources.flatMap { validKeys[($0 * length)..<(($0 + 1) * length)] }
        }
        return out
    }
}
