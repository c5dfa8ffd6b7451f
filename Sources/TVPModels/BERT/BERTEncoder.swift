import Foundation
import TVPTensor

/// A BERT text encoder in Hugging Face's `BertModel` layout (post-LayerNorm blocks), with the
/// sentence-transformers head of all-MiniLM-L6-v2: mean pooling over valid tokens, then L2
/// normalization.
///
/// Shapes: token ids [B, N] (right-padded, valid lengths per row) → word embeddings [B, N, D]
/// → hidden states [B, N, D] → sentence embeddings [B, D].
///
/// Tensor names are the checkpoint's own (`embeddings.word_embeddings.weight`,
/// `encoder.layer.N.attention.self.query.weight`, …), with or without a leading "bert.".
public struct BERTEncoder {
    /// One encoder layer's tensors (PyTorch `nn.Linear` layout: weight [out, in], bias [out]).
    public struct Layer {
        public let queryWeight, queryBias, keyWeight, keyBias, valueWeight, valueBias: Tensor
        /// `attention.output.dense` and the LayerNorm after the attention residual.
        public let attentionOutputWeight, attentionOutputBias, attentionNormWeight, attentionNormBias: Tensor
        /// `intermediate.dense` [I, D] (followed by GELU) and `output.dense` [D, I].
        public let intermediateWeight, intermediateBias, outputWeight, outputBias: Tensor
        /// `output.LayerNorm`, after the MLP residual.
        public let outputNormWeight, outputNormBias: Tensor
    }

    public let config: Config
    /// Embedding tables: words [V, D], positions [P, D], token types [T, D]; then their LayerNorm.
    public let wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embeddingNormWeight, embeddingNormBias: Tensor
    public let layers: [Layer]
    /// `pooler.dense` [D, D] and bias [D] when the checkpoint has them (the sentence embedding does
    /// not use them; `poolerOutput` does).
    public let poolerWeight, poolerBias: Tensor?

    /// Takes every tensor the encoder uses from `weights` under `prefix`, checking each shape
    /// against `config`. A nil `prefix` means "bert." when the weights have
    /// `bert.embeddings.word_embeddings.weight`, else "". The `embeddings.position_ids` and
    /// `embeddings.token_type_ids` buffers (constant index tables in HF files) are marked used and
    /// ignored; `pooler.dense.{weight,bias}` are taken when present, so a loaded pooler never counts
    /// as unused. The caller calls `weights.finish()` (other towers may share the same weights).
    public init(weights w: Weights, config: Config, prefix: String? = nil) throws {
        try config.validate()
        let p = prefix ?? BERTEncoder.detectPrefix(w)
        let d = config.hiddenSize, inner = config.intermediateSize
        self.config = config
        w.ignore { $0 == p + "embeddings.position_ids" || $0 == p + "embeddings.token_type_ids" }
        wordEmbeddings = try w.take(p + "embeddings.word_embeddings.weight", shape: [config.vocabSize, d])
        positionEmbeddings = try w.take(p + "embeddings.position_embeddings.weight", shape: [config.maxPositionEmbeddings, d])
        tokenTypeEmbeddings = try w.take(p + "embeddings.token_type_embeddings.weight", shape: [config.typeVocabSize, d])
        embeddingNormWeight = try w.take(p + "embeddings.LayerNorm.weight", shape: [d])
        embeddingNormBias = try w.take(p + "embeddings.LayerNorm.bias", shape: [d])
        layers = try (0..<config.numHiddenLayers).map { i in
            let l = p + "encoder.layer.\(i)."
            func dense(_ name: String, _ out: Int, _ inputs: Int) throws -> (Tensor, Tensor) {
                (try w.take(l + name + ".weight", shape: [out, inputs]), try w.take(l + name + ".bias", shape: [out]))
            }
            func norm(_ name: String) throws -> (Tensor, Tensor) {
                (try w.take(l + name + ".weight", shape: [d]), try w.take(l + name + ".bias", shape: [d]))
            }
            let (qw, qb) = try dense("attention.self.query", d, d)
            let (kw, kb) = try dense("attention.self.key", d, d)
            let (vw, vb) = try dense("attention.self.value", d, d)
            let (aw, ab) = try dense("attention.output.dense", d, d)
            let (anw, anb) = try norm("attention.output.LayerNorm")
            let (iw, ib) = try dense("intermediate.dense", inner, d)
            let (ow, ob) = try dense("output.dense", d, inner)
            let (onw, onb) = try norm("output.LayerNorm")
            return Layer(queryWeight: qw, queryBias: qb, keyWeight: kw, keyBias: kb, valueWeight: vw, valueBias: vb,
                         attentionOutputWeight: aw, attentionOutputBias: ab, attentionNormWeight: anw, attentionNormBias: anb,
                         intermediateWeight: iw, intermediateBias: ib, outputWeight: ow, outputBias: ob,
                         outputNormWeight: onw, outputNormBias: onb)
        }
        let extra = p + "encoder.layer.\(config.numHiddenLayers).attention.self.query.weight"
        try require(!w.contains(extra), "BERTEncoder",
                    "\(w.source): has more layers than num_hidden_layers = \(config.numHiddenLayers) ('\(extra)' exists)")
        poolerWeight = try w.takeIfPresent(p + "pooler.dense.weight", shape: [d, d])
        poolerBias = try w.takeIfPresent(p + "pooler.dense.bias", shape: [d])
        try require((poolerWeight == nil) == (poolerBias == nil), "BERTEncoder",
                    "\(w.source): pooler.dense has only one of weight and bias")
    }

    /// Loads a Hugging Face model folder: `config.json` and `model.safetensors` (as in
    /// all-MiniLM-L6-v2), then fails on any tensor left unused.
    public init(directory: String) throws {
        let folder = URL(fileURLWithPath: directory)
        let config = try Config.load(path: folder.appendingPathComponent("config.json").path)
        let weights = try BERTEncoder.weights(from: SafetensorsFile(path: folder.appendingPathComponent("model.safetensors").path))
        try self.init(weights: weights, config: config)
        try weights.finish()
    }

    /// Every float tensor of `file` (the integer `…position_ids` / `…token_type_ids` buffers of HF
    /// files are left out; the encoder recomputes them). Any other non-float tensor throws.
    public static func weights(from file: SafetensorsFile) throws -> Weights {
        Weights(try HuggingFaceFolder.tensors(in: file), source: file.path)
    }

    /// "bert." when `weights` holds `bert.embeddings.word_embeddings.weight`, else "".
    static func detectPrefix(_ weights: Weights) -> String {
        weights.contains("bert.embeddings.word_embeddings.weight") ? "bert." : ""
    }

    /// Random weights in the checkpoint's names (for benchmarks and tests): normal(0, 0.02)
    /// matrices and tables like BERT's initializer, LayerNorm weights 1, biases 0.
    public static func randomWeights(_ c: Config, seed: UInt64, prefix p: String = "", pooler: Bool = true) -> [String: Tensor] {
        var seedCounter = seed
        func randn(_ shape: [Int]) -> Tensor { seedCounter &+= 1; return Tensor.randn(shape, std: 0.02, seed: seedCounter) }
        let d = c.hiddenSize, inner = c.intermediateSize
        var w: [String: Tensor] = [
            p + "embeddings.word_embeddings.weight": randn([c.vocabSize, d]),
            p + "embeddings.position_embeddings.weight": randn([c.maxPositionEmbeddings, d]),
            p + "embeddings.token_type_embeddings.weight": randn([c.typeVocabSize, d]),
            p + "embeddings.LayerNorm.weight": Tensor(repeating: 1, shape: [d]), p + "embeddings.LayerNorm.bias": Tensor(zeros: [d]),
        ]
        for i in 0..<c.numHiddenLayers {
            let l = p + "encoder.layer.\(i)."
            for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                w[l + name + ".weight"] = randn([d, d]); w[l + name + ".bias"] = Tensor(zeros: [d])
            }
            w[l + "intermediate.dense.weight"] = randn([inner, d]); w[l + "intermediate.dense.bias"] = Tensor(zeros: [inner])
            w[l + "output.dense.weight"] = randn([d, inner]); w[l + "output.dense.bias"] = Tensor(zeros: [d])
            for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
                w[l + name + ".weight"] = Tensor(repeating: 1, shape: [d]); w[l + name + ".bias"] = Tensor(zeros: [d])
            }
        }
        if pooler { w[p + "pooler.dense.weight"] = randn([d, d]); w[p + "pooler.dense.bias"] = Tensor(zeros: [d]) }
        return w
    }

    /// Every weight tensor, for freezing (`requiresGrad = false`) or unfreezing in one go.
    public var parameters: [Tensor] {
        var all = [wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embeddingNormWeight, embeddingNormBias]
        for l in layers {
            all += [l.queryWeight, l.queryBias, l.keyWeight, l.keyBias, l.valueWeight, l.valueBias,
                    l.attentionOutputWeight, l.attentionOutputBias, l.attentionNormWeight, l.attentionNormBias,
                    l.intermediateWeight, l.intermediateBias, l.outputWeight, l.outputBias, l.outputNormWeight, l.outputNormBias]
        }
        return all + [poolerWeight, poolerBias].compactMap { $0 }
    }
}
