import Foundation
import TVPData
import TVPEngine
import TVPPipeline
import XCTest

/// A model's `weights: {path: …}` enters its stages' parameters normalized, so the stage keys do
/// not depend on how the pipeline file was named (`./Pipelines/x.yaml`, `Pipelines/sub/../x.yaml`)
/// or on which folder's file declared the path: one computation, one cache entry.
final class WeightPathKeyTests: XCTestCase {
    func testNormalizedPath() {
        for (path, normalized) in [
            ("./a/b/../c/", "a/c"),
            ("Pipelines/paper/../zoo/connectors", "Pipelines/zoo/connectors"),
            ("../a/./b", "../a/b"),
            ("../../a", "../../a"),
            ("a/../../b", "../b"),
            ("/a/../../b", "/b"),
            ("a/..", "."),
            ("/", "/"),
            ("//x//y", "/x/y"),
        ] {
            XCTAssertEqual(normalizedPath(path), normalized, path)
        }
    }

    func testStageKeysDoNotDependOnHowThePipelineFileIsNamed() throws {
        let pipeline = ToyWorld.pipeline.replacingOccurrences(of: "tiny-b: {family: tiny-mllm, weights: {random: 2}}",
                                                              with: "tiny-b: {family: tiny-mllm, weights: {path: ../weights/b}}")
        let world = try ToyWorld.make(pipeline: pipeline, file: "pipelines/toy.yaml")
        defer { world.remove() }
        for folder in ["weights/b", "pipelines/paper"] {
            try FileManager.default.createDirectory(atPath: world.root + "/" + folder, withIntermediateDirectories: true)
        }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: world.root + "/weights/b/w.bin"))
        // A pipeline in another folder that extends it: the base's path is rewritten relative to it.
        try "extends: ../toy.yaml\n".write(toFile: world.root + "/pipelines/paper/child.yaml", atomically: true, encoding: .utf8)

        func keys(_ path: String) throws -> (keys: Set<StageKey>, weights: String?) {
            let registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in }),
                                         backend: TinyBackend())
            let loaded = try world.load(path: path)
            let session = try PipelineSession(loaded: loaded, registry: registry, cache: try StageCache(root: world.cacheRoot))
            let compiler = PipelineCompiler(registry: registry, baseDirectory: (path as NSString).deletingLastPathComponent)
            let model = try XCTUnwrap(loaded.points[0].spec.model("tiny-b"))
            // Every stage that computes (aggregate and report are light and hold where each claim is written).
            let computing = session.graph.nodes.filter { ![StageKinds.aggregate, StageKinds.report].contains($0.stage.kind) }
            return (Set(computing.map(\.key)), compiler.modelJSON(model)["weights"]?["path"]?.stringValue)
        }
        let plain = try keys(world.root + "/pipelines/toy.yaml")
        XCTAssertEqual(plain.weights, world.root + "/weights/b")
        XCTAssertEqual(plain.keys.count, 13)     // fetch, 2 loads, features, text, 2 trainings, 3 protocols × 2 models
        for variant in [world.root + "/pipelines/./toy.yaml", world.root + "/pipelines/paper/../toy.yaml", world.root + "/pipelines/paper/child.yaml"] {
            let other = try keys(variant)
            XCTAssertEqual(other.weights, plain.weights, variant)
            XCTAssertEqual(other.keys, plain.keys, variant)
        }
    }

    /// A model whose backend names the files it reads from a weight folder is keyed on those files
    /// alone: rewriting a sibling's file (another zoo model's) leaves its stages cached.
    func testStageKeysFollowOnlyTheFilesAModelReads() throws {
        let pipeline = ToyWorld.pipeline.replacingOccurrences(of: "tiny-b: {family: tiny-mllm, weights: {random: 2}}",
                                                              with: "tiny-b: {family: tiny-mllm, weights: {path: ../weights/b}}")
        let world = try ToyWorld.make(pipeline: pipeline, file: "pipelines/toy.yaml")
        defer { world.remove() }
        let folder = world.root + "/weights/b"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name)) }
        try write("own.bin", [1, 2, 3])
        try write("sibling.bin", [4])
        func keys(files: [String]?) throws -> Set<StageKey> {
            let backend = TinyBackend()
            backend.weightFilesOfEveryModel = files
            let registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in }),
                                         backend: backend)
            let session = try PipelineSession(loaded: try world.load(path: world.root + "/pipelines/toy.yaml"), registry: registry,
                                              cache: try StageCache(root: world.cacheRoot))
            return Set(session.graph.nodes.map(\.key))
        }
        let wholeFolder = try keys(files: nil), ownFile = try keys(files: ["own.bin"])
        XCTAssertFalse(wholeFolder.isEmpty)
        try write("sibling.bin", [5])
        XCTAssertNotEqual(try keys(files: nil), wholeFolder, "keyed on the whole folder, a sibling's change recomputes")
        XCTAssertEqual(try keys(files: ["own.bin"]), ownFile, "keyed on its own file, a sibling's change does not")
        try write("own.bin", [1, 2, 4])
        XCTAssertNotEqual(try keys(files: ["own.bin"]), ownFile)
        XCTAssertThrowsError(try keys(files: ["own.bin", "absent.bin"])) { error in
            XCTAssertTrue("\(error)".contains("absent.bin"), "\(error)")
        }
    }

    func testTheZooNamesTheFilesEachModelReads() {
        let backend = PromptingBackend()
        XCTAssertEqual(backend.weightFiles(family: "zoo", name: "zoo-effnet-mlp", options: .null), ["zoo-effnet-mlp.safetensors"])
        XCTAssertEqual(backend.weightFiles(family: "zoo", name: "zoo-vit-mlp", options: .null), ["zoo-vit-mlp.safetensors", "zoo-vit-tower.safetensors"])
        XCTAssertEqual(backend.weightFiles(family: "zoo", name: "mine", options: ["zoo_model": "zoo-effnet-pool"]), ["zoo-effnet-pool.safetensors"])
        XCTAssertEqual(backend.weightFiles(family: "zoo-guide", name: "guide", options: .null), ["zoo-guide.safetensors"])
        XCTAssertNil(backend.weightFiles(family: "zoo", name: "not-a-zoo-model", options: .null))
        XCTAssertNil(backend.weightFiles(family: "llava", name: "llava", options: .null))
    }
}
