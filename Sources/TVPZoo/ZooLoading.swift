import Foundation
import TVPData
import TVPModels
import TVPTensor

/// The loaded zoo: every MLLM (sharing one language model) and the TSE guide.
public struct ZooModels {
    public let models: [ComposedMLLM]
    public let guide: ZooGuide
    public let tokenizer: any Tokenizer

    /// The model called `name`, or a `ZooError` listing the names.
    public func model(_ name: String) throws -> ComposedMLLM {
        guard let m = models.first(where: { $0.name == name }) else {
            throw ZooError("no zoo model '\(name)'; loaded: \(models.map(\.name).joined(separator: ", "))")
        }
        return m
    }
}

extension Zoo {
    /// The committed weight files (connectors, ViT tower, guide projections): `Pipelines/zoo/connectors`
    /// under the current directory when present, else under this source tree's repository root.
    public static func defaultWeightsDirectory(filePath: String = #filePath) -> String {
        let relative = "Pipelines/zoo/connectors"
        let here = (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: here) { return here }
        var root = URL(fileURLWithPath: filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }          // …/Sources/TVPZoo/ZooLoading.swift
        return root.appendingPathComponent(relative).path
    }

    /// The weight file of a zoo model's connector, the ViT tower and the guide.
    public static func connectorFile(_ name: String, in directory: String) -> String { (directory as NSString).appendingPathComponent("\(name).safetensors") }
    public static func vitFile(in directory: String) -> String { (directory as NSString).appendingPathComponent("zoo-vit-tower.safetensors") }
    public static func guideFile(in directory: String) -> String { (directory as NSString).appendingPathComponent("zoo-guide.safetensors") }

    /// A freshly initialized connector of `spec` (seeded by `spec.seed`).
    /// `wordTable` (the language model's token embeddings) is what a connector that reads the prompt reads it with.
    public static func makeConnector(_ spec: ZooModelSpec, inputWidth: Int, outputWidth: Int, wordTable: Tensor? = nil) throws -> any Connector {
        switch spec.connector {
        case .mlp: return MLPProjector(inputWidth: inputWidth, outputWidth: outputWidth, seed: spec.seed)
        case .pooledLinear(let k): return try PooledLinearProjector(inputWidth: inputWidth, outputWidth: outputWidth, groupSize: k, seed: spec.seed)
        case .gatedMLP: return try ZooGatedMLPConnector(inputWidth: inputWidth, outputWidth: outputWidth, wordTable: wordTable, seed: spec.seed)
        case .gatedPooledLinear(let k):
            return try ZooGatedPooledConnector(inputWidth: inputWidth, outputWidth: outputWidth, groupSize: k, wordTable: wordTable, seed: spec.seed)
        case .qformer(let shape): return try ZooQFormerConnector(shape: shape, inputWidth: inputWidth, outputWidth: outputWidth, wordTable: wordTable, seed: spec.seed)
        }
    }

    /// A connector of `spec` from its weights (every tensor used).
    public static func loadConnector(_ spec: ZooModelSpec, inputWidth: Int, weights: [String: Tensor], source: String,
                                     wordTable: Tensor? = nil) throws -> any Connector {
        let w = Weights(weights, source: source)
        let connector: any Connector
        switch spec.connector {
        case .mlp: connector = try MLPProjector(weights: w, prefix: "")
        case .pooledLinear(let k): connector = try PooledLinearProjector(weights: w, prefix: "", groupSize: k)
        case .gatedMLP: connector = try ZooGatedMLPConnector(weights: w, wordTable: wordTable)
        case .gatedPooledLinear(let k): connector = try ZooGatedPooledConnector(weights: w, groupSize: k, wordTable: wordTable)
        case .qformer(let shape): return try ZooQFormerConnector(shape: shape, inputWidth: inputWidth, weights: w, wordTable: wordTable)
        }
        try w.finish()
        try require(connector.inputWidth == inputWidth, "Zoo", "\(source): the connector takes width \(connector.inputWidth), the tower gives \(inputWidth)")
        return connector
    }

    /// The prefix of a zoo model's LoRA tensors in its weight file (the rest is the connector's).
    public static let adapterPrefix = "language_model."

    /// `language` with fresh adapters of `spec` (A random, B zero: outputs unchanged), or as is without.
    public static func makeLanguage(_ spec: ZooModelSpec, base language: LlamaModel) throws -> LlamaModel {
        guard let lora = spec.lora else { return language }
        return try language.adapted(LlamaLoRA(config: language.config, rank: lora.rank, alpha: lora.alpha, seed: spec.seed + 1000))
    }

    /// What a zoo build trains and writes for `model`: its connector's tensors and its LoRA tensors
    /// (under `adapterPrefix`).
    public static func trainedParameters(_ model: ComposedMLLM) -> [String: Tensor] {
        var named = model.connector.namedParameters
        for (name, tensor) in model.language.lora?.namedParameters ?? [:] { named[adapterPrefix + name] = tensor }
        return named
    }

    /// The vision encoder of `spec` over the given towers.
    public static func encoder(_ spec: ZooModelSpec, efficientNet: EfficientNetLite?, vit: VisionTransformer?) throws -> any VisionEncoder {
        switch spec.tower {
        case .efficientNet(let tap):
            guard let efficientNet else { throw ZooError("\(spec.name) needs EfficientNet-Lite0") }
            return try EfficientNetVisionEncoder(network: efficientNet, tap: tap, inputSize: imageSize)
        case .vit:
            guard let vit else { throw ZooError("\(spec.name) needs the zoo ViT tower") }
            return try ZooViT.encoder(vit)
        }
    }

    /// One zoo MLLM from its parts (SmolLM2 chat template).
    public static func assemble(_ spec: ZooModelSpec, encoder: any VisionEncoder, connector: any Connector,
                                language: LlamaModel, tokenizer: (any Tokenizer)?) throws -> ComposedMLLM {
        try ComposedMLLM(name: spec.name, encoder: encoder, connector: connector, language: language, tokenizer: tokenizer, template: .smolLM2Chat)
    }

    /// `language` with the LoRA tensors of `spec`'s weight file (those under `adapterPrefix`), or as
    /// is when `spec` has none; a file whose adapters disagree with the spec is an error.
    public static func loadLanguage(_ spec: ZooModelSpec, base language: LlamaModel, weights: [String: Tensor], source: String) throws -> LlamaModel {
        let adapters = weights.filter { $0.key.hasPrefix(adapterPrefix) }
        guard let lora = spec.lora else {
            guard adapters.isEmpty else { throw ZooError("\(source): holds LoRA tensors (\(adapters.keys.sorted()[0]), …) but \(spec.name) keeps the LM frozen") }
            return language
        }
        guard !adapters.isEmpty else {
            throw ZooError("\(source): no LoRA tensors under '\(adapterPrefix)' for \(spec.name) (rank \(lora.rank)); a file from an older zoo? rebuild with `tvp-run Pipelines/zoo.yaml`")
        }
        let w = Weights(Dictionary(uniqueKeysWithValues: adapters.map { (String($0.key.dropFirst(adapterPrefix.count)), $0.value) }), source: source)
        let adapted = try LlamaLoRA(config: language.config, weights: w, scale: lora.alpha / Float(lora.rank))
        try w.finish()
        try require(adapted.rank == lora.rank, "Zoo", "\(source): LoRA rank \(adapted.rank), \(spec.name) expects \(lora.rank)")
        return try language.adapted(adapted)
    }

    /// The shared frozen language model and its tokenizer from the SmolLM2 GGUF.
    public static func loadLanguage(assets: String) throws -> (LlamaModel, ByteLevelBPETokenizer) {
        let file = try GGUFFile(path: languageAsset.path(in: assets))
        return (try LlamaModel(gguf: file), try ByteLevelBPETokenizer(gguf: file))
    }

    /// Every zoo model and the guide from the manifest assets under `assets` (default
    /// `~/.cache/tvp/assets`) and the committed weights in `weights`. Throws a `ZooError` naming the
    /// asset to fetch, or the weight file to rebuild with `tvp-run Pipelines/zoo.yaml`, when one is absent.
    public static func load(assets: String = Fetcher().assetsDirectory, weights: String = defaultWeightsDirectory(),
                            names: [String] = modelNames) throws -> ZooModels {
        func committed(_ path: String) throws -> [String: Tensor] {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ZooError("missing zoo weight file \(path): rebuild the zoo with `tvp-run Pipelines/zoo.yaml`")
            }
            return try Safetensors.read(path)
        }
        let (language, tokenizer) = try loadLanguage(assets: assets)
        let efficientNet = try EfficientNetLite.load(efficientNetAsset.path(in: assets))
        let specs = try names.map(ZooModelSpec.named)
        let vit = specs.contains { $0.tower == .vit } ? try ZooViT.tower(weights: committed(vitFile(in: weights)), source: vitFile(in: weights)) : nil
        let models = try specs.map { spec -> ComposedMLLM in
            let encoder = try encoder(spec, efficientNet: efficientNet, vit: vit)
            let path = connectorFile(spec.name, in: weights)
            let file = try committed(path)
            let connector = try loadConnector(spec, inputWidth: encoder.featureWidth, weights: file.filter { !$0.key.hasPrefix(adapterPrefix) }, source: path,
                                              wordTable: language.embedTokens)
            return try assemble(spec, encoder: encoder, connector: connector, language: loadLanguage(spec, base: language, weights: file, source: path),
                                tokenizer: tokenizer)
        }
        let textDirectory = (try textTowerAsset.path(in: assets) as NSString).deletingLastPathComponent
        let text = try BERTEncoder(directory: textDirectory)
        let vocab = try ZooAsset(asset: textTowerAsset.asset, file: "vocab.txt").path(in: assets)
        let guide = try ZooGuide(network: efficientNet, text: text, tokenizer: WordPieceTokenizer(vocabTxt: vocab),
                                 weights: committed(guideFile(in: weights)), source: guideFile(in: weights))
        return ZooModels(models: models, guide: guide, tokenizer: tokenizer)
    }
}
