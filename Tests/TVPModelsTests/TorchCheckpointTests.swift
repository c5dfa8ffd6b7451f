import Foundation
import TVPModels
import TVPTensor
import XCTest

final class TorchCheckpointTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func save(_ base64: String, _ name: String) throws -> String {
        let data = try XCTUnwrap(Data(base64Encoded: base64, options: .ignoreUnknownCharacters))
        let p = folder.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: p))
        return p
    }

    /// What torch itself holds for the object in scripts/fixtures/legacy_pth.py.
    func checkFixtureContents(_ t: [String: Tensor], _ label: String) {
        func values(_ key: String) -> [Float]? { t[key]?.toArray() }
        XCTAssertEqual(Set(t.keys), ["model.weight", "model.weight_t", "model.row", "model.column", "model.bias", "model.half",
                                     "model.bf", "model.steps", "model.mask", "model.param", "extra.0", "extra.1.inner"], label)
        XCTAssertEqual(t["model.weight"]?.shape, [2, 3], label)
        XCTAssertEqual(values("model.weight"), [-1, -0.5, 0, 0.5, 1, 1.5], label)
        XCTAssertEqual(t["model.weight_t"]?.shape, [3, 2], label)
        XCTAssertEqual(values("model.weight_t"), [-1, 0.5, -0.5, 1, 0, 1.5], label)   // stride (1, 3)
        XCTAssertEqual(values("model.row"), [0, 0.25, 0.5, 0.75], label)             // big[1], offset 4
        XCTAssertEqual(values("model.column"), [-0.5, 0.5, 1.5], label)              // big[:, 2], offset 2, stride 4
        XCTAssertEqual(values("model.bias"), [0.125, -2, 3.5], label)                // float64
        XCTAssertEqual(values("model.half"), [1, -0.5, 65504, 0x1p-24], label)       // float16
        XCTAssertEqual(values("model.bf"), [3, -0.0078125], label)                   // bfloat16
        XCTAssertEqual(t["model.steps"]?.shape, [], label)                           // 0-d int64
        XCTAssertEqual(t["model.steps"]?.item, 7, label)
        XCTAssertEqual(values("model.mask"), [1, 0, 1], label)                       // bool
        XCTAssertEqual(t["model.param"]?.shape, [2, 1], label)                       // nn.Parameter
        XCTAssertEqual(values("model.param"), [2, 4], label)
        XCTAssertEqual(values("extra.0"), [9, 8], label)
        XCTAssertEqual(values("extra.1.inner"), [-1], label)
    }

    func testLegacyContainer() throws {
        checkFixtureContents(try TorchCheckpoint.load(try save(TorchFixtures.legacyBase64, "legacy.pth")), "legacy")
    }

    func testZipContainer() throws {
        checkFixtureContents(try TorchCheckpoint.load(try save(TorchFixtures.zipBase64, "zip.pth")), "zip")
    }

    func testDeflatedZipContainer() throws {
        checkFixtureContents(try TorchCheckpoint.load(try save(TorchFixtures.zipDeflatedBase64, "deflated.pth")), "deflated")
    }

    func testDamagedFilesNameTheProblem() throws {
        let zip = try XCTUnwrap(Data(base64Encoded: TorchFixtures.zipBase64, options: .ignoreUnknownCharacters))
        let cut = folder.appendingPathComponent("cut.pth")
        try zip.prefix(zip.count - 30).write(to: cut)
        assertFormatError(try TorchCheckpoint.load(cut.path), mentions: ["cut.pth", "ZIP"])

        // Flip a byte inside the stored entry archive/data/0 (found through its local header).
        var flipped = [UInt8](zip)
        let name = Array("archive/data/0".utf8)
        let nameAt = try XCTUnwrap((0..<(flipped.count - name.count)).first { Array(flipped[$0..<($0 + name.count)]) == name })
        let extraLength = Int(flipped[nameAt - 2]) | Int(flipped[nameAt - 1]) << 8
        flipped[nameAt + name.count + extraLength + 5] ^= 0xff
        let corrupt = folder.appendingPathComponent("corrupt.pth")
        try Data(flipped).write(to: corrupt)
        assertFormatError(try TorchCheckpoint.load(corrupt.path), mentions: ["corrupt.pth", "archive/data/0", "CRC-32"])

        let legacy = try XCTUnwrap(Data(base64Encoded: TorchFixtures.legacyBase64, options: .ignoreUnknownCharacters))
        let short = folder.appendingPathComponent("short.pth")
        try legacy.prefix(legacy.count - 10).write(to: short)
        assertFormatError(try TorchCheckpoint.load(short.path), mentions: ["short.pth", "storage", "truncated"])

        let text = folder.appendingPathComponent("text.pth")
        try Data("hello".utf8).write(to: text)
        assertFormatError(try TorchCheckpoint.load(text.path), mentions: ["text.pth", "not a PyTorch checkpoint"])
    }

    /// The prompt released with the official TVP code (Fixtures/official-prompt, MIT licence beside it).
    func testOfficialPrompt() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/official-prompt/tvp-official-cifar10-minigpt4.pth").path
        let t = try TorchCheckpoint.load(path)
        XCTAssertEqual(Array(t.keys), ["perturbation"])
        let p = try XCTUnwrap(t["perturbation"])
        XCTAssertEqual(p.shape, [3, 224, 224])
        // Exact values read with Python's zipfile + struct from checkpoint_best/data/0 (no torch).
        let expected: [(Int, Int, Int, UInt32)] = [
            (0, 0, 0, 0x3ECF_976F), (0, 0, 1, 0x3DA0_2F86), (1, 10, 200, 0x3E40_5F01), (2, 223, 223, 0x3E57_921B),
            (0, 29, 29, 0xBDBE_1A47), (2, 100, 5, 0x3E4B_B7EF), (0, 194, 100, 0x3E88_7BCC),
        ]
        for (c, y, x, bits) in expected {
            XCTAssertEqual(p[c, y, x].bitPattern, bits, "perturbation[\(c), \(y), \(x)]")
        }
        // The 164 × 164 centre is exactly zero; every frame value is non-zero.
        var centreNonZero = 0, frameZero = 0
        let v = p.data
        for c in 0..<3 {
            for y in 0..<224 {
                for x in 0..<224 {
                    let inside = (30..<194).contains(y) && (30..<194).contains(x)
                    let value = v[(c * 224 + y) * 224 + x]
                    if inside && value != 0 { centreNonZero += 1 }
                    if !inside && value == 0 { frameZero += 1 }
                }
            }
        }
        XCTAssertEqual(centreNonZero, 0)
        XCTAssertEqual(frameZero, 0)
        let values = p.toArray()
        XCTAssertEqual(values.min()?.bitPattern, 0xBFDE_0826)   // −1.7346237
        XCTAssertEqual(values.max()?.bitPattern, 0x4002_6CD3)   // 2.0378921
        XCTAssertEqual(values.reduce(0.0) { $0 + Double($1) }, 334.4070434137975, accuracy: 1e-6)
    }
}
