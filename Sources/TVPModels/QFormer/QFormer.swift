import TVPTensor

/// The BLIP-2 Querying Transformer (HF `Blip2QFormerModel`, and `InstructBlipQFormerModel` when it
/// reads an instruction): a post-LayerNorm BERT encoder over Q learned queries whose layers add
/// cross-attention to the image features every `cross_attention_frequency` layers, with separate
/// feed-forward weights for query positions (`intermediate_query` / `output_query`) and for text
/// positions (`intermediate` / `output`, InstructBLIP). Eval mode: dropout is the identity.
///
/// Tensor names under `prefix` (HF: "qformer."):
/// - BLIP-2: `layernorm.{weight,bias}` (applied to the queries);
///   InstructBLIP: `embeddings.{word_embeddings,position_embeddings,layernorm}`;
/// - `encoder.layer.N.attention.{attention.{query,key,value},output.{dense,LayerNorm}}`;
/// - `encoder.layer.N.crossattention.*` (same names; key/value take width `encoder_hidden_size`);
/// - `encoder.layer.N.{intermediate_query,output_query}`, and `{intermediate,output}` for text.
///
/// Shapes: B batch, Q queries, T instruction tokens, D width, Ni image tokens, Dv image width, H heads.
public struct QFormer {
    /// A Linear layer's weight [out, in] and bias [out].
    public struct Dense {
        public let weight, bias: Tensor
        func callAsFunction(_ x: Tensor) throws -> Tensor { try linear(x, weight, bias) }
    }

    /// Multi-head attention plus `output`: LN(x + dense(attention(query(x), key(c), value(c)))).
    public struct Attention {
        public let query, key, value, output: Dense
        public let normWeight, normBias: Tensor
    }

    /// BERT's feed-forward: LN(x + output(gelu(intermediate(x)))).
    public struct FeedForward {
        public let intermediate, output: Dense
        public let normWeight, normBias: Tensor
    }

    public struct Layer {
        public let selfAttention: Attention
        /// Present when layer index % cross_attention_frequency == 0.
        public let crossAttention: Attention?
        public let queryFeedForward: FeedForward
        /// Text positions' feed-forward (InstructBLIP); nil when the Q-Former reads no instruction.
        public let textFeedForward: FeedForward?
    }

    public let config: Blip2Config.QFormer
    /// The embedding LayerNorm: `layernorm` (BLIP-2) or `embeddings.layernorm` (InstructBLIP) [D].
    public let embeddingNormWeight, embeddingNormBias: Tensor
    /// InstructBLIP's instruction tables: `embeddings.word_embeddings` [V, D] and
    /// `embeddings.position_embeddings` [P, D]; nil for BLIP-2. A Q-Former whose caller embeds the
    /// instruction's words itself has the position table and no word table.
    public let wordEmbeddings, positionEmbeddings: Tensor?
    public let layers: [Layer]

    /// Whether the Q-Former reads an instruction (InstructBLIP).
    public var acceptsInstruction: Bool { positionEmbeddings != nil }

    /// Takes the Q-Former's tensors under `prefix`; `instruction` selects InstructBLIP's layout,
    /// without `embeddings.word_embeddings` when `wordTable` is false (the caller then hands the
    /// instruction in as word vectors). A BLIP-2 Q-Former saved with `use_qformer_text_input`
    /// carries text feed-forward weights that BLIP-2 never runs: they are marked used and dropped.
    public init(config c: Blip2Config.QFormer, weights w: Weights, prefix p: String = "qformer.", instruction: Bool,
                wordTable: Bool = true) throws {
        let d = c.hiddenSize, inner = c.intermediateSize
        config = c
        func dense(_ name: String, _ out: Int, _ inputs: Int) throws -> Dense {
            Dense(weight: try w.take(name + ".weight", shape: [out, inputs]), bias: try w.take(name + ".bias", shape: [out]))
        }
        func norm(_ name: String) throws -> (Tensor, Tensor) {
            (try w.take(name + ".weight", shape: [d]), try w.take(name + ".bias", shape: [d]))
        }
        func attention(_ name: String, keyWidth: Int) throws -> Attention {
            let (nw, nb) = try norm(name + ".output.LayerNorm")
            return Attention(query: try dense(name + ".attention.query", d, d), key: try dense(name + ".attention.key", d, keyWidth),
                             value: try dense(name + ".attention.value", d, keyWidth), output: try dense(name + ".output.dense", d, d),
                             normWeight: nw, normBias: nb)
        }
        func feedForward(_ intermediate: String, _ output: String) throws -> FeedForward {
            let (nw, nb) = try norm(output + ".LayerNorm")
            return FeedForward(intermediate: try dense(intermediate + ".dense", inner, d), output: try dense(output + ".dense", d, inner),
                               normWeight: nw, normBias: nb)
        }
        if instruction {
            wordEmbeddings = wordTable ? try w.take(p + "embeddings.word_embeddings.weight", shape: [c.vocabSize, d]) : nil
            positionEmbeddings = try w.take(p + "embeddings.position_embeddings.weight", shape: [c.maxPositionEmbeddings, d])
            (embeddingNormWeight, embeddingNormBias) = try norm(p + "embeddings.layernorm")
            w.ignore { $0 == p + "embeddings.position_ids" }
        } else {
            (wordEmbeddings, positionEmbeddings) = (nil, nil)
            (embeddingNormWeight, embeddingNormBias) = try norm(p + "layernorm")
        }
        layers = try (0..<c.numHiddenLayers).map { i in
            let l = p + "encoder.layer.\(i)."
            if !instruction && c.useQformerTextInput {
                w.ignore { $0.hasPrefix(l + "intermediate.") || $0.hasPrefix(l + "output.") }
            }
            return Layer(selfAttention: try attention(l + "attention", keyWidth: d),
                         crossAttention: i % c.crossAttentionFrequency == 0 ? try attention(l + "crossattention", keyWidth: c.encoderHiddenSize) : nil,
                         queryFeedForward: try feedForward(l + "intermediate_query", l + "output_query"),
                         textFeedForward: instruction ? try feedForward(l + "intermediate", l + "output") : nil)
        }
        let extra = p + "encoder.layer.\(c.numHiddenLayers).attention.attention.query.weight"
        try require(!w.contains(extra), "QFormer", "\(w.source): has more layers than num_hidden_layers = \(c.numHiddenLayers) ('\(extra)' exists)")
    }
}
