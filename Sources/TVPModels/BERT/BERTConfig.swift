import Foundation
import TVPFormats
import TVPTensor

extension BERTEncoder {
    /// The hyper-parameters of a BERT encoder, decoded from a Hugging Face `config.json` with the
    /// keys spelled as there (`hidden_size`, `num_hidden_layers`, …). Keys this encoder does not use
    /// (dropout rates, `architectures`, …) are ignored; `position_embedding_type` is optional and,
    /// when present, must be "absolute".
    public struct Config: Codable, Equatable, Sendable {
        /// D: the token width.
        public var hiddenSize: Int
        /// Number of encoder layers.
        public var numHiddenLayers: Int
        /// H: attention heads per layer; D must be a multiple of H.
        public var numAttentionHeads: Int
        /// Width of each layer's MLP.
        public var intermediateSize: Int
        /// The MLP activation; only "gelu" (the exact, erf-based GELU of BERT) is supported.
        public var hiddenAct: String
        /// Epsilon of every LayerNorm (1e-12 in BERT).
        public var layerNormEps: Float
        /// Longest sequence the position table covers.
        public var maxPositionEmbeddings: Int
        /// Rows of the token-type (segment) table.
        public var typeVocabSize: Int
        /// Rows of the word-embedding table.
        public var vocabSize: Int
        /// "absolute" (or absent); relative position variants are not implemented.
        public var positionEmbeddingType: String?

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
            case numHiddenLayers = "num_hidden_layers"
            case numAttentionHeads = "num_attention_heads"
            case intermediateSize = "intermediate_size"
            case hiddenAct = "hidden_act"
            case layerNormEps = "layer_norm_eps"
            case maxPositionEmbeddings = "max_position_embeddings"
            case typeVocabSize = "type_vocab_size"
            case vocabSize = "vocab_size"
            case positionEmbeddingType = "position_embedding_type"
        }

        public init(hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                    hiddenAct: String = "gelu", layerNormEps: Float = 1e-12, maxPositionEmbeddings: Int = 512,
                    typeVocabSize: Int = 2, vocabSize: Int = 30522, positionEmbeddingType: String? = "absolute") {
            self.hiddenSize = hiddenSize
            self.numHiddenLayers = numHiddenLayers
            self.numAttentionHeads = numAttentionHeads
            self.intermediateSize = intermediateSize
            self.hiddenAct = hiddenAct
            self.layerNormEps = layerNormEps
            self.maxPositionEmbeddings = maxPositionEmbeddings
            self.typeVocabSize = typeVocabSize
            self.vocabSize = vocabSize
            self.positionEmbeddingType = positionEmbeddingType
        }

        /// all-MiniLM-L6-v2 (sentence-transformers): 6 layers, width 384, 12 heads, MLP 1536.
        public static let miniLML6 = Config(hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12, intermediateSize: 1536)

        /// Dh = D / H.
        public var headSize: Int { hiddenSize / max(numAttentionHeads, 1) }

        /// Decodes a Hugging Face `config.json` and validates it; errors name the file.
        public static func load(path: String) throws -> Config {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw FormatError(path, "cannot read the BERT config: \(error.localizedDescription)")
            }
            let config: Config
            do { config = try JSONDecoder().decode(Config.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
                throw FormatError(path, "BERT config lacks \"\(key.stringValue)\"")
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
                let key = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw FormatError(path, "BERT config value \"\(key)\" has the wrong type: \(context.debugDescription)")
            } catch {
                throw FormatError(path, "BERT config is not valid JSON: \(error)")
            }
            do { try config.validate() } catch let error as TensorError { throw FormatError(path, error.message) }
            return config
        }

        /// Throws unless the sizes are positive, H divides D, the activation is "gelu" and the
        /// position embeddings are absolute.
        public func validate() throws {
            let op = "BERTEncoder.Config"
            let sizes = [("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                         ("intermediate_size", intermediateSize), ("max_position_embeddings", maxPositionEmbeddings),
                         ("type_vocab_size", typeVocabSize), ("vocab_size", vocabSize)]
            for (name, value) in sizes { try require(value > 0, op, "\(name) must be positive, got \(value)") }
            try require(hiddenSize % numAttentionHeads == 0, op,
                        "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
            try require(hiddenAct == "gelu", op, "hidden_act \"\(hiddenAct)\" is not supported (only \"gelu\", the exact erf GELU)")
            try require(layerNormEps > 0 && layerNormEps.isFinite, op, "layer_norm_eps must be positive, got \(layerNormEps)")
            try require(positionEmbeddingType == nil || positionEmbeddingType == "absolute", op,
                        "position_embedding_type \"\(positionEmbeddingType ?? "")\" is not supported (only \"absolute\")")
        }

        /// Sizes read off the tensor shapes in `weights` (under `prefix`, detected as for
        /// `BERTEncoder.init(weights:config:prefix:)` when nil). The head count cannot be seen in the
        /// shapes, so it is given; activation, epsilon and position type take BERT's defaults.
        public static func inferred(from weights: Weights, heads: Int, prefix: String? = nil) throws -> Config {
            let p = prefix ?? BERTEncoder.detectPrefix(weights)
            func shape(_ key: String) throws -> [Int] {
                // Taking marks the key used; the encoder takes these same tensors anyway.
                guard let t = try weights.takeIfPresent(p + key) else {
                    throw TensorError("BERTEncoder.Config", "\(weights.source): cannot infer the config, missing tensor '\(p + key)'")
                }
                return t.shape
            }
            let words = try shape("embeddings.word_embeddings.weight")
            let positions = try shape("embeddings.position_embeddings.weight")
            let types = try shape("embeddings.token_type_embeddings.weight")
            let intermediate = try shape("encoder.layer.0.intermediate.dense.weight")
            try require(words.count == 2 && positions.count == 2 && types.count == 2 && intermediate.count == 2, "BERTEncoder.Config",
                        "\(weights.source): embedding tables and dense weights must be 2-D")
            var layers = 0
            while weights.contains(p + "encoder.layer.\(layers).attention.self.query.weight") { layers += 1 }
            let config = Config(hiddenSize: words[1], numHiddenLayers: layers, numAttentionHeads: heads, intermediateSize: intermediate[0],
                                maxPositionEmbeddings: positions[0], typeVocabSize: types[0], vocabSize: words[0])
            try config.validate()
            return config
        }
    }
}
