import Foundation
import TVPData
import TVPEngine
import TVPPipeline
import TVPTensor
import XCTest

/// The real backend on the tiny HF-layout checkpoints of TVPModelsTests (random weights written by
/// transformers): the folders are copied with a small WordPiece tokenizer.json (and InstructBLIP's
/// Q-Former vocab.txt), then built, trained on and evaluated through a whole pipeline.
final class PromptingBackendTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TVPModelsTests/Fixtures").path
    var root = ""

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: Self.fixtures + "/blip2-tiny/model.safetensors") else {
            throw XCTSkip("the tiny checkpoints of TVPModelsTests/Fixtures are absent")
        }
        root = NSTemporaryDirectory() + "tvp-backend-\(UUID().uuidString)"
        for name in ["blip2-tiny", "instructblip-tiny", "llava-tiny"] {
            let folder = root + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for file in ["config.json", "model.safetensors", "preprocessor_config.json"]
            where FileManager.default.fileExists(atPath: Self.fixtures + "/\(name)/\(file)") {
                try FileManager.default.copyItem(atPath: Self.fixtures + "/\(name)/\(file)", toPath: folder + "/" + file)
            }
            // LLaVA's image placeholder is id 69 of its 70-token vocabulary.
            try Self.wordPieceJSON(addedImageToken: name == "llava-tiny" ? 69 : nil).write(toFile: folder + "/tokenizer.json", atomically: true, encoding: .utf8)
        }
        let qformer = root + "/instructblip-tiny/qformer_tokenizer"
        try FileManager.default.createDirectory(atPath: qformer, withIntermediateDirectories: true)
        let qformerVocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (97...122).map { String(UnicodeScalar($0)!) }
        try (qformerVocab.joined(separator: "\n") + "\n").write(toFile: qformer + "/vocab.txt", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    /// A WordPiece tokenizer.json: specials, the letters, and "##" + letter (56 tokens, fits the tiny LMs' 64).
    static func wordPieceJSON(addedImageToken: Int?) -> String {
        let letters = (97...122).map { String(UnicodeScalar($0)!) }
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + letters + letters.map { "##" + $0 }
        let vocab = tokens.enumerated().map { "\"\($1)\": \($0)" }.joined(separator: ", ")
        let added = addedImageToken.map {
            "[{\"id\": \($0), \"content\": \"<image>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}]"
        } ?? "[]"
        return """
        {"version": "1.0", "added_tokens": \(added), "normalizer": {"type": "BertNormalizer", "lowercase": true},
         "pre_tokenizer": {"type": "BertPreTokenizer"},
         "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                   "vocab": {\(vocab)}}}
        """
    }

    func build(_ name: String, _ family: String, folder: String) -> ModelBuild {
        ModelBuild(name: name, family: family, files: [root + "/" + folder], randomSeed: nil, options: .object([:]))
    }

    func testFamiliesBuildAndExplainWhatIsMissing() throws {
        let backend = PromptingBackend()
        XCTAssertEqual(backend.modelFamilies, ["llava", "blip2", "instructblip", "zoo"])
        let blip = try backend.makeModel(build("b", "blip2", folder: "blip2-tiny"))
        XCTAssertEqual(blip.inputSize, 32)
        XCTAssertEqual(blip.name, "b", "models carry their pipeline names")
        let images = Tensor.uniform([2, 3, 32, 32], seed: 1)
        XCTAssertEqual(try blip.predict(images: images, prompts: ["what is it", "and this"], candidates: ["cat", "dog"]).count, 2)
        let llava = try backend.makeModel(build("l", "llava", folder: "llava-tiny"))
        XCTAssertEqual(try llava.logLikelihood(images: images, prompts: ["what", "which"], candidates: ["a", "bc"]).shape, [2, 2])
        _ = try backend.makeModel(build("i", "instructblip", folder: "instructblip-tiny"))

        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let wrong = message { try backend.makeModel(self.build("x", "instructblip", folder: "blip2-tiny")) }
        XCTAssertTrue(wrong.contains("set family: blip2"), wrong)
        let missing = message { try backend.makeModel(self.build("y", "llava", folder: "nowhere")) }
        XCTAssertTrue(missing.contains("is not a folder") && missing.contains("llava-1.5"), missing)
        try FileManager.default.removeItem(atPath: root + "/blip2-tiny/tokenizer.json")
        XCTAssertTrue(message { try backend.makeModel(self.build("b", "blip2", folder: "blip2-tiny")) }.contains("has no tokenizer.json"))
        var zoo = build("zoo-effnet-mlp", "zoo", folder: "blip2-tiny")
        zoo.assetsDirectory = root + "/no-assets"
        let noAssets = message { try backend.makeModel(zoo) }
        XCTAssertTrue(noAssets.contains("run `tvp-run fetch smollm2-135m-instruct`"), noAssets)
        XCTAssertEqual(backend.requiredAssets(family: "zoo", options: .object([:])),
                       ["smollm2-135m-instruct", "efficientnet-lite0", "all-minilm-l6-v2"])
        XCTAssertEqual(backend.requiredAssets(family: "clip", options: .object([:])), ["clip-bpe-vocab"])
        XCTAssertEqual(backend.requiredAssets(family: "clip", options: ["vocab": "/x"]), [])
    }

    func testClipGuideLoadsOpenAIWeightsWithItsVocabulary() throws {
        let build = ModelBuild(name: "clip", family: "clip", files: [Self.fixtures + "/clip_openclip_tiny.safetensors"], randomSeed: nil,
                               options: ["vocab": .string(Self.fixtures + "/tokenizers/clip_bpe_tiny.txt.gz"), "vision_heads": 2, "text_heads": 2])
        let guide = try PromptingBackend().makeGuide(build)
        XCTAssertEqual(guide.inputSize, 32)
        XCTAssertEqual(guide.logitScale, 2, accuracy: 1e-6)
        XCTAssertEqual(try guide.imageFeatures(Tensor.uniform([2, 3, 32, 32], seed: 2)).shape, [2, 16])
    }

    func testAPipelineTrainsOnBLIP2AndEvaluatesEveryFamily() throws {
        let world = try ToyWorld.make(pipeline: """
        name: real
        \(toyDigitsData(train: 4, test: 3))
        models:
          blip: {family: blip2, weights: {path: \(root)/blip2-tiny}}
          iblip: {family: instructblip, weights: {path: \(root)/instructblip-tiny}}
          llava: {family: llava, weights: {path: \(root)/llava-tiny}}
        surrogate: blip
        targets: [iblip, llava]
        prompt: {kind: padding, image_size: 32, frame: 4}
        loss: {fca: 0.005, tse: 0}
        train: {epochs: 1, batch: 2, lr: 1}
        evaluate: {protocols: [zero-shot-official, zero-shot-native, vp, tvp], metrics: [accuracy, macro-f1], batch: 3}

        """)
        defer { world.remove() }
        let backend = PromptingBackend()
        let registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in }),
                                     backend: backend)
        let session = try PipelineSession(loaded: try world.load(backend: backend), registry: registry, cache: try StageCache(root: world.cacheRoot))
        XCTAssertEqual(session.graph.nodes.count, 20)   // fetch, 2 loads, features, 2 trainings, 4 × 3 evaluations, aggregate, report
        let result = try world.run(session)
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        let results = try JSONValue.parse(String(contentsOfFile: try XCTUnwrap(result.folder) + "/results.json", encoding: .utf8))
        let rows = try XCTUnwrap(results["results"]?.arrayValue)
        XCTAssertEqual(rows.count, 12)
        for row in rows {
            let accuracy = try XCTUnwrap(row["metrics"]?["accuracy"]?.doubleValue)
            XCTAssertTrue([0, 1.0 / 3, 2.0 / 3, 1].contains { abs($0 - accuracy) < 1e-9 }, "\(row)")
        }
        let curve = try XCTUnwrap(results["trainings"]?.arrayValue?.first { $0["variant"] == "tvp" }?["curve"]?.arrayValue)
        XCTAssertEqual(curve.count, 2, "4 samples in batches of 2")
        XCTAssertNotNil(curve[0]["fca"]?.doubleValue, "TVP logs its FCA term")

        // Weights that are not there stop the run before anything runs, saying what to put there.
        let moved = try world.load(overrides: ["models.llava.weights.path=/nowhere/llava"], backend: backend)
        XCTAssertThrowsError(try PipelineSession(loaded: moved, registry: registry, cache: try StageCache(root: world.cacheRoot))) { error in
            XCTAssertTrue("\(error)".contains("model 'llava': no weights at /nowhere/llava; put there an HF LlavaForConditionalGeneration folder"), "\(error)")
        }
    }
}
