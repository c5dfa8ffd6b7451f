import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPPipeline
import TVPTensor
import XCTest

/// A throw-away world for pipeline tests: a tiny IDX dataset ("toy-digits", 3 classes of 8×8
/// gray images whose brightness follows the class) with a manifest that fetches it from local
/// files, a pipeline file, and cache and runs folders.
struct ToyWorld {
    let root: String
    let manifestPath: String
    let manifest: Manifest
    let pipelinePath: String
    var cacheRoot: String { root + "/cache" }
    var runsRoot: String { root + "/runs" }

    static let pipeline = """
    name: toy
    \(toyDigitsData(train: 8, test: 6, question: "What?"))
    models:
      tiny-a: {family: tiny-mllm, weights: {random: 1}}
      tiny-b: {family: tiny-mllm, weights: {random: 2}}
      clip: {family: tiny-guide, weights: {random: 3}}
    surrogate: tiny-a
    guide: clip
    targets: [tiny-b]
    prompt: {kind: padding, image_size: 16, frame: 2}
    loss: {fca: 0.005, tse: 0.001}
    train: {epochs: 1, batch: 4, optimizer: tvp, lr: 0.5, schedule: cosine, seed: 7}
    evaluate: {protocols: [zero-shot-official, vp, tvp], metrics: [accuracy, macro-f1], batch: 6}
    expect:
      - tvp.mean >= 0
      - {claim: "tvp.tiny-a >= 0", over: all}

    """

    /// `extraAssets(root)` writes more data files and returns their manifest entries (appended under `assets:`).
    static func make(pipeline: String = ToyWorld.pipeline, file: String = "toy.yaml",
                     extraAssets: (String) throws -> String = { _ in "" }) throws -> ToyWorld {
        let root = NSTemporaryDirectory() + "tvp-pipe-\(UUID().uuidString)"
        var manifest = try toyDigitsManifest(root: root, side: 8, counts: [("train", 12), ("test", 9)]) { split, count in
            var generator = RandomGenerator(seed: split == "train" ? 11 : 12)
            return (0..<count).flatMap { i in (0..<64).map { _ in UInt8(min(255, i % 3 * 100 + Int(generator.next() % 40))) } }
        }
        manifest += try extraAssets(root)
        let manifestPath = root + "/datasets.manifest"
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let pipelinePath = root + "/" + file
        try FileManager.default.createDirectory(atPath: (pipelinePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try pipeline.write(toFile: pipelinePath, atomically: true, encoding: .utf8)
        return ToyWorld(root: root, manifestPath: manifestPath, manifest: try Manifest.load(path: manifestPath), pipelinePath: pipelinePath)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    func context(_ backend: PipelineBackend?) -> ValidationContext {
        ValidationContext(manifest: manifest, modelFamilies: backend?.modelFamilies, guideFamilies: backend?.guideFamilies)
    }

    func load(overrides: [String] = [], multirun: [String] = [], backend: PipelineBackend? = TinyBackend(), path: String? = nil) throws -> LoadedPipeline {
        try PipelineLoader.load(path: path ?? pipelinePath, overrides: try overrides.map { try Override(parsing: $0) },
                                multirun: try multirun.map { try MultirunOverride(parsing: $0) }, context: context(backend))
    }

    func session(overrides: [String] = [], multirun: [String] = [], backend: PipelineBackend) throws -> PipelineSession {
        let registry = StageRegistry(manifest: manifest, fetcher: Fetcher(cacheDirectory: cacheRoot, offline: true, log: { _ in }),
                                     backend: backend)
        return try PipelineSession(loaded: try load(overrides: overrides, multirun: multirun, backend: backend), registry: registry,
                                   cache: try StageCache(root: cacheRoot))
    }

    func run(_ session: PipelineSession, failFast: Bool = false) throws -> RunResult {
        try session.run(options: RunOptions(runsDirectory: runsRoot, failFast: failFast, threads: 2))
    }
}

/// The `data:` section of a toy pipeline file: the toy-digits task with `train` and `test` items.
func toyDigitsData(train: Int, test: Int, question: String? = nil) -> String {
    var lines = ["data:", "  digits:", "    dataset: toy-digits",
                 "    train: {split: train, limit: \(train)}", "    test: {split: test, limit: \(test)}"]
    if let question { lines.append("    question: \"\(question)\"") }
    lines.append("    classes: [zero, one, two]")
    return lines.joined(separator: "\n")
}

/// Writes the "toy-digits" dataset under `root/data` — per split, `count` gray `side`×`side` images
/// from `pixels(split, count)` (image i is of class i % 3) stored as IDX files — and returns a
/// manifest that fetches them from those local files.
func toyDigitsManifest(root: String, side: Int, counts: [(split: String, count: Int)],
                       pixels: (String, Int) -> [UInt8]) throws -> String {
    try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
    var manifest = """
    version: 1
    assets:
      toy-digits:
        kind: dataset
        licence: CC0-1.0
        citation: written by the tests
        task: 3 classes of \(side)x\(side) gray squares
        loader: idx-gz
        splits:
          train: [train-images-idx3-ubyte, train-labels-idx1-ubyte]
          test: [test-images-idx3-ubyte, test-labels-idx1-ubyte]
        files:

    """
    for (split, count) in counts {
        let labels = (0..<count).map { UInt8($0 % 3) }
        for (name, bytes) in [("\(split)-images-idx3-ubyte", IDXArray(dims: [count, side, side], values: pixels(split, count)).encoded()),
                              ("\(split)-labels-idx1-ubyte", IDXArray(dims: [count], values: labels).encoded())] {
            let path = root + "/data/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            manifest += """
                  \(name):
                    size: \(bytes.count)
                    sha256: "\(sha256Hex(bytes))"
                    sources:
                    - local: \(path)

            """
        }
    }
    return manifest
}

/// The YAMLError a throwing expression raises (fails the test otherwise).
func yamlError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> YAMLError? {
    do {
        _ = try body()
        XCTFail("expected a YAMLError, got success", file: file, line: line)
    } catch let error as YAMLError {
        return error
    } catch {
        XCTFail("expected a YAMLError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}
