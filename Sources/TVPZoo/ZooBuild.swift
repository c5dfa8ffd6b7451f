import Foundation
import TVPData
import TVPFormats
import TVPModels
import TVPTensor

/// What `Zoo.build` trains on and for how long. The defaults are the committed zoo's.
public struct ZooBuildOptions: Sendable, Equatable {
    /// Connector corpus: train images per class from Fashion-MNIST's train split and from
    /// mnist-5k's zoo train rows, and rendered CLEVR-style train scenes (`clevrSeed`; the default
    /// pipelines render theirs from seed 0, so the zoo's scenes are not theirs).
    public var fashionPerClass = 40, mnistPerClass = 40, clevrScenes = 1000
    /// POPE probes per training scene (yes and no alternate), with `probeSetting`'s negatives.
    /// Random, not adversarial: over one split, adversarial (and popular) negatives are the same few
    /// categories again and again (1000 seed-1 scenes: "purple cube" is 439 of 1000 negatives), so
    /// the question's wording alone gives the answer and a connector learns the wording, not the image.
    public var probesPerScene = 4, probeSetting = "random"
    /// Also ask every scene "Describe the image." answered by all its objects (`Zoo.sceneDescription`):
    /// a caption with one supervised token per object word, as LLaVA's first stage learns from captions.
    public var describeScenes = true
    public var clevrSeed: UInt64 = 1
    /// ViT pretraining (`vitPerClass` images per Fashion-MNIST/MNIST class plus `vitClevrScenes`
    /// scenes classed by their object count and tagged with their object categories,
    /// `ZooViT.pretrain`). Counting needs many scenes and steps:
    /// on 200 held-out scenes the pretrained head counts 18.5 % right after 400 steps over 1400
    /// scenes, 23 % after 2400, 26 % after 2400 over 4600 scenes (chance 12.5 %).
    public var vitPerClass = 300, vitClevrScenes = 4800, vitSteps = 2400, vitBatchSize = 64, vitLR: Float = 1e-3
    /// Connector training.
    public var connector = ZooTrainingOptions(epochs: 1, batchSize: 8, lr: 1e-3, seed: 42, logEvery: 25)
    /// Guide projections: InfoNCE steps on cached pooled EfficientNet features of `vitPerClass`
    /// images per Fashion-MNIST/MNIST class and `guideClevrScenes` scenes.
    public var guideClevrScenes = 1600, guideSteps = 400, guideBatchSize = 64, guideLR: Float = 2e-3
    /// Zero-shot table: `evaluationCount` test images of Fashion-MNIST and of mnist-5k's test rows
    /// (evenly spaced), and `evaluationScenes` scenes of the render split `val` from seed 0 (the scenes
    /// Pipelines/clevr.yaml and pope.yaml test on) with their adversarial POPE probes.
    public var evaluationCount = 200, evaluationScenes = 100
    public var seed: UInt64 = 42
    /// Which models to train (all by default).
    public var models = Zoo.modelNames

    public init() {}

    /// A minute-sized build for tests and smoke runs: every stage runs, nothing is learned well.
    public static var tiny: ZooBuildOptions {
        var o = ZooBuildOptions()
        (o.fashionPerClass, o.mnistPerClass, o.clevrScenes, o.probesPerScene) = (1, 1, 8, 2)
        (o.vitPerClass, o.vitClevrScenes, o.vitSteps, o.vitBatchSize) = (2, 16, 2, 8)
        (o.guideClevrScenes, o.guideSteps, o.guideBatchSize) = (16, 2, 8)
        (o.evaluationCount, o.evaluationScenes) = (4, 4)
        o.connector.batchSize = 4
        return o
    }
}

/// One row of the zero-shot table.
public struct ZooZeroShot: Sendable, Equatable, Codable {
    public var model: String
    public var dataset: String
    public var accuracy: Double
    public var chance: Double

    public init(model: String, dataset: String, accuracy: Double, chance: Double) {
        (self.model, self.dataset, self.accuracy, self.chance) = (model, dataset, accuracy, chance)
    }
}

/// What `Zoo.build` produced.
public struct ZooBuildReport: Sendable {
    public var files: [String: Int] = [:]              // path → bytes
    public var seconds: [String: Double] = [:]         // stage → wall seconds
    public var training: [String: ZooTrainingReport] = [:]
    public var zeroShot: [ZooZeroShot] = []

    public init() {}

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
    /// Builds the zoo: renders the training scenes, pretrains the ViT, caches frozen features under
    /// `cache`, trains every connector and the guide projections, writes the F16 weight files to
    /// `output`, then reloads them (so the reported numbers are those of the committed files) and
    /// measures zero-shot accuracy. Train splits only: Fashion-MNIST train, mnist-5k's train rows,
    /// render split `train` from seed `clevrSeed`; evaluation on Fashion-MNIST test, mnist-5k's test
    /// rows and render split `val` (seed 0). Resumable: renders, features and connector
    /// checkpoints (per epoch) stay in `cache`.
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
        func cached(_ name: String) -> String { (cache as NSString).appendingPathComponent(name) }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let specs = try o.models.map(ZooModelSpec.named)
        let fashionTrain = try ZooImageSet.fashionMNIST(split: "train", assets: assets)
        let mnistTrain = try ZooImageSet.mnist(split: "train", assets: assets)
        let scenes = max(o.clevrScenes, o.vitClevrScenes, o.guideClevrScenes)
        let clevrTrain = try timed("render \(scenes) train scenes") {
            try ZooImageSet.clevr(root: cached("renders-seed\(o.clevrSeed)-\(scenes)-scenes"), split: "train", count: scenes, seed: o.clevrSeed, setting: o.probeSetting,
                                  probesPerImage: o.probesPerScene, describe: o.describeScenes)
        }
        let (language, tokenizer) = try loadLanguage(assets: assets)
        let efficientNet = try EfficientNetLite.load(efficientNetAsset.path(in: assets))

        // The ViT's and the guide's images: many per class; the connectors' corpus: a few per class.
        func classCorpus(scenes: Int) throws -> (corpus: ZooCorpus, key: String) {
            (try ZooCorpus(sets: [fashionTrain.firstPerClass(o.vitPerClass), mnistTrain.firstPerClass(o.vitPerClass), clevrTrain.subset(Array(0..<scenes))]),
             "fashion-train-first\(o.vitPerClass)+mnist5k-train5-first\(o.vitPerClass)+clevr-r\(CLEVRRenderer.version)-s\(o.clevrSeed)-first\(scenes)@\(imageSize)/\(frame)")
        }

        // 1. The ViT: classification pretraining (clothes, digits, object counts), then frozen (F16 as
        //    committed). A tower already in `output` from the same seed, steps, corpus and objective is kept.
        var vit: VisionTransformer?
        if specs.contains(where: { $0.tower == .vit }) {
            let path = vitFile(in: output)
            let (towerCorpus, towerKey) = try classCorpus(scenes: o.vitClevrScenes)
            let metadata = ["seed": String(o.seed), "steps": String(o.vitSteps), "corpus": towerKey, "objective": ZooViT.objective]
            if let existing = try? SafetensorsFile(path: path), metadata.allSatisfy({ existing.metadata[$0.key] == $0.value }) {
                log("[vit pretraining] kept \(path): the same seed, steps, corpus and objective")
            } else {
                try timed("vit pretraining") {
                    let framed = try towerCorpus.framedImages()
                    let weights = ZooViT.randomWeights(classes: towerCorpus.classNames.count, seed: o.seed)
                    var objects = [Set<Int>?](repeating: nil, count: towerCorpus.imageCount)
                    for scene in towerCorpus.scenes { objects[scene.row] = scene.categories }
                    let (first, last) = try ZooViT.pretrain(weights: weights, images: framed, labels: towerCorpus.labels, objects: objects, steps: o.vitSteps,
                                                            batchSize: o.vitBatchSize, lr: o.vitLR, seed: o.seed, log: log)
                    log(String(format: "  vit loss %.3f → %.3f", first, last))
                    try Safetensors.write(weights, as: .f16, metadata: metadata, to: path)
                }
            }
            vit = try ZooViT.tower(weights: Safetensors.read(path), source: path)
        }

        // 2. The connectors' corpus and its cached features.
        let corpus = try ZooCorpus(sets: [fashionTrain.firstPerClass(o.fashionPerClass), mnistTrain.firstPerClass(o.mnistPerClass),
                                          clevrTrain.subset(Array(0..<o.clevrScenes))])
        let corpusKey = "fashion-train-first\(o.fashionPerClass)+mnist5k-train-first\(o.mnistPerClass)+clevr-r\(CLEVRRenderer.version)-s\(o.clevrSeed)-first\(o.clevrScenes)-probes\(o.probesPerScene)\(o.probeSetting)\(o.describeScenes ? "+described" : "")@\(imageSize)/\(frame)"
        let c = o.connector
        let trainingKey = " epochs \(c.epochs) batch \(c.batchSize) lr \(c.lr) wd \(c.weightDecay) \(c.lossAveraging)"
        log("corpus: \(corpus.imageCount) train images, \(corpus.samples.count) samples")
        let taps = Array(Set(specs.compactMap { spec -> EfficientNetLite.Tap? in if case .efficientNet(let t) = spec.tower { return t }; return nil }))
            .sorted { ZooFeatureCache.tapName($0) < ZooFeatureCache.tapName($1) }
        let effnetFeatures = taps.isEmpty ? [:] : try timed("efficientnet features") {
            try ZooFeatureCache.readOrCompute(path: cached("effnet-\(sha256Hex(corpusKey).prefix(12)).safetensors"),
                                              fingerprint: corpusKey + " taps " + taps.map(ZooFeatureCache.tapName).joined(separator: ","), log: log) {
                try ZooFeatureCache.efficientNet(efficientNet, corpus: corpus, taps: taps)
            }
        }

        // 3. The connectors.
        let samples = try corpus.samples.map { s in
            (image: s.image, prompt: try promptTokens(tokenizer, question: s.question), answer: tokenizer.encode(s.answer + PromptTemplate.smolLM2Chat.answerSuffix))
        }
        for spec in specs {
            let encoder = try encoder(spec, efficientNet: efficientNet, vit: vit)
            // What the connector reads besides the corpus: the ViT's weights and token layout (the
            // EfficientNet is fixed, so its models' keys are the corpus's alone).
            let features: Tensor, towerKey: String
            switch spec.tower {
            case .efficientNet(let tap): (features, towerKey) = (effnetFeatures[ZooFeatureCache.tapName(tap)]!, "")
            case .vit:
                towerKey = " vit " + sha256Hex(Array(try Data(contentsOf: URL(fileURLWithPath: vitFile(in: output))))) + " \(encoder.tokenCount) tokens"
                features = try timed("vit features") {
                    try ZooFeatureCache.readOrCompute(path: cached("vit-features.safetensors"), fingerprint: corpusKey + towerKey, log: log) {
                        ["features": try ZooFeatureCache.encoder(encoder, corpus: corpus)]
                    }["features"]!
                }
            }
            let connector = try makeConnector(spec, inputWidth: encoder.featureWidth, outputWidth: language.config.hiddenSize, wordTable: language.embedTokens)
            let model = try assemble(spec, encoder: encoder, connector: connector, language: makeLanguage(spec, base: language), tokenizer: tokenizer)
            log("\(spec.name): \(connector.parameterCount) connector values, \(model.language.lora?.parameterCount ?? 0) LoRA values, \(model.visualTokenCount) visual tokens")
            let checkpoint = cached("\(spec.name)-\(sha256Hex(corpusKey + towerKey + trainingKey + spec.connector.checkpointKey + (spec.lora.map { " lora r\($0.rank) a\($0.alpha)" } ?? "")).prefix(12))-checkpoint.safetensors")
            // BLIP-2's first stage for a gated connector (skipped when the LM stage has a checkpoint to resume).
            if spec.connector.isGated, let gated = connector as? any ZooGatedConnector, !FileManager.default.fileExists(atPath: checkpoint) {
                let questions = try CLEVRPOPE.categories.map { try promptTokens(tokenizer, question: CLEVRPOPE.text(category: $0)).afterImage }
                let (first, last) = try timed("match \(spec.name)") {
                    try ZooPresenceMatching.train(gated, features: features, scenes: corpus.scenes, questions: questions, log: log)
                }
                log(String(format: "  matching loss %.3f → %.3f", first, last))
            }
            report.training[spec.name] = try timed("train \(spec.name)") {
                try ZooConnectorTrainer.train(model: model, features: features, samples: samples, options: o.connector, checkpoint: checkpoint, log: log)
            }
            let adapters = spec.lora.map { ["lora": "rank \($0.rank) alpha \($0.alpha) on q_proj, v_proj"] } ?? [:]
            try Safetensors.write(trainedParameters(model), as: .f16, metadata: ["seed": String(o.connector.seed), "corpus": corpusKey].merging(adapters) { $1 },
                                         to: connectorFile(spec.name, in: output))
        }

        // 4. The guide, on the towers' images (pooled EfficientNet features) and their class captions.
        try timed("guide") {
            let (guideCorpus, guideKey) = try classCorpus(scenes: o.guideClevrScenes)
            let pooled = try ZooFeatureCache.readOrCompute(path: cached("guide-features.safetensors"), fingerprint: guideKey + " pooled", log: log) {
                try ZooFeatureCache.efficientNet(efficientNet, corpus: guideCorpus, taps: [.pooled])
            }["pooled"]!
            let textDirectory = (try textTowerAsset.path(in: assets) as NSString).deletingLastPathComponent
            let text = try BERTEncoder(directory: textDirectory)
            let wordPiece = try WordPieceTokenizer(vocabTxt: ZooAsset(asset: textTowerAsset.asset, file: "vocab.txt").path(in: assets))
            let captions = try ZooGuide.sentenceEmbeddings(guideCorpus.captions, text: text, tokenizer: wordPiece)
            let trained = try ZooGuide.train(imageFeatures: pooled.reshaped([pooled.dim(0), -1]), labels: guideCorpus.labels, textFeatures: captions,
                                             steps: o.guideSteps, batchSize: o.guideBatchSize, lr: o.guideLR, seed: o.seed, log: log)
            log(String(format: "  guide loss %.3f → %.3f", trained.first, trained.last))
            try Safetensors.write(trained.weights, as: .f16, metadata: ["seed": String(o.seed), "corpus": guideKey], to: guideFile(in: output))
        }

        // 5. Reload what was written and measure zero-shot accuracy on unseen test images.
        try timed("zero-shot") {
            let zoo = try load(assets: assets, weights: output, names: o.models)
            let tasks = try evaluationTasks(assets: assets, renders: cached("renders-seed0"), count: o.evaluationCount, scenes: o.evaluationScenes)
            for model in zoo.models {
                for task in tasks {
                    let accuracy = try zeroShotAccuracy(model, task: task)
                    report.zeroShot.append(ZooZeroShot(model: model.name, dataset: task.name, accuracy: accuracy, chance: task.chance))
                    log(String(format: "  %@ on %@: %.1f%% (chance %.1f%%)", model.name, task.name, 100 * accuracy, 100 * task.chance))
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
