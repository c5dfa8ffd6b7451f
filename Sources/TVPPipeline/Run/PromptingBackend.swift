import Foundation
import TVPData
import TVPEngine
import TVPModels
import TVPPrompting

/// The backend `tvp-run` uses: real model families, trained and evaluated by TVPPrompting's
/// `PromptTrainer` and `Evaluator` (the protocol's defaults).
///
/// Its families (`ModelFamily`), each from `weights: {path: DIR}`: `llava` (an HF
/// `LlavaForConditionalGeneration` folder), `blip2` and `instructblip` (an HF BLIP-2 / InstructBLIP
/// folder with a LLaMA-family LM; MiniGPT-4-style compositions converted to it too), `zoo` (the
/// embedded zoo of small MLLMs, `ZooFamily`); guides: `clip` and the zoo's `zoo-guide`.
public final class PromptingBackend: PipelineBackend {
    public init() {}

    /// Every family this backend builds, each declared once.
    static let families: [ModelFamily] = [.llava, .blip2(instruct: false), .blip2(instruct: true), .clip] + ZooFamily.families

    public var modelFamilies: [String] { PromptingBackend.families.filter { !$0.isGuide }.map(\.name) }
    public var guideFamilies: [String] { PromptingBackend.families.filter(\.isGuide).map(\.name) }

    static func family(_ name: String) -> ModelFamily? { families.first { $0.name == name } }

    public func makeModel(_ build: ModelBuild) throws -> any MultimodalModel {
        guard let family = PromptingBackend.family(build.family), case .model(let make) = family.builds else {
            throw PipelineError.stage("model", "model '\(build.name)': unknown family '\(build.family)'; known: " + modelFamilies.joined(separator: ", "))
        }
        return try make(build)
    }

    public func makeGuide(_ build: ModelBuild) throws -> any TSEGuide {
        guard let family = PromptingBackend.family(build.family), case .guide(let make) = family.builds else {
            throw PipelineError.stage("guide", "guide '\(build.name)': unknown family '\(build.family)'; known: " + guideFamilies.joined(separator: ", "))
        }
        return try make(build)
    }

    public func requiredAssets(family: String, options: JSONValue) -> [String] {
        PromptingBackend.family(family)?.requiredAssets(options) ?? []
    }

    public func weightsHint(family: String) -> String? { PromptingBackend.family(family)?.weightsHint }

    public func weightFiles(family: String, name: String, options: JSONValue) -> [String]? {
        PromptingBackend.family(family)?.weightFiles(name, options)
    }
}

extension ModelFamily {
    /// An HF `LlavaForConditionalGeneration` folder.
    static let llava = ModelFamily(
        name: "llava",
        builds: .model { build in try LLaVA.load(directory: try folder(build, needs: ["config.json"]), name: build.name) },
        weightsHint: "an HF LlavaForConditionalGeneration folder: config.json, model.safetensors (or shards with model.safetensors.index.json), " +
            "tokenizer.json, preprocessor_config.json (e.g. llava-hf/llava-1.5-7b-hf)")

    /// An HF BLIP-2 (or, with `instruct`, InstructBLIP) folder with a LLaMA-family language model.
    static func blip2(instruct: Bool) -> ModelFamily {
        ModelFamily(
            name: instruct ? "instructblip" : "blip2",
            builds: .model { build in
                let directory = try folder(build, needs: ["config.json", "tokenizer.json"])
                // Blip2Model.load's steps, with the pipeline's model name (logs, results and FCA's token cache use it).
                let weights = Weights(try HuggingFaceFolder.tensors(directory), source: directory)
                let model = try Blip2Model(config: Blip2Config(configJSON: directory + "/config.json"), weights: weights, name: build.name,
                                           tokenizer: loadTokenizer(tokenizerJSON: directory + "/tokenizer.json"))
                try weights.finish()
                guard model.isInstructBLIP == instruct else {
                    throw PipelineError.stage("model", "model '\(build.name)': \(directory) holds a \(model.isInstructBLIP ? "InstructBLIP" : "BLIP-2") " +
                                              "checkpoint; set family: \(model.isInstructBLIP ? "instructblip" : "blip2")")
                }
                if instruct { model.instructionTokenizer = try qformerTokenizer(directory, build) }
                return model
            },
            weightsHint: instruct
                ? "an HF InstructBlipForConditionalGeneration folder with a Vicuna language model: config.json, model.safetensors " +
                    "(or shards), tokenizer.json and qformer_tokenizer/ (e.g. Salesforce/instructblip-vicuna-7b)"
                : "an HF Blip2ForConditionalGeneration folder with a LLaMA-family language model: config.json, model.safetensors " +
                    "(or shards), tokenizer.json (MiniGPT-4 and VPGTrans weights converted to this layout)")
    }

    /// A CLIP guide: OpenAI or HF CLIP weights (a file or an HF folder) with CLIP's BPE vocabulary
    /// (`options.vocab`, else the `clip-bpe-vocab` asset); `options.vision_heads` and `text_heads`
    /// where width / 64 is not the head count.
    static let clip = ModelFamily(
        name: "clip",
        builds: .guide { build in
            guard build.files.count == 1, let path = build.files.first else {
                throw PipelineError.stage("guide", "guide '\(build.name)': give one weights file or folder ({path: …}); got \(build.files.count)")
            }
            let vocabulary = build.options["vocab"]?.stringValue
                ?? (build.assetsDirectory as NSString).appendingPathComponent("clip-bpe-vocab/bpe_simple_vocab_16e6.txt.gz")
            guard FileManager.default.fileExists(atPath: vocabulary) else {
                throw PipelineError.stage("guide", "guide '\(build.name)': no CLIP BPE vocabulary at \(vocabulary); run `tvp-run fetch clip-bpe-vocab` or set options.vocab")
            }
            let options = CLIPModel.Options(visionHeads: build.options["vision_heads"]?.intValue, textHeads: build.options["text_heads"]?.intValue)
            return CLIPGuide(model: try loadCLIP(path, options: options), tokenizer: try CLIPTokenizer(bpeVocabPath: vocabulary))
        },
        weightsHint: "OpenAI CLIP weights (a .safetensors or .pt state dict, e.g. ViT-B/32) or an HF CLIPModel folder",
        requiredAssets: { options in options["vocab"] == nil ? ["clip-bpe-vocab"] : [] })

    /// The one folder of a `{path: DIR}` model, holding the files `needs` names.
    private static func folder(_ build: ModelBuild, needs: [String]) throws -> String {
        let hint = PromptingBackend.family(build.family)?.weightsHint ?? "its weights folder"
        guard build.files.count == 1, let directory = build.files.first else {
            throw PipelineError.stage("model", "model '\(build.name)' (\(build.family)): give its folder as weights: {path: DIR} — \(hint)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PipelineError.stage("model", "model '\(build.name)' (\(build.family)): \(directory) is not a folder; it should be \(hint)")
        }
        for file in needs where !FileManager.default.fileExists(atPath: directory + "/" + file) {
            throw PipelineError.stage("model", "model '\(build.name)' (\(build.family)): \(directory) has no \(file); it should be \(hint)")
        }
        return directory
    }

    /// InstructBLIP's Q-Former tokenizer (BERT WordPiece): `qformer_tokenizer/tokenizer.json` or `vocab.txt`.
    private static func qformerTokenizer(_ directory: String, _ build: ModelBuild) throws -> any Tokenizer {
        let folder = directory + "/qformer_tokenizer"
        if FileManager.default.fileExists(atPath: folder + "/tokenizer.json") { return try loadTokenizer(tokenizerJSON: folder + "/tokenizer.json") }
        if FileManager.default.fileExists(atPath: folder + "/vocab.txt") { return try WordPieceTokenizer(vocabTxt: folder + "/vocab.txt") }
        throw PipelineError.stage("model", "model '\(build.name)' (instructblip): \(directory) has no qformer_tokenizer/tokenizer.json or vocab.txt")
    }
}

/// A CLIP model from an HF folder, a safetensors file (OpenAI or HF names) or a PyTorch state dict.
func loadCLIP(_ path: String, options: CLIPModel.Options) throws -> CLIPModel {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PipelineError.stage("guide", "no CLIP weights at \(path); it should be \(ModelFamily.clip.weightsHint)")
    }
    let tensors = isDirectory.boolValue ? try HuggingFaceFolder.tensors(path)
        : path.hasSuffix(".safetensors") ? try Safetensors.read(path) : try TorchCheckpoint.load(path)
    if tensors.keys.contains(where: { $0.hasPrefix("vision_model.") }) { return try CLIPModel(huggingFace: tensors, source: path, options: options) }
    return try CLIPModel(weights: Weights(tensors, source: path), options: options)
}
