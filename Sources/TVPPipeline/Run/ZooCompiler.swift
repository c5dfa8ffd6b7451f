import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPrompting
import TVPZoo

extension StageKinds {
    public static let zooViT = "zoo-vit"
    public static let zooFeatures = "zoo-features"
    public static let zooMatch = "zoo-match"
    public static let zooConnector = "zoo-connector"
    public static let zooGuide = "zoo-guide"
    public static let zooZeroShot = "zoo-zero-shot"
    public static let zoo = [zooViT, zooFeatures, zooMatch, zooConnector, zooGuide, zooZeroShot]
}

extension PipelineCompiler {
    /// The stages of a zoo build file:
    ///
    /// ```
    /// fetch[…] → render[train/…/seed1] → vit → features[vit]                        ┐
    ///                                  → features[efficientnet-TAP] → match[MODEL] → connector[MODEL] ┼→ zero-shot
    ///                                  → features[guide] → guide                     ┘
    ///            render[val/…/seed0] ───────────────────────────────────────────────────→ zero-shot
    /// ```
    ///
    /// Each stage's parameters hold what its result depends on (the corpus it reads, its training
    /// options), so a connector's options reach its own `match`/`connector` stages and the
    /// zero-shot table, never the renders, the ViT, the features or the other connectors. The
    /// weight files are written to `output` after the run (`PipelineSession.writeZoo`).
    func compileZoo(_ zoo: ZooSpec, name: String) throws -> Pipeline {
        let o = zoo.options
        var stages: [Stage] = []
        @discardableResult
        func add(_ id: String, _ kind: String, _ parameters: JSONValue, inputs: [String] = [], assets: [String: String] = [:]) throws -> String {
            if !stages.contains(where: { $0.id == id }) {
                stages.append(try registry.stage(id: id, kind: kind, parameters: parameters, inputs: inputs, assets: assets))
            }
            return id
        }
        func fetch(_ asset: String) throws -> String {
            try add("fetch[\(asset)]", StageKinds.fetch, ["asset": .string(asset)], assets: checksums(try registry.manifest.asset(named: asset)))
        }
        let fashion = try fetch("fashion-mnist"), mnist = try fetch("mnist-5k")
        let efficientNet = try fetch(Zoo.efficientNetAsset.asset), language = try fetch(Zoo.languageAsset.asset)
        let textTower = try fetch(Zoo.textTowerAsset.asset)
        func render(_ split: String, count: Int, seed: UInt64) throws -> String {
            try add("render[\(split)/\(count)/\(Zoo.imageSize)px/seed\(seed)]", StageKinds.render,
                    ["split": .string(split), "count": .integer(count), "size": .integer(Zoo.imageSize), "seed": .integer(Int(seed))])
        }
        // The training scenes: as many as the largest of the three corpora reads (each reads the first ones).
        let scenes = try render("train", count: max(o.clevrScenes, o.vitClevrScenes, o.guideClevrScenes), seed: o.clevrSeed)
        let corpusInputs = [fashion, mnist, scenes]
        func classCorpus(scenes: Int) -> JSONValue {
            ["fashion": .integer(o.vitPerClass), "mnist": .integer(o.vitPerClass), "scenes": .integer(scenes), "clevr_seed": .integer(Int(o.clevrSeed))]
        }
        let corpus: JSONValue = [
            "fashion": .integer(o.fashionPerClass), "mnist": .integer(o.mnistPerClass), "scenes": .integer(o.clevrScenes),
            "clevr_seed": .integer(Int(o.clevrSeed)), "probes": .integer(o.probesPerScene), "probe_setting": .string(o.probeSetting),
            "describe": .bool(o.describeScenes),
        ]
        let specs = try o.models.map(ZooModelSpec.named)

        var vit: String?
        if specs.contains(where: { $0.tower == .vit }) {
            vit = try add("vit", StageKinds.zooViT, [
                "corpus": classCorpus(scenes: o.vitClevrScenes), "steps": .integer(o.vitSteps), "batch": .integer(o.vitBatchSize),
                "lr": number(o.vitLR), "seed": .integer(Int(o.seed)),
            ], inputs: corpusInputs)
        }
        var weightStages: [String] = vit.map { [$0] } ?? []
        for spec in specs {
            let features: String
            switch spec.tower {
            case .efficientNet(let tap):
                let tapName = ZooFeatureCache.tapName(tap)
                features = try add("features[efficientnet-\(tapName)]", StageKinds.zooFeatures,
                                   ["tower": "efficientnet", "tap": .string(tapName), "corpus": corpus], inputs: corpusInputs + [efficientNet])
            case .vit:
                features = try add("features[vit]", StageKinds.zooFeatures, ["tower": "vit", "corpus": corpus], inputs: corpusInputs + [vit!])
            }
            // What the connector's stages read besides its features: the language model, and the tower it is assembled with.
            let tower = spec.tower == .vit ? vit! : efficientNet
            var inputs = corpusInputs + [features, language, tower]
            if spec.connector.isGated {
                let matching = ZooPresenceMatching.Options()
                inputs.append(try add("match[\(spec.name)]", StageKinds.zooMatch, [
                    "model": .string(spec.name), "corpus": corpus, "epochs": .integer(matching.epochs), "batch": .integer(matching.batchSize),
                    "lr": number(matching.lr), "seed": .integer(Int(matching.seed)),
                ], inputs: inputs))
            }
            let training = zoo.connectors[spec.name] ?? o.connector
            weightStages.append(try add("connector[\(spec.name)]", StageKinds.zooConnector, [
                "model": .string(spec.name), "corpus": corpus, "epochs": .integer(training.epochs), "batch": .integer(training.batchSize),
                "lr": number(training.lr), "weight_decay": .double(training.weightDecay), "seed": .integer(Int(training.seed)),
            ], inputs: inputs))
        }
        let guideCorpus = classCorpus(scenes: o.guideClevrScenes)
        let guideFeatures = try add("features[guide]", StageKinds.zooFeatures, ["tower": "efficientnet", "tap": "pooled", "corpus": guideCorpus],
                                    inputs: corpusInputs + [efficientNet])
        weightStages.append(try add("guide", StageKinds.zooGuide, [
            "corpus": guideCorpus, "steps": .integer(o.guideSteps), "batch": .integer(o.guideBatchSize), "lr": number(o.guideLR),
            "seed": .integer(Int(o.seed)),
        ], inputs: corpusInputs + [guideFeatures, textTower]))
        let validation = try render("val", count: o.evaluationScenes, seed: 0)
        try add("zero-shot", StageKinds.zooZeroShot, [
            "models": .array(o.models.map { .string($0) }), "count": .integer(o.evaluationCount), "scenes": .integer(o.evaluationScenes),
        ], inputs: [fashion, mnist, validation, efficientNet, language, textTower] + weightStages)
        return Pipeline(name: name, stages: stages)
    }
}

/// A Float parameter as its shortest decimal (1e-3 as 0.001, not 0.0010000000474974513), which
/// reads back as the same Float.
private func number(_ x: Float) -> JSONValue { .double(Double("\(x)") ?? Double(x)) }
