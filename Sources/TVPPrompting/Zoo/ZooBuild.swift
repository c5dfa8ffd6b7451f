import Foundation
import TVPData
import TVPFormats
import TVPModels
import TVPTensor

/// What `Zoo.build` trains on and for how long. The defaults are the committed zoo's.
public struct ZooBuildOptions: Sendable, Equatable {
    /// Train images per class from Fashion-MNIST's train split and from mnist-5k's zoo train rows.
    public var fashionPerClass = 30, mnistPerClass = 30
    /// ViT classification pretraining (on a larger train subset, `vitPerClass` images per class).
    public var vitPerClass = 300, vitSteps = 400, vitBatchSize = 64, vitLR: Float = 1e-3
    /// Connector training.
    public var connector = ZooTrainingOptions(epochs: 1, batchSize: 8, lr: 1e-3, seed: 42, logEvery: 10)
    /// Guide projections: InfoNCE steps on the guide images' cached features.
    public var guidePerClass = 300, guideSteps = 400, guideBatchSize = 64, guideLR: Float = 2e-3
    /// Test images per data set for the zero-shot table (first ones of each test split).
    public var evaluationCount = 200
    public var seed: UInt64 = 42
    /// Which models to train (all by default).
    public var models = Zoo.modelNames

    public init() {}
}

/// One row of the zero-shot table.
public struct ZooZeroShot: Sendable, Equatable, Codable {
    public var model: String
    public var dataset: String
    public var accuracy: Double
    public var chance: Double
}

/// What `Zoo.build` produced.
public struct ZooBuildReport: Sendable {
    public var files: [String: Int] = [:]              // path → bytes
    public var seconds: [String: Double] = [:]         // stage → wall seconds
    public var training: [String: ZooTrainingReport] = [:]
    public var zeroShot: [ZooZeroShot] = []

    /// The zero-shot table as Markdown.
    public var zeroShotTable: String {
        let sets = Array(Set(zeroShot.map(\.dataset))).sorted()
        var lines = ["| model | " + sets.joined(separator: " | ") + " |", "|---|" + sets.map { _ in "---:|" }.joined()]
        for model in Zoo.modelNames where zeroShot.contains(where: { $0.model == model }) {
            let cells = sets.map { s in zeroShot.first { $0.model == model && $0.dataset == s }.map { String(format: "%.1f%%", 100 * $0.accuracy) } ?? "–" }
            lines.append("| \(model) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }
}

extension Zoo {
    /// Builds the zoo: pretrains the ViT, caches frozen features under `cache`, trains every
    /// connector and the guide projections, writes the F16 weight files to `output`, then reloads
    /// them (so the reported numbers are those of the committed files) and measures zero-shot accuracy.
    /// Train splits only: Fashion-MNIST train, mnist-5k rows 0..<4000; evaluation on the first
    /// `evaluationCount` images of Fashion-MNIST test and mnist-5k rows 4000..<5000.
    public static func build(options o: ZooBuildOptions = ZooBuildOptions(), assets: String = Fetcher().assetsDirectory,
                             output: String = defaultWeightsDirectory(), cache: String,
                             log: @escaping (String) -> Void = { print($0) }) throws -> ZooBuildReport {
        var report = ZooBuildReport()
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            log("[\(stage)]")
            defer { report.seconds[stage] = Date().timeIntervalSince(start); log(String(format: "[\(stage)] %.1f s", report.seconds[stage]!)) }
            return try body()
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let fashionTrain = try ZooImageSet.fashionMNIST(split: "train", assets: assets)
        let mnistTrain = try ZooImageSet.mnist(split: "train", assets: assets)
        let (language, tokenizer) = try loadLanguage(assets: assets)
        let efficientNet = try EfficientNetLite.load(efficientNetAsset.path(in: assets))
        let specs = try o.models.map(ZooModelSpec.named)

        // 1. The ViT: 20-way classification pretraining, then frozen (F16 as committed).
        var vit: VisionTransformer?
        if specs.contains(where: { $0.tower == .vit }) {
            let path = vitFile(in: output)
            try timed("vit pretraining") {
                let corpus = try ZooCorpus(sets: [fashionTrain.firstPerClass(o.vitPerClass), mnistTrain.firstPerClass(o.vitPerClass)])
                let framed = try withoutGrad { try framedImages(corpus.images) }
                let weights = ZooViT.randomWeights(classes: corpus.classNames.count, seed: o.seed)
                let (first, last) = try ZooViT.pretrain(weights: weights, images: framed, labels: corpus.labels, steps: o.vitSteps,
                                                        batchSize: o.vitBatchSize, lr: o.vitLR, seed: o.seed, log: log)
                log(String(format: "  vit loss %.3f → %.3f", first, last))
                try Float16Safetensors.write(weights, metadata: ["seed": String(o.seed), "steps": String(o.vitSteps)], to: path)
            }
            vit = try ZooViT.tower(weights: Safetensors.read(path), source: path)
        }

        // 2. The corpus and its cached features.
        let corpus = try ZooCorpus(sets: [fashionTrain.firstPerClass(o.fashionPerClass), mnistTrain.firstPerClass(o.mnistPerClass)])
        let corpusKey = "fashion-train-first\(o.fashionPerClass)+mnist5k-train-first\(o.mnistPerClass)@\(imageSize)/\(frame)"
        log("corpus: \(corpus.imageCount) train images, \(corpus.samples.count) samples")
        let taps = Array(Set(specs.compactMap { spec -> EfficientNetLite.Tap? in if case .efficientNet(let t) = spec.tower { return t }; return nil }))
            .sorted { ZooFeatureCache.tapName($0) < ZooFeatureCache.tapName($1) }
        let effnetFeatures = try timed("efficientnet features") {
            try ZooFeatureCache.readOrCompute(path: (cache as NSString).appendingPathComponent("effnet-\(sha256Hex(corpusKey).prefix(12)).safetensors"),
                                              fingerprint: corpusKey + " taps " + taps.map(ZooFeatureCache.tapName).joined(separator: ","), log: log) {
                try ZooFeatureCache.efficientNet(efficientNet, grayImages: corpus.images, taps: taps)
            }
        }

        // 3. The connectors.
        let samples = try corpus.samples.map { s in
            (image: s.image, prompt: try promptTokens(tokenizer, question: s.question), answer: tokenizer.encode(s.answer + PromptTemplate.smolLM2Chat.answerSuffix))
        }
        for spec in specs {
            let encoder = try encoder(spec, efficientNet: efficientNet, vit: vit)
            let features: Tensor
            switch spec.tower {
            case .efficientNet(let tap): features = effnetFeatures[ZooFeatureCache.tapName(tap)]!
            case .vit:
                features = try timed("vit features") {
                    try ZooFeatureCache.readOrCompute(path: (cache as NSString).appendingPathComponent("vit-features.safetensors"),
                                                      fingerprint: corpusKey + " vit " + sha256Hex(Array(try Data(contentsOf: URL(fileURLWithPath: vitFile(in: output))))), log: log) {
                        ["features": try ZooFeatureCache.encoder(encoder, grayImages: corpus.images)]
                    }["features"]!
                }
            }
            let connector = try makeConnector(spec, inputWidth: encoder.featureWidth, outputWidth: language.config.hiddenSize)
            let model = try assemble(spec, encoder: encoder, connector: connector, language: language, tokenizer: tokenizer)
            log("\(spec.name): \(connector.parameterCount) connector values, \(model.visualTokenCount) visual tokens")
            report.training[spec.name] = try timed("train \(spec.name)") {
                try ZooConnectorTrainer.train(model: model, features: features, samples: samples, options: o.connector,
                                              checkpoint: (cache as NSString).appendingPathComponent("\(spec.name)-checkpoint.safetensors"), log: log)
            }
            try Float16Safetensors.write(connector.namedParameters, metadata: ["seed": String(o.connector.seed), "corpus": corpusKey],
                                         to: connectorFile(spec.name, in: output))
        }

        // 4. The guide.
        try timed("guide") {
            let guideCorpus = try ZooCorpus(sets: [fashionTrain.firstPerClass(o.guidePerClass), mnistTrain.firstPerClass(o.guidePerClass)])
            let key = "fashion-train-first\(o.guidePerClass)+mnist5k-train-first\(o.guidePerClass)@\(imageSize)/\(frame) pooled"
            let pooled = try ZooFeatureCache.readOrCompute(path: (cache as NSString).appendingPathComponent("guide-features.safetensors"),
                                                           fingerprint: key, log: log) {
                try ZooFeatureCache.efficientNet(efficientNet, grayImages: guideCorpus.images, taps: [.pooled])
            }["pooled"]!
            let textDirectory = (try textTowerAsset.path(in: assets) as NSString).deletingLastPathComponent
            let text = try BERTEncoder(directory: textDirectory)
            let wordPiece = try WordPieceTokenizer(vocabTxt: ZooAsset(asset: textTowerAsset.asset, file: "vocab.txt").path(in: assets))
            let captions = try ZooGuide.sentenceEmbeddings(guideCorpus.classNames.map(caption), text: text, tokenizer: wordPiece)
            let trained = try ZooGuide.train(imageFeatures: pooled.reshaped([pooled.dim(0), -1]), labels: guideCorpus.labels, textFeatures: captions,
                                             steps: o.guideSteps, batchSize: o.guideBatchSize, lr: o.guideLR, seed: o.seed, log: log)
            log(String(format: "  guide loss %.3f → %.3f", trained.first, trained.last))
            try Float16Safetensors.write(trained.weights, metadata: ["seed": String(o.seed)], to: guideFile(in: output))
        }

        // 5. Reload what was written and measure zero-shot accuracy on unseen test images.
        try timed("zero-shot") {
            let zoo = try load(assets: assets, weights: output, names: o.models)
            let sets = [try ZooImageSet.fashionMNIST(split: "test", assets: assets).subset(Array(0..<o.evaluationCount)),
                        try ZooImageSet.mnist(split: "test", assets: assets).subset(Array(0..<o.evaluationCount))]
            for model in zoo.models {
                for set in sets {
                    let accuracy = try zeroShotAccuracy(model, set: set)
                    report.zeroShot.append(ZooZeroShot(model: model.name, dataset: set.name, accuracy: accuracy, chance: 1 / Double(set.classNames.count)))
                    log(String(format: "  %@ on %@: %.1f%%", model.name, set.name, 100 * accuracy))
                }
            }
        }
        for name in (try FileManager.default.contentsOfDirectory(atPath: output)).sorted() where name.hasSuffix(".safetensors") {
            let path = (output as NSString).appendingPathComponent(name)
            report.files[path] = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
        return report
    }

    /// The prompt pieces of `question` in the SmolLM2 chat template.
    static func promptTokens(_ tokenizer: any Tokenizer, question: String) throws -> PromptTokens {
        let (before, after) = PromptTemplate.smolLM2Chat.filled(question: question)
        return PromptTokens(beforeImage: tokenizer.encode(before), afterImage: tokenizer.encode(after))
    }
}
