import Foundation
import TVPModels
import TVPTensor
import TVPTestSupport
import XCTest

/// Mutation fuzzing of the weight readers (see `Fuzzer`): no crash, no hang, every error names the file.
final class ModelsFuzzTests: XCTestCase {
    private func check(_ report: Fuzzer.Report) {
        print(report)
        XCTAssert(report.failures.isEmpty, report.failures.joined(separator: "\n"))
    }

    private func fixture(_ base64: String) throws -> [UInt8] {
        [UInt8](try XCTUnwrap(Data(base64Encoded: base64, options: .ignoreUnknownCharacters)))
    }

    func testSafetensors() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("seed.safetensors").path
        try Safetensors.write(["a": try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), "b": try Tensor([0.5], shape: []), "c": Tensor(zeros: [0, 4])],
                              metadata: ["format": "pt"], to: path)
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        check(try Fuzzer(reader: "safetensors", seeds: [seed]).run(fileName: "model.safetensors") { _ = try Safetensors.read($0) })
    }

    func testGGUF() throws {
        var w = GGUFWriter()
        w.kv("general.name", 8) { GGUFWriter.string(&$0, "tiny") }
        w.kv("tokenizer.ggml.tokens", 9) { b in b.u32(8); b.u64(2); for s in ["<s>", "a"] { GGUFWriter.string(&b, s) } }
        w.kv("t.nested", 9) { b in b.u32(9); b.u64(1); b.u32(0); b.u64(2); b.u8(1); b.u8(2) }
        var f32 = ByteBuilder(); for v: Float in [1, -2, 3.5, 0] { f32.f32(v) }
        w.tensor("vector", ne: [4], type: 0, data: f32.bytes)
        w.tensor("token_embd.weight", ne: [32, 2], type: 8, data: GGUFTests.q8Blocks())
        w.tensor("blk.0.attn_q.weight", ne: [32, 2], type: 2, data: GGUFTests.q40Blocks())
        check(try Fuzzer(reader: "gguf", seeds: [w.bytes()]).run(fileName: "model.gguf") { path in
            let file = try GGUFFile(path: path)
            _ = try file.tensors()
        })
    }

    func testTorchZip() throws {
        let seeds = [try fixture(TorchFixtures.zipBase64), try fixture(TorchFixtures.zipDeflatedBase64)]
        check(try Fuzzer(reader: "pth-zip", seeds: seeds).run(fileName: "model.pth") { _ = try TorchCheckpoint.load($0) })
    }

    func testTorchLegacy() throws {
        check(try Fuzzer(reader: "pth-legacy", seeds: [try fixture(TorchFixtures.legacyBase64)]).run(fileName: "model.pth") {
            _ = try TorchCheckpoint.load($0)
        })
    }
}
