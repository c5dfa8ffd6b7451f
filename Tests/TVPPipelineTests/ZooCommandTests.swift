import Foundation
import TVPPipeline
import XCTest

/// `tvp-run zoo build|evaluate` and zoo build files (`build: zoo`, Pipelines/zoo.yaml).
final class ZooCommandTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "tvp-zoo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func write(_ text: String) throws -> String {
        let path = folder + "/zoo.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testBadZooBuildFilesAreRefusedWithTheirPlace() throws {
        let binary = try KillResumeTests.tvpRunBinary()
        var path = try write("build: zoo\noutput: out\nscale: huge\n")
        var result = try CLI.run(binary, [path], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("zoo.yaml:3:8") && result.output.contains("full or tiny"), result.output)

        path = try write("build: zoo\noutput: out\nmodels: [zoo-effnet-mlp, zoo-effnet-pol]\n")
        result = try CLI.run(binary, [path], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("zoo.yaml:3:26") && result.output.contains("did you mean 'zoo-effnet-pool'?"), result.output)

        path = try write("build: zoo\noutput: out\nepochs: 3\n")
        result = try CLI.run(binary, [path], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("zoo.yaml:3:1") && result.output.contains("epochs"), result.output)

        path = try write("build: ensemble\noutput: out\n")
        result = try CLI.run(binary, [path], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("only one is 'zoo'"), result.output)

        path = try write("build: zoo\noutput: out\n")
        result = try CLI.run(binary, [path, "--set", "scale=tiny"], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("takes no --set"), result.output)

        result = try CLI.run(binary, ["plan", path], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("is a zoo build file"), result.output)

        result = try CLI.run(binary, ["zoo", "build", "--scale", "big"], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("full or tiny"), result.output)
        result = try CLI.run(binary, ["zoo", "train"], in: folder)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("build and evaluate"), result.output)
    }

    /// A real (tiny) build through the zoo build file: every stage runs on the real parts (the gated
    /// Q-Former's matching stage included); the weights land next to the file and the zero-shot
    /// table names the models and all four tasks.
    func testATinyBuildWritesTheWeightsAndTheZeroShotTable() throws {
        let assets = (ProcessInfo.processInfo.environment["TVP_CACHE"] ?? (NSHomeDirectory() + "/.cache/tvp")) + "/assets"
        for file in ["smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "efficientnet-lite0/efficientnet-lite0-57934424.pth",
                     "all-minilm-l6-v2/model.safetensors", "fashion-mnist/t10k-images-idx3-ubyte.gz", "mnist-5k/mnist_5k.csv.gz"]
            where !FileManager.default.fileExists(atPath: assets + "/" + file) {
            throw XCTSkip("the zoo's parts are not in \(assets) (missing \(file)): run scripts/test, which fetches them")
        }
        let binary = try KillResumeTests.tvpRunBinary()
        let path = try write("build: zoo\noutput: built\nscale: tiny\nmodels: [zoo-effnet-pool, zoo-effnet-qformer]\n")
        // The build's scratch cache is private to the test; the assets are linked from the real cache.
        let cache = folder + "/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: cache + "/assets", withDestinationPath: assets)
        let manifest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let result = try CLI.run(binary, [path, "--cache", cache, "--offline"], in: manifest)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("[match zoo-effnet-qformer]"), result.output)
        for file in ["zoo-effnet-pool.safetensors", "zoo-effnet-qformer.safetensors", "zoo-guide.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/built/" + file), "\(file) missing:\n\(result.output)")
        }
        XCTAssertTrue(result.output.contains("| model | clevr-counting | fashion-mnist | mnist | pope-adversarial |"), result.output)
        XCTAssertTrue(result.output.contains("| zoo-effnet-pool | ") && result.output.contains("| zoo-effnet-qformer | "), result.output)
    }
}
