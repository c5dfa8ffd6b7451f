import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPModels
import TVPPrompting
import TVPTensor
import TVPZoo

/// The code every zoo stage runs: the numeric stack, the zoo (which reads nothing else of
/// TVPPrompting but the guide protocol) and these bodies. Not the prompt trainer or the evaluator:
/// changing those leaves the zoo's stages cached.
private let zooCode = ["TVPTensor/", "TVPFormats/", "TVPData/", "CJPEGShim/", "TVPModels/", "TVPZoo/",
                       "TVPPrompting/Training/TSEGuide.swift", "TVPPipeline/Run/ZooStages.swift"]

extension StageRegistry {
    func zooStageKinds() -> [StageKind] {
        func kind(_ name: String, _ body: @escaping @Sendable (StageRegistry, StageContext, JSONValue) throws -> StageOutput) -> StageKind {
            StageKind(name: name, code: StageCode(zooCode), resources: .compute) { [weak self] context, parameters in
                try body(try StageRegistry.alive(self, context), context, parameters)
            }
        }
        return [
            kind(StageKinds.zooViT) { try $0.zooViTStage($1, $2) },
            kind(StageKinds.zooFeatures) { try $0.zooFeaturesStage($1, $2) },
            kind(StageKinds.zooMatch) { try $0.zooMatchStage($1, $2) },
            kind(StageKinds.zooConnector) { try $0.zooConnectorStage($1, $2) },
            kind(StageKinds.zooGuide) { try $0.zooGuideStage($1, $2) },
            kind(StageKinds.zooZeroShot) { try $0.zooZeroShotStage($1, $2) },
        ]
    }

    /// `zoo-vit` {corpus, steps, batch, lr, seed}: the zoo ViT pretrained on the class corpus
    /// (`ZooViT.pretrain`: clothes, digits, object counts, and object presence on the scenes).
    /// Inputs: the corpus's (see `zooCorpus`). Tensors: the tower and its heads, rounded to F16 as
    /// the file holds them (what the features and the connectors read); result {file, metadata,
    /// first_loss, last_loss}.
    func zooViTStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let p = ZooParameters(context, parameters)
        let corpus = try zooCorpus(context, p.json("corpus"))
        let seed = UInt64(try p.int("seed")), steps = try p.int("steps")
        let weights = ZooViT.randomWeights(classes: corpus.classNames.count, seed: seed)
        var objects = [Set<Int>?](repeating: nil, count: corpus.imageCount)
        for scene in corpus.scenes { objects[scene.row] = scene.categories }
        let (first, last) = try ZooViT.pretrain(weights: weights, images: corpus.framedImages(), labels: corpus.labels, objects: objects, steps: steps,
                                                batchSize: try p.int("batch"), lr: try p.float("lr"), seed: seed, log: zooLog(context))
        let metadata = ["seed": String(seed), "steps": String(steps), "corpus": try zooCorpusName(p.json("corpus")), "objective": ZooViT.objective]
        return StageOutput(tensors: try weights.mapValues(halfRounded),
                           result: zooWeightResult(file: Zoo.vitFile(in: ""), metadata: metadata, first: first, last: last))
    }

    /// `zoo-features` {tower: efficientnet|vit, tap (efficientnet), corpus}: the frozen tower's
    /// features of the corpus's framed images. Inputs: the corpus's, then EfficientNet-Lite0's fetch
    /// or the `zoo-vit` stage. Tensor `features` [N, T, C].
    func zooFeaturesStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let p = ZooParameters(context, parameters)
        let corpus = try zooCorpus(context, p.json("corpus"))
        let features: Tensor
        switch try p.string("tower") {
        case "efficientnet":
            let name = try p.string("tap")
            guard let tap = ZooFeatureCache.tap(named: name) else {
                throw PipelineError.stage(context.stageID, "no EfficientNet tap '\(name)'")
            }
            let network = try EfficientNetLite.load(Zoo.efficientNetAsset.path(in: fetcher.assetsDirectory))
            features = try withoutGrad { try ZooFeatureCache.efficientNet(network, corpus: corpus, taps: [tap]) }[name]!
        case "vit":
            let encoder = try ZooViT.encoder(zooViT(context, input: 3))
            features = try withoutGrad { try ZooFeatureCache.encoder(encoder, corpus: corpus) }
        case let tower:
            throw PipelineError.stage(context.stageID, "no zoo tower '\(tower)'; the towers are efficientnet and vit")
        }
        return StageOutput(tensors: ["features": features], result: ["images": .integer(corpus.imageCount), "shape": .array(features.shape.map { .integer($0) })])
    }

    /// `zoo-match` {model, corpus, epochs, batch, lr, seed}: BLIP-2's first stage for a
    /// question-gated connector (`ZooPresenceMatching`) on the corpus's scenes. Inputs: the
    /// corpus's, its features, SmolLM2's fetch, the tower's. Tensors: the connector after matching.
    func zooMatchStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let p = ZooParameters(context, parameters)
        let spec = try ZooModelSpec.named(try p.string("model"))
        let corpus = try zooCorpus(context, p.json("corpus"))
        let features = try context.input(at: 3).tensor("features")
        let (language, tokenizer) = try Zoo.loadLanguage(assets: fetcher.assetsDirectory)
        let connector = try Zoo.makeConnector(spec, inputWidth: features.dim(2), outputWidth: language.config.hiddenSize, wordTable: language.embedTokens)
        guard let gated = connector as? any ZooGatedConnector else {
            throw PipelineError.stage(context.stageID, "\(spec.name)'s connector does not read the question, so it has no matching stage")
        }
        var options = ZooPresenceMatching.Options()
        (options.epochs, options.batchSize, options.lr, options.seed) = (try p.int("epochs"), try p.int("batch"), try p.float("lr"), UInt64(try p.int("seed")))
        let questions = try CLEVRPOPE.categories.map { try Zoo.promptTokens(tokenizer, question: CLEVRPOPE.text(category: $0)).afterImage }
        let (first, last) = try ZooPresenceMatching.train(gated, features: features, scenes: corpus.scenes, questions: questions, options: options,
                                                          log: zooLog(context))
        return StageOutput(tensors: connector.namedParameters, result: ["first_loss": .double(Double(first)), "last_loss": .double(Double(last))])
    }

    /// `zoo-connector` {model, corpus, epochs, batch, lr, weight_decay, seed}: the connector (and its
    /// LoRA adapters) trained through the frozen SmolLM2 with the answer-only loss
    /// (`ZooConnectorTrainer`), from its `zoo-match` weights when it has that stage. Inputs: the
    /// corpus's, its features, SmolLM2's fetch, the tower's (EfficientNet-Lite0's fetch or
    /// `zoo-vit`), then `zoo-match`. Resumes after the last finished epoch of a killed run (its
    /// checkpoint lives in the entry's work folder). Tensors: the trained parameters; result {file,
    /// metadata, steps, first_loss, last_loss}.
    func zooConnectorStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let p = ZooParameters(context, parameters)
        let spec = try ZooModelSpec.named(try p.string("model"))
        let corpus = try zooCorpus(context, p.json("corpus"))
        let features = try context.input(at: 3).tensor("features")
        let assets = fetcher.assetsDirectory
        let (language, tokenizer) = try Zoo.loadLanguage(assets: assets)
        let encoder = spec.tower == .vit ? try Zoo.encoder(spec, efficientNet: nil, vit: zooViT(context, input: 5))
            : try Zoo.encoder(spec, efficientNet: EfficientNetLite.load(Zoo.efficientNetAsset.path(in: assets)), vit: nil)
        let connector = try Zoo.makeConnector(spec, inputWidth: encoder.featureWidth, outputWidth: language.config.hiddenSize, wordTable: language.embedTokens)
        if spec.connector.isGated {
            let matched = try context.input(at: 6)
            for (name, parameter) in connector.namedParameters {
                let saved = try matched.tensor(name)
                guard saved.shape == parameter.shape else {
                    throw PipelineError.stage(context.stageID, "the matching stage's '\(name)' is \(describe(saved.shape)), the connector's \(describe(parameter.shape))")
                }
                parameter.data.update(from: saved.data, count: parameter.count)
            }
        }
        let model = try Zoo.assemble(spec, encoder: encoder, connector: connector, language: Zoo.makeLanguage(spec, base: language), tokenizer: tokenizer)
        let samples = try corpus.samples.map { s in
            (image: s.image, prompt: try Zoo.promptTokens(tokenizer, question: s.question),
             answer: tokenizer.encode(s.answer + PromptTemplate.smolLM2Chat.answerSuffix))
        }
        let options = ZooTrainingOptions(epochs: try p.int("epochs"), batchSize: try p.int("batch"), lr: try p.float("lr"),
                                         weightDecay: try p.double("weight_decay"), seed: UInt64(try p.int("seed")), logEvery: 25)
        try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
        let report = try ZooConnectorTrainer.train(model: model, features: features, samples: samples, options: options,
                                                   checkpoint: context.workDirectory + "/checkpoint.safetensors", log: zooLog(context))
        var metadata = ["seed": String(options.seed), "corpus": try zooCorpusName(p.json("corpus"))]
        if let lora = spec.lora { metadata["lora"] = "rank \(lora.rank) alpha \(lora.alpha) on q_proj, v_proj" }
        return StageOutput(tensors: Zoo.trainedParameters(model), result: zooWeightResult(
            file: Zoo.connectorFile(spec.name, in: ""), metadata: metadata, first: report.firstLoss, last: report.lastLoss, extra: ["steps": .integer(report.steps)]))
    }

    /// `zoo-guide` {corpus, steps, batch, lr, seed}: the guide's projections trained contrastively
    /// (`ZooGuide.train`) on pooled EfficientNet features of the class corpus against the
    /// all-MiniLM-L6-v2 embeddings of their class captions. Inputs: the corpus's, its pooled
    /// features, all-MiniLM-L6-v2's fetch. Result {file, metadata, first_loss, last_loss}.
    func zooGuideStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let p = ZooParameters(context, parameters)
        let corpus = try zooCorpus(context, p.json("corpus"))
        let pooled = try context.input(at: 3).tensor("features")
        let assets = fetcher.assetsDirectory
        let text = try BERTEncoder(directory: (try Zoo.textTowerAsset.path(in: assets) as NSString).deletingLastPathComponent)
        let wordPiece = try WordPieceTokenizer(vocabTxt: ZooAsset(asset: Zoo.textTowerAsset.asset, file: "vocab.txt").path(in: assets))
        let captions = try ZooGuide.sentenceEmbeddings(corpus.captions, text: text, tokenizer: wordPiece)
        let seed = UInt64(try p.int("seed"))
        let trained = try ZooGuide.train(imageFeatures: pooled.reshaped([pooled.dim(0), -1]), labels: corpus.labels, textFeatures: captions,
                                         steps: try p.int("steps"), batchSize: try p.int("batch"), lr: try p.float("lr"), seed: seed, log: zooLog(context))
        let metadata = ["seed": String(seed), "corpus": try zooCorpusName(p.json("corpus"))]
        return StageOutput(tensors: trained.weights, result: zooWeightResult(file: Zoo.guideFile(in: ""), metadata: metadata, first: trained.first, last: trained.last))
    }

    /// `zoo-zero-shot` {models, count, scenes}: writes the weight stages' files (as `output` gets
    /// them) to the entry's work folder, loads the zoo from them and measures each model's zero-shot
    /// accuracy on unseen test images: `count` of Fashion-MNIST's and of mnist-5k's test rows, the
    /// validation scenes' counting question and adversarial POPE probes. Inputs: Fashion-MNIST's
    /// and mnist-5k's fetches, the validation render, EfficientNet-Lite0's, SmolLM2's and
    /// all-MiniLM-L6-v2's fetches, then the weight stages. Result {rows: [{model, dataset, accuracy, chance}]}.
    func zooZeroShotStage(_ context: StageContext, _ parameters: JSONValue) throws -> StageOutput {
        let p = ZooParameters(context, parameters)
        let folder = context.workDirectory + "/weights"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for index in 6..<context.inputCount { try writeZooWeightFile(context.input(at: index), to: folder) }
        let models = (try p.json("models").arrayValue ?? []).compactMap(\.stringValue)
        let zoo = try Zoo.load(assets: fetcher.assetsDirectory, weights: folder, names: models)
        guard let scenes = try context.input(at: 2).result()["root"]?.stringValue else { throw PipelineError.stage(context.stageID, "the validation render names no folder") }
        let tasks = try Zoo.evaluationTasks(assets: fetcher.assetsDirectory, sceneRoot: scenes, count: try p.int("count"), scenes: try p.int("scenes"))
        var rows: [JSONValue] = []
        for (m, model) in zoo.models.enumerated() {
            for (t, task) in tasks.enumerated() {
                let accuracy = try Zoo.zeroShotAccuracy(model, task: task)
                rows.append(["model": .string(model.name), "dataset": .string(task.name), "accuracy": .double(accuracy), "chance": .double(task.chance)])
                context.progress(Double(m * tasks.count + t + 1) / Double(zoo.models.count * tasks.count), String(format: "%@ on %@: %.1f%%", model.name, task.name, 100 * accuracy))
            }
        }
        return StageOutput(result: ["rows": .array(rows)])
    }

    /// The corpus `json` describes ({fashion, mnist, scenes, clevr_seed, and for the connectors'
    /// corpus probes, probe_setting, describe}): the first `fashion` Fashion-MNIST and `mnist`
    /// mnist-5k train images of each class and the first `scenes` scenes of the training render, from
    /// the stage's first three inputs (the two fetches and the render).
    func zooCorpus(_ context: StageContext, _ json: JSONValue) throws -> ZooCorpus {
        let p = ZooParameters(context, json)
        let render = try context.input(at: 2).result()
        guard let root = render["root"]?.stringValue, let count = render["count"]?.intValue else {
            throw PipelineError.stage(context.stageID, "input 2 is not a render (no root and count)")
        }
        let assets = fetcher.assetsDirectory
        let scenes = try ZooImageSet.clevr(root: root, split: "train", count: count, seed: UInt64(try p.int("clevr_seed")),
                                           setting: json["probe_setting"]?.stringValue ?? "random", probesPerImage: json["probes"]?.intValue ?? 0,
                                           describe: json["describe"] == .bool(true))
        return try ZooCorpus(sets: [ZooImageSet.fashionMNIST(split: "train", assets: assets).firstPerClass(try p.int("fashion")),
                                    ZooImageSet.mnist(split: "train", assets: assets).firstPerClass(try p.int("mnist")),
                                    scenes.subset(Array(0..<(try p.int("scenes"))))])
    }

    /// The corpus's name in the weight files' metadata (what the committed files record).
    func zooCorpusName(_ json: JSONValue) throws -> String {
        let p = ZooParameters(nil, json)
        let images = "clevr-r\(CLEVRRenderer.version)-s\(try p.int("clevr_seed"))-first\(try p.int("scenes"))"
        guard let probes = json["probes"]?.intValue else {   // the class corpus (ViT, guide)
            return "fashion-train-first\(try p.int("fashion"))+mnist5k-train5-first\(try p.int("mnist"))+\(images)@\(Zoo.imageSize)/\(Zoo.frame)"
        }
        return "fashion-train-first\(try p.int("fashion"))+mnist5k-train-first\(try p.int("mnist"))+\(images)-probes\(probes)"
            + (json["probe_setting"]?.stringValue ?? "") + (json["describe"] == .bool(true) ? "+described" : "") + "@\(Zoo.imageSize)/\(Zoo.frame)"
    }

    /// The zoo ViT of the `zoo-vit` stage at input `index`.
    func zooViT(_ context: StageContext, input index: Int) throws -> VisionTransformer {
        let payload = try context.input(at: index)
        return try ZooViT.tower(weights: payload.tensors(), source: payload.directory)
    }

    /// The zoo's training logs: shown with --verbose.
    func zooLog(_ context: StageContext) -> (String) -> Void {
        let console = self.console, name = context.displayName
        return { console.detail("  \(name): " + $0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// A weight stage's result: the file it becomes and that file's metadata.
func zooWeightResult(file: String, metadata: [String: String], first: Float, last: Float, extra: [String: JSONValue] = [:]) -> JSONValue {
    .object(extra.merging(["file": .string((file as NSString).lastPathComponent), "metadata": .object(metadata.mapValues { .string($0) }),
                           "first_loss": .double(Double(first)), "last_loss": .double(Double(last))]) { $1 })
}

/// Writes the weight file of a `zoo-vit`, `zoo-connector` or `zoo-guide` stage into `folder`
/// (F16, atomically: `Safetensors.write`); returns its path.
@discardableResult
func writeZooWeightFile(_ payload: StagePayload, to folder: String) throws -> String {
    let result = try payload.result()
    guard let file = result["file"]?.stringValue, let metadata = result["metadata"]?.objectValue else {
        throw PipelineError.cache(path: payload.directory, message: "not a zoo weight stage (its result names no file and metadata)")
    }
    let path = (folder as NSString).appendingPathComponent(file)
    try Safetensors.write(try payload.tensors(), as: .f16, metadata: metadata.compactMapValues(\.stringValue), to: path)
    return path
}

/// `t` rounded to the nearest F16 value (kept as F32): what an F16 weight file holds.
func halfRounded(_ t: Tensor) throws -> Tensor {
    try Tensor((0..<t.count).map { Float(Float16(t.data[$0])) }, shape: t.shape)
}

/// Typed reads of a zoo stage's parameters, failing with the stage's name.
struct ZooParameters {
    let stage: String
    let json: JSONValue

    init(_ context: StageContext?, _ json: JSONValue) {
        (stage, self.json) = (context?.stageID ?? "zoo", json)
    }

    func json(_ key: String) throws -> JSONValue {
        guard let value = json[key] else { throw PipelineError.stage(stage, "missing parameter '\(key)'") }
        return value
    }
    func int(_ key: String) throws -> Int {
        guard let value = try json(key).intValue else { throw PipelineError.stage(stage, "parameter '\(key)' is not a whole number") }
        return value
    }
    func double(_ key: String) throws -> Double {
        guard let value = try json(key).doubleValue else { throw PipelineError.stage(stage, "parameter '\(key)' is not a number") }
        return value
    }
    func float(_ key: String) throws -> Float { Float(try double(key)) }
    func string(_ key: String) throws -> String {
        guard let value = try json(key).stringValue else { throw PipelineError.stage(stage, "parameter '\(key)' is not a string") }
        return value
    }
}
