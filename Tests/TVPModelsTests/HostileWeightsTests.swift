import Foundation
import TVPModels
import TVPTestSupport
import XCTest

/// Hand-made pickles for hostile checkpoints (protocol 2 opcodes).
enum HostilePickle {
    static func unicode(_ s: String) -> [UInt8] { [0x58] + HostileBytes.le(UInt32(s.utf8.count)) + Array(s.utf8) }
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func long(_ v: Int64) -> [UInt8] { [0x8a, 8] + HostileBytes.le(v) }

    /// `{key: _rebuild_tensor_v2(storage '0' of `numel` floats, offset 0, size, stride, False, OrderedDict())}`.
    static func stateDict(key: String = "w", numel: Int64, size: [Int64], stride: [Int64]) -> [UInt8] {
        var p: [UInt8] = [0x80, 0x02, 0x7d] + unicode(key) + global("torch._utils", "_rebuild_tensor_v2") + [0x28]
        p += [0x28] + unicode("storage") + global("torch", "FloatStorage") + unicode("0") + unicode("cpu") + long(numel) + [0x74, 0x51]
        p += [0x4b, 0x00]
        p += [0x28] + size.flatMap(long) + [0x74]
        p += [0x28] + stride.flatMap(long) + [0x74]
        p += [0x89] + global("collections", "OrderedDict") + [0x29, 0x52]
        return p + [0x74, 0x52, 0x73, 0x2e]
    }

    /// A zip checkpoint with `pickle` as archive/data.pkl and `storage` as archive/data/0.
    static func zipCheckpoint(_ pickle: [UInt8], storage: [UInt8]) -> [UInt8] {
        HostileBytes.zip([("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8)), ("archive/data/0", storage)])
    }
}

/// Hostile weight files: sizes that overflow, claims beyond the file, formats that look alike.
final class HostileWeightsTests: XCTestCase {
    private var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }
    private func save(_ bytes: [UInt8], _ name: String) throws -> String { try writeFile(bytes, name, in: folder) }

    /// A storage of 2^62 floats made `(offset + count) × 4` wrap to 0: the check passed and the
    /// reader ran off the 4-byte storage.
    func testStorageCountThatOverflowsIsRefused() throws {
        let huge = HostilePickle.stateDict(numel: 1 << 62, size: [1 << 62], stride: [1])
        let path = try save(HostilePickle.zipCheckpoint(huge, storage: [0, 0, 128, 63]), "huge.pth")
        assertFormatError(try TorchCheckpoint.load(path), mentions: ["huge.pth", "tensor 'w'", "storage '0'"])

        // A size whose element count overflows, and a stride that reaches past the storage.
        let overflow = HostilePickle.stateDict(numel: 1, size: [1 << 32, 1 << 32], stride: [0, 0])
        assertFormatError(try TorchCheckpoint.load(try save(HostilePickle.zipCheckpoint(overflow, storage: [0, 0, 128, 63]), "count.pth")),
                          mentions: ["count.pth", "tensor 'w'", "overflows"])
        let far = HostilePickle.stateDict(numel: 1, size: [2], stride: [1 << 62])
        assertFormatError(try TorchCheckpoint.load(try save(HostilePickle.zipCheckpoint(far, storage: [0, 0, 128, 63]), "far.pth")),
                          mentions: ["far.pth", "tensor 'w'", "reaches element"])

        // A broadcast view (stride 0) may exceed its storage only up to the expansion limit.
        let broadcast = HostilePickle.stateDict(numel: 1, size: [1 << 20, 1 << 20], stride: [0, 0])
        assertFormatError(try TorchCheckpoint.load(try save(HostilePickle.zipCheckpoint(broadcast, storage: [0, 0, 128, 63]), "wide.pth")),
                          mentions: ["wide.pth", "tensor 'w'", "TVP_MAX_EXPANDED_BYTES"])
        let small = HostilePickle.stateDict(numel: 1, size: [2, 3], stride: [0, 0])
        let t = try TorchCheckpoint.load(try save(HostilePickle.zipCheckpoint(small, storage: [0, 0, 128, 63]), "ok.pth"))
        XCTAssertEqual(t["w"]?.toArray(), [1, 1, 1, 1, 1, 1])
    }

    /// A checkpoint that names code (next to a real tensor) is refused, naming the global.
    func testCheckpointNamingCodeIsRefused() throws {
        var pickle = HostilePickle.stateDict(numel: 1, size: [1], stride: [1])
        pickle.removeLast(2)   // SETITEM STOP → add 'x': os.system('true') first
        pickle += [0x73] + HostilePickle.unicode("x") + HostilePickle.global("os", "system") + HostilePickle.unicode("true") + [0x85, 0x52, 0x73, 0x2e]
        let path = try save(HostilePickle.zipCheckpoint(pickle, storage: [0, 0, 128, 63]), "code.pth")
        assertFormatError(try TorchCheckpoint.load(path), mentions: ["code.pth", "os.system"])
    }

    /// GGUF dimensions whose product wraps to zero, and data offsets beyond the file.
    func testGGUFSizesThatOverflowAreRefused() throws {
        var w = GGUFWriter()
        w.tensor("wrap", ne: [1 << 30, 1 << 30, 16], type: 0, data: [])
        assertFormatError(try GGUFFile(path: try save(w.bytes(), "wrap.gguf")), mentions: ["wrap.gguf", "tensor 'wrap'"])

        // Metadata arrays: no more elements than the bytes left can hold, nor than the array limit.
        var a = GGUFWriter()
        a.kv("t.bytes", 9) { b in b.u32(4); b.u64(1000) }
        assertFormatError(try GGUFFile(path: try save(a.bytes(), "array.gguf")), mentions: ["array.gguf", "t.bytes", "cannot fit"])
        var many = GGUFWriter()
        many.kv("t.many", 9) { b in b.u32(0); b.u64(UInt64(1) << 40) }
        assertFormatError(try GGUFFile(path: try save(many.bytes(), "many.gguf")), mentions: ["many.gguf", "t.many", "\(GGUFFile.maxArrayElements)"])
    }

    /// Safetensors, torch zip, legacy torch and GGUF are told apart by more than the first byte.
    func testFormatsAreToldApartByContent() throws {
        // A header of 384 bytes: the file starts 0x80 0x01, like a pickle.
        var header = Array(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        header += [UInt8](repeating: 0x20, count: 384 - header.count)
        let safetensors = try save(HostileBytes.le(UInt64(384)) + header + [0, 0, 128, 63], "prompt.safetensors")
        XCTAssertEqual(try WeightFileFormat.detect(path: safetensors), .safetensors)
        XCTAssertEqual(try SafetensorsFile(path: safetensors).tensor("w").toArray(), [1])
        assertFormatError(try TorchCheckpoint.load(safetensors), mentions: ["prompt.safetensors", "not a PyTorch checkpoint", "safetensors"])

        let legacy = try save([UInt8](try XCTUnwrap(Data(base64Encoded: TorchFixtures.legacyBase64, options: .ignoreUnknownCharacters))), "l.pth")
        XCTAssertEqual(try WeightFileFormat.detect(path: legacy), .torchLegacy)
        let zip = try save([UInt8](try XCTUnwrap(Data(base64Encoded: TorchFixtures.zipBase64, options: .ignoreUnknownCharacters))), "z.pth")
        XCTAssertEqual(try WeightFileFormat.detect(path: zip), .torchZip)
        XCTAssertEqual(try WeightFileFormat.detect(path: try save(GGUFWriter().bytes(), "g.gguf")), .gguf)
        XCTAssertNil(try WeightFileFormat.detect(path: try save(Array("hello".utf8), "t.txt")))
    }

    /// A header of 100 000 nested arrays is refused by the JSON parser, not by the stack.
    func testDeeplyNestedHeaderIsRefused() throws {
        let deep = Array(repeating: UInt8(ascii: "["), count: 100_000)
        let path = try save(HostileBytes.le(UInt64(deep.count)) + deep, "deep.safetensors")
        assertFormatError(try SafetensorsFile(path: path), mentions: ["deep.safetensors", "not valid JSON"])
    }

    /// The hostile files above, read in a child process capped at 4 GiB of address space.
    func testHostileWeightsStayWithinBoundedMemory() throws {
        if let corpus = BoundedChild.corpusFolder {
            return try BoundedChild.readCorpus(corpus) { path, name in
                if name.hasSuffix(".gguf") { _ = try GGUFFile(path: path).tensors() }
                else if name.hasSuffix(".safetensors") { _ = try Safetensors.read(path) }
                else { _ = try TorchCheckpoint.load(path) }
            }
        }
        let storage: [UInt8] = [0, 0, 128, 63]
        var wrap = GGUFWriter()
        wrap.tensor("wrap", ne: [1 << 30, 1 << 30, 16], type: 0, data: [])
        var big = GGUFWriter()
        big.tensor("big", ne: [1 << 31 - 1, 1 << 31 - 1], type: 0, data: [])
        let header = Array(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#.utf8)
        let corpus: [(name: String, bytes: [UInt8])] = [
            ("huge-storage.pth", HostilePickle.zipCheckpoint(HostilePickle.stateDict(numel: 1 << 62, size: [1 << 62], stride: [1]), storage: storage)),
            ("huge-view.pth", HostilePickle.zipCheckpoint(HostilePickle.stateDict(numel: 1, size: [1 << 16, 1 << 16, 1 << 4], stride: [0, 0, 0]), storage: storage)),
            ("huge-entry.pth", HostileBytes.zip([("archive/data.pkl", [0x80, 2, 0x2e])], claims: ["archive/data.pkl": (8, 3, 3 << 30)])),
            ("nested.pth", [0x80, 0x02, 0x8a, 0x01, 0x00, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2e]),
            ("wrap.gguf", wrap.bytes()), ("big.gguf", big.bytes()),
            ("shape.safetensors", HostileBytes.le(UInt64(header.count)) + header + storage),
            ("deep.safetensors", HostileBytes.le(UInt64(100_000)) + Array(repeating: UInt8(ascii: "["), count: 100_000)),
        ]
        let problems = try BoundedChild.run(test: "TVPModelsTests.HostileWeightsTests/testHostileWeightsStayWithinBoundedMemory", corpus: corpus)
        XCTAssert(problems.isEmpty, problems.joined(separator: "\n"))
    }
}
