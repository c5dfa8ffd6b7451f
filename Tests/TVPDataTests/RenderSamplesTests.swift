import Foundation
import TVPData
import XCTest

/// Developer task, not part of the normal run: writes the sample renders of docs/architecture.md and prints release
/// timings. Run `scripts/render_samples.sh` (sets TVP_WRITE_SAMPLES to the output folder).
final class RenderSamplesTests: XCTestCase {
    func testWriteSampleRendersAndTimings() throws {
        guard let folder = ProcessInfo.processInfo.environment["TVP_WRITE_SAMPLES"] else {
            throw XCTSkip("set TVP_WRITE_SAMPLES=<folder> (scripts/render_samples.sh) to write the sample renders")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for index in 0..<4 {
            let scene = try CLEVRRenderer.scene(seed: 0, split: "sample", index: index)
            let image = try CLEVRRaycaster.render(scene, width: 128, height: 128,
                                                  noiseSeed: CLEVRRenderer.sceneSeed(seed: 0, split: "sample", index: index))
            let path = "\(folder)/clevr_sample_\(index).png"
            try PNGCodec.write(image, to: path)
            let bytes = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            XCTAssertLessThan(bytes, 30_000, path)
            print("sample \(path): \(scene.objects.count) objects (\(scene.objects.map { "\($0.size.rawValue) \($0.material.rawValue) \($0.category)" }.joined(separator: ", "))), \(bytes) bytes")
        }
        for size in [128, 224] {
            let scenes = try (0..<8).map { try CLEVRRenderer.scene(seed: 1, split: "timing", index: $0) }
            _ = try CLEVRRaycaster.render(scenes[0], width: size, height: size)   // warm-up
            let start = Date()
            for scene in scenes { _ = try CLEVRRaycaster.render(scene, width: size, height: size) }
            let perImage = Date().timeIntervalSince(start) / Double(scenes.count)
            let sceneStart = Date()
            for index in 0..<8 { _ = try CLEVRRenderer.scene(seed: 2, split: "timing", index: index) }
            let perScene = Date().timeIntervalSince(sceneStart) / 8
            print(String(format: "render %d px: %.1f ms per image (+ %.1f ms scene generation)", size, perImage * 1000, perScene * 1000))
        }
    }
}
