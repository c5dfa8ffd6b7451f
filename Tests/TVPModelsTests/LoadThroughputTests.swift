import Foundation
import TVPModels
import TVPTestSupport
import XCTest

/// Loads the real SmolLM2 GGUF, MiniLM safetensors and EfficientNet-Lite0 `.pth` whole (every
/// tensor to Float32) and prints the best of three wall times and the throughput in file MB/s, so
/// the cost of the readers' checks can be compared between builds. Skips when an asset is absent.
final class LoadThroughputTests: XCTestCase {
    private func measureLoad(_ label: String, _ path: String, expectTensors: Int, _ load: () throws -> Int) throws {
        let size = Double((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let count = try load()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            XCTAssertEqual(count, expectTensors, "\(label): tensor count")
        }
        print(String(format: "load throughput: %@ %.1f ms, %.0f MB/s (%.1f MB file)", label, best * 1000, size / best / 1e6, size / 1e6))
    }

    func testSmolLM2GGUF() throws {
        let path = try realAsset("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
        try measureLoad("SmolLM2 GGUF", path, expectTensors: 272) { try GGUFFile(path: path).tensors().count }
    }

    func testMiniLMSafetensors() throws {
        let path = try realAsset("all-minilm-l6-v2", "model.safetensors")
        // Every float tensor (the integer `position_ids` buffer is not read as Float32).
        try measureLoad("MiniLM safetensors", path, expectTensors: 103) {
            let file = try SafetensorsFile(path: path)
            let floats = file.names.filter { ["F32", "F16", "BF16"].contains(file.entries[$0]!.dtype) }
            for name in floats { _ = try file.tensor(name) }
            return floats.count
        }
    }

    func testEfficientNetLegacyPth() throws {
        let path = try realAsset("efficientnet-lite0", "efficientnet-lite0-57934424.pth")
        try measureLoad("EfficientNet .pth", path, expectTensors: 296) { try TorchCheckpoint.load(path).count }
    }
}
