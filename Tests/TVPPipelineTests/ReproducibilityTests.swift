import Foundation
import TVPData
import TVPPipeline
import TVPTensor
import XCTest

/// The same file and seed give bit-identical prompts on every x86-64 machine: `tvp-run` pins
/// OpenBLAS's Haswell kernel (AVX2 + FMA) on AMD and Intel CPUs alike (`BLASKernel`). This trains
/// the default pipeline's VP and TVP prompts at smoke scale on the real zoo, with two threads (the
/// project's machines have two cores; OpenBLAS 0.3.21's sgemm rounds differently with one thread
/// than with two, so the digests hold for a given thread count), and compares the SHA-256 of their
/// float32 values with the digests committed here: a machine whose kernel, libm or code path
/// rounds differently fails it.
final class ReproducibilityTests: XCTestCase {
    /// `Pipelines/clevr.yaml --scale smoke --set train.validation=0`: prompt digest by training variant.
    static let digests = [
        "vp": "04f34dc939cb2ecf27dd07639ad46d32c74f9417340e831ae1f356f579b30cff",
        "tvp": "511fa48b724f813bbb9ff2be7ea33b25c13a4514d45ac4c9ef425255cf98a187",
    ]

    func testTheDefaultPipelineTrainsBitIdenticalPromptsOnEveryMachine() throws {
        let package = PaperSmokeTests.package
        let cacheRoot = ProcessInfo.processInfo.environment["TVP_CACHE"] ?? (NSHomeDirectory() + "/.cache/tvp")
        let assets = cacheRoot + "/assets"
        for file in ["smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "efficientnet-lite0/efficientnet-lite0-57934424.pth",
                     "all-minilm-l6-v2/model.safetensors"] where !FileManager.default.fileExists(atPath: assets + "/" + file) {
            throw XCTSkip("the zoo's parts are not in \(assets) (missing \(file)): run scripts/test, which fetches them")
        }
        guard BLASKernel.cpuFlags().isSuperset(of: ["avx2", "fma"]) else {
            throw XCTSkip("this CPU has no AVX2 and FMA, so it cannot run the reproducible OpenBLAS kernel")
        }
        let binary = try KillResumeTests.tvpRunBinary()
        let root = NSTemporaryDirectory() + "tvp-repro-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for threads in ["2"] {
            let cache = root + "/cache-\(threads)", runs = root + "/runs-\(threads)"
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: cache + "/assets", withDestinationPath: assets)
            // Without validation the stage keeps the last prompt, so the digest covers every training step.
            let result = try CLI.run(binary, ["Pipelines/clevr.yaml", "--scale", "smoke", "--set", "train.validation=0", "--cache", cache,
                                              "--runs", runs, "--threads", threads, "--offline", "-q"], in: package)
            XCTAssertTrue(result.status == 0 || result.status == 1, "exit \(result.status)\n\(result.output)")
            let folder = runs + "/clevr/" + (try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: runs + "/clevr").sorted().last))
            let results = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/results.json"))) as? [String: Any])
            let trainings = try XCTUnwrap(results["trainings"] as? [[String: Any]])
            var seen: [String: String] = [:]
            for training in trainings {
                seen[try XCTUnwrap(training["variant"] as? String)] = try XCTUnwrap(training["prompt_sha256"] as? String)
            }
            print("clevr.yaml --scale smoke, \(threads) thread(s): prompt digests \(seen)")
            XCTAssertNotEqual(seen["vp"], seen["tvp"], "FCA and TSE change the prompt")
            XCTAssertEqual(seen, Self.digests,
                           "\(threads) thread(s): the prompts differ from the committed ones; if a change meant to alter training, "
                           + "update ReproducibilityTests.digests (and say why in the commit)")
        }
    }
}
