import Foundation
import TVPCommands
import TVPData
import TVPModels
import TVPPrompting
import TVPTensor
import XCTest

final class PromptCommandTests: XCTestCase {
    static let official = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../TVPModelsTests/Fixtures/official-prompt/tvp-official-cifar10-minigpt4.pth").standardized.path

    func temporary(_ ext: String) -> String { NSTemporaryDirectory() + "tvp-cli-\(UUID().uuidString).\(ext)" }

    func testImportExportShowRoundTripTheOfficialPrompt() throws {
        let (tvp, pth, png, sample) = (temporary("safetensors"), temporary("pth"), temporary("png"), temporary("png"))
        defer { for p in [tvp, pth, png, sample] { try? FileManager.default.removeItem(atPath: p) } }
        XCTAssertEqual(TVPRunCommand.runPrompt(["import", Self.official, tvp]), 0)
        XCTAssertEqual(try PromptFile.load(tvp).frame, 30)
        XCTAssertEqual(TVPRunCommand.runPrompt(["export", tvp, pth]), 0)
        let original = try TorchCheckpoint.load(Self.official)["perturbation"]!
        XCTAssertEqual(try TorchCheckpoint.load(pth)["perturbation"]?.toArray(), original.toArray(), "exact values")
        if let keep = ProcessInfo.processInfo.environment["TVP_KEEP_EXPORT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: pth, toPath: keep)   // for scripts/fixtures/check_torch_export.py
        }
        try PNGCodec.write(Tensor.uniform([3, 40, 30], seed: 2), to: sample)
        XCTAssertEqual(TVPRunCommand.runPrompt(["show", tvp, png, "--image", sample]), 0)
        XCTAssertEqual(try PNGCodec.read(png).shape, [3, 224, 2 * 224 + 8])
        if let picture = ProcessInfo.processInfo.environment["TVP_SHOW_SAMPLE"] {   // developer hook: look at the paper-style figure
            XCTAssertEqual(TVPRunCommand.runPrompt(["show", Self.official, "/tmp/tvp-official-show.png", "--image", picture]), 0)
        }
        XCTAssertEqual(TVPRunCommand.runPrompt(["show", Self.official, png]), 0, "show reads official checkpoints too")
        XCTAssertEqual(try PNGCodec.read(png).shape, [3, 224, 224])
    }

    func testNaNOrInfinitePromptsAreRefusedByImportAndShow() throws {
        let (pth, tvp, png) = (temporary("pth"), temporary("safetensors"), temporary("png"))
        defer { for p in [pth, tvp, png] { try? FileManager.default.removeItem(atPath: p) } }
        var values = [Float](repeating: 0, count: 3 * 32 * 32)
        values[5] = .nan
        try TorchCheckpointWriter.write([("perturbation", try Tensor(values, shape: [3, 32, 32]))], to: pth)
        XCTAssertEqual(TVPRunCommand.runPrompt(["import", pth, tvp]), 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tvp))
        XCTAssertThrowsError(try PromptFile.loadPrompt(pth)) { XCTAssertTrue("\($0)".contains("holds nan at flat index 5"), "\($0)") }
        values[5] = 0
        values[40] = .infinity
        try Safetensors.write(["perturbation": try Tensor(values, shape: [3, 32, 32])], metadata: ["format": "tvp-prompt", "kind": "padding", "frame": "4"], to: tvp)
        XCTAssertEqual(TVPRunCommand.runPrompt(["show", tvp, png]), 1)
        XCTAssertThrowsError(try PromptFile.loadPrompt(tvp)) { XCTAssertTrue("\($0)".contains("holds inf at flat index 40"), "\($0)") }
    }

    func testUsageErrorsAndMissingFiles() {
        XCTAssertEqual(TVPRunCommand.runPrompt([]), 2)
        XCTAssertEqual(TVPRunCommand.runPrompt(["convert", "a", "b"]), 2)
        XCTAssertEqual(TVPRunCommand.runPrompt(["import", "only-one"]), 2)
        XCTAssertEqual(TVPRunCommand.runPrompt(["export", "a", "b", "--image", "c"]), 2)
        XCTAssertEqual(TVPRunCommand.runPrompt(["import", "/nonexistent/in.pth", temporary("safetensors")]), 1)
        XCTAssertEqual(TVPRunCommand.runPrompt(["--help"]), 0)
    }
}
