import Foundation
import TVPFormats
import TVPModels
import TVPTensor
import XCTest

/// Builds GGUF v3 files byte by byte, as llama.cpp's gguf writer lays them out.
struct GGUFWriter {
    var header = ByteBuilder()
    var kvCount = 0
    var kvBytes = ByteBuilder()
    var tensors: [(name: String, ne: [UInt64], type: UInt32, data: [UInt8])] = []
    var alignment = 32

    static func string(_ b: inout ByteBuilder, _ s: String) { b.u64(UInt64(s.utf8.count)); b.raw(Array(s.utf8)) }

    mutating func kv(_ key: String, _ type: UInt32, _ value: (inout ByteBuilder) -> Void) {
        Self.string(&kvBytes, key)
        kvBytes.u32(type)
        value(&kvBytes)
        kvCount += 1
    }

    mutating func tensor(_ name: String, ne: [UInt64], type: UInt32, data: [UInt8]) { tensors.append((name, ne, type, data)) }

    func bytes(version: UInt32 = 3, misalign: Bool = false) -> [UInt8] {
        var b = ByteBuilder()
        b.raw(Array("GGUF".utf8))
        b.u32(version)
        b.u64(UInt64(tensors.count))
        b.u64(UInt64(kvCount))
        b.raw(kvBytes.bytes)
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            Self.string(&b, t.name)
            b.u32(UInt32(t.ne.count))
            for n in t.ne { b.u64(n) }
            b.u32(t.type)
            b.u64(UInt64(o + (misalign ? 4 : 0)))
        }
        b.pad(to: alignment)
        for t in tensors {
            b.raw(t.data)
            b.pad(to: alignment)
        }
        return b.bytes
    }
}

final class GGUFTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func save(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = folder.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    // Block contents with values that are easy to state (ggml-quants.c, dequantize_row_*).
    /// Q8_0, 2 blocks: d = 0.25 with q_j = 8j − 128; d = −0.5 with q_j = 127 − j.
    static func q8Blocks() -> [UInt8] {
        var b = ByteBuilder()
        b.u16(floatToHalf(0.25)); for j in 0..<32 { b.u8(UInt8(bitPattern: Int8(8 * j - 128))) }
        b.u16(floatToHalf(-0.5)); for j in 0..<32 { b.u8(UInt8(bitPattern: Int8(127 - j))) }
        return b.bytes
    }
    static let q8Expected: [Float] = {
        let first: [Float] = (0..<32).map { j in Float(8 * j - 128) * 0.25 }
        let second: [Float] = (0..<32).map { j in Float(127 - j) * -0.5 }
        return first + second
    }()

    /// Q4_0, 2 blocks: d = 0.5 then 2; byte j = j | (15 − j) << 4, so x_j = (j − 8)·d, x_{16+j} = (7 − j)·d.
    static func q40Blocks() -> [UInt8] {
        var b = ByteBuilder()
        for d: Float in [0.5, 2] {
            b.u16(floatToHalf(d))
            for j in 0..<16 { b.u8(UInt8(j | (15 - j) << 4)) }
        }
        return b.bytes
    }
    static let q40Expected: [Float] = {
        var out: [Float] = []
        for d: Float in [0.5, 2] {
            for j in 0..<16 { out.append(Float(j - 8) * d) }
            for j in 0..<16 { out.append(Float(7 - j) * d) }
        }
        return out
    }()

    /// Q4_1, 1 block: d = 0.25, m = −1; byte j = j | (j ^ 5) << 4, so x_j = j·d + m, x_{16+j} = (j ^ 5)·d + m.
    static func q41Block() -> [UInt8] {
        var b = ByteBuilder()
        b.u16(floatToHalf(0.25)); b.u16(floatToHalf(-1))
        for j in 0..<16 { b.u8(UInt8(j | (j ^ 5) << 4)) }
        return b.bytes
    }
    static let q41Expected: [Float] = {
        let low: [Float] = (0..<16).map { j in Float(j) * 0.25 - 1 }
        let high: [Float] = (0..<16).map { j in Float(j ^ 5) * 0.25 - 1 }
        return low + high
    }()

    func sampleFile(alignment: Int?) -> GGUFWriter {
        var w = GGUFWriter()
        if let alignment {
            w.alignment = alignment
            w.kv("general.alignment", 4) { $0.u32(UInt32(alignment)) }
        }
        w.kv("t.u8", 0) { $0.u8(200) }
        w.kv("t.i8", 1) { $0.u8(UInt8(bitPattern: -5)) }
        w.kv("t.u16", 2) { $0.u16(60000) }
        w.kv("t.i16", 3) { $0.u16(UInt16(bitPattern: -300)) }
        w.kv("t.u32", 4) { $0.u32(4_000_000_000) }
        w.kv("t.i32", 5) { $0.u32(UInt32(bitPattern: -70000)) }
        w.kv("t.f32", 6) { $0.f32(0.5) }
        w.kv("t.bool", 7) { $0.u8(1) }
        w.kv("general.name", 8) { GGUFWriter.string(&$0, "tiny ✓") }
        w.kv("t.u64", 10) { $0.u64(1 << 40) }
        w.kv("t.i64", 11) { $0.u64(UInt64(bitPattern: -(1 << 40))) }
        w.kv("t.f64", 12) { $0.f64(-2.25) }
        w.kv("tokenizer.ggml.tokens", 9) { b in
            b.u32(8); b.u64(3); for s in ["<s>", "Ġthe", "é"] { GGUFWriter.string(&b, s) }
        }
        w.kv("tokenizer.ggml.merges", 9) { b in b.u32(8); b.u64(1); GGUFWriter.string(&b, "Ġ t") }
        w.kv("tokenizer.ggml.token_type", 9) { b in b.u32(5); b.u64(3); for v: Int32 in [3, 1, 1] { b.u32(UInt32(bitPattern: v)) } }
        w.kv("tokenizer.ggml.scores", 9) { b in b.u32(6); b.u64(2); b.f32(-1.5); b.f32(0) }
        w.kv("tokenizer.ggml.bos_token_id", 4) { $0.u32(0) }
        w.kv("tokenizer.ggml.eos_token_id", 4) { $0.u32(2) }
        w.kv("t.nested", 9) { b in
            b.u32(9); b.u64(2)
            b.u32(0); b.u64(2); b.u8(1); b.u8(2)
            b.u32(0); b.u64(0)
        }
        w.kv("t.empty", 9) { b in b.u32(8); b.u64(0) }

        var f32 = ByteBuilder(); for v: Float in [1, -2, 3.5, 1e-20] { f32.f32(v) }
        w.tensor("vector", ne: [4], type: 0, data: f32.bytes)
        var f16 = ByteBuilder(); for v: Float in [1, -2, 0.5, 65504, 0x1p-24, -0.0] { f16.u16(floatToHalf(v)) }
        w.tensor("half", ne: [3, 2], type: 1, data: f16.bytes)
        var bf = ByteBuilder(); for bits: UInt16 in [0x3f80, 0xc040] { bf.u16(bits) }
        w.tensor("bf", ne: [2], type: 30, data: bf.bytes)
        w.tensor("token_embd.weight", ne: [32, 2], type: 8, data: Self.q8Blocks())
        w.tensor("blk.0.attn_q.weight", ne: [32, 2, 1], type: 2, data: Self.q40Blocks())
        w.tensor("blk.0.ffn_up.weight", ne: [32], type: 3, data: Self.q41Block())
        return w
    }

    func testMetadataOfEveryType() throws {
        let file = try GGUFFile(path: try save(sampleFile(alignment: nil).bytes(), "meta.gguf"))
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        let m = file.metadata
        XCTAssertEqual(m["t.u8"], .uint8(200))
        XCTAssertEqual(m["t.i8"], .int8(-5))
        XCTAssertEqual(m["t.u16"], .uint16(60000))
        XCTAssertEqual(m["t.i16"], .int16(-300))
        XCTAssertEqual(m["t.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(m["t.i32"], .int32(-70000))
        XCTAssertEqual(m["t.f32"], .float32(0.5))
        XCTAssertEqual(m["t.bool"], .bool(true))
        XCTAssertEqual(m["general.name"]?.string, "tiny ✓")
        XCTAssertEqual(m["t.u64"], .uint64(1 << 40))
        XCTAssertEqual(m["t.i64"]?.int, -(1 << 40))
        XCTAssertEqual(m["t.f64"]?.double, -2.25)
        XCTAssertEqual(m["tokenizer.ggml.tokens"]?.strings, ["<s>", "Ġthe", "é"])
        XCTAssertEqual(m["tokenizer.ggml.merges"]?.strings, ["Ġ t"])
        XCTAssertEqual(m["tokenizer.ggml.token_type"]?.ints, [3, 1, 1])
        XCTAssertEqual(m["tokenizer.ggml.scores"]?.doubles, [-1.5, 0])
        XCTAssertEqual(m["tokenizer.ggml.bos_token_id"]?.int, 0)
        XCTAssertEqual(m["tokenizer.ggml.eos_token_id"]?.int, 2)
        XCTAssertEqual(m["t.nested"], .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])]))
        XCTAssertEqual(m["t.empty"], .array(.string, []))
        XCTAssertEqual(file.metadataKeys.first, "t.u8")
        XCTAssertEqual(file.metadataKeys.count, 20)
    }

    func testTensorsDequantizeInRowMajorShape() throws {
        for alignment in [nil, 64] {
            let file = try GGUFFile(path: try save(sampleFile(alignment: alignment).bytes(), "t\(alignment ?? 0).gguf"))
            XCTAssertEqual(file.alignment, alignment ?? 32)
            XCTAssertEqual(file.dataOffset % file.alignment, 0)
            XCTAssertEqual(file.names, ["vector", "half", "bf", "token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight"])
            XCTAssertEqual(file.info("token_embd.weight")?.type, .q8_0)
            XCTAssertEqual(file.info("half")?.type.description, "F16")
            let t = try file.tensors()
            XCTAssertEqual(t["vector"]?.shape, [4])
            XCTAssertEqual(t["vector"]?.toArray(), [1, -2, 3.5, 1e-20])
            XCTAssertEqual(t["half"]?.shape, [2, 3])
            XCTAssertEqual(t["half"]?.toArray(), [1, -2, 0.5, 65504, 0x1p-24, -0.0])
            XCTAssertEqual(t["bf"]?.toArray(), [1, -3])
            // GGUF lists ne fastest first: [n_embd = 32, n_vocab = 2] is the row-major [2, 32].
            XCTAssertEqual(t["token_embd.weight"]?.shape, [2, 32])
            XCTAssertEqual(t["token_embd.weight"]?.toArray(), Self.q8Expected)
            XCTAssertEqual(t["token_embd.weight"]?[0, 0], -32)
            XCTAssertEqual(t["token_embd.weight"]?[1, 0], -63.5)
            XCTAssertEqual(t["blk.0.attn_q.weight"]?.shape, [1, 2, 32])
            XCTAssertEqual(t["blk.0.attn_q.weight"]?.toArray(), Self.q40Expected)
            XCTAssertEqual(t["blk.0.attn_q.weight"]?[0, 0, 0], -4)     // low nibble 0 of byte 0
            XCTAssertEqual(t["blk.0.attn_q.weight"]?[0, 0, 16], 3.5)   // high nibble 15 of byte 0
            XCTAssertEqual(t["blk.0.attn_q.weight"]?[0, 1, 31], -16)   // second block, d = 2, nibble 0
            XCTAssertEqual(t["blk.0.ffn_up.weight"]?.toArray(), Self.q41Expected)
            XCTAssertEqual(t["blk.0.ffn_up.weight"]?[17], 0)           // (1 ^ 5)·0.25 − 1
        }
    }

    func testUnsupportedAndMalformedFilesNameTheProblem() throws {
        var w = GGUFWriter()
        w.tensor("ok", ne: [1], type: 0, data: [0, 0, 128, 63])
        w.tensor("blk.0.ffn_down.weight", ne: [256, 1], type: 14, data: [UInt8](repeating: 0, count: 210))
        let file = try GGUFFile(path: try save(w.bytes(), "q6.gguf"))
        XCTAssertEqual(try file.tensor("ok").toArray(), [1])
        XCTAssertFalse(file.info("blk.0.ffn_down.weight")!.type.isSupported)
        assertFormatError(try file.tensor("blk.0.ffn_down.weight"), mentions: ["q6.gguf", "'blk.0.ffn_down.weight'", "Q6_K", "[1, 256]"])
        assertFormatError(try file.tensors(), mentions: ["Q6_K"])
        assertFormatError(try file.tensor("missing"), mentions: ["no tensor 'missing'"])

        var bad = sampleFile(alignment: nil).bytes()
        bad[0] = UInt8(ascii: "X")
        assertFormatError(try GGUFFile(path: try save(bad, "magic.gguf")), mentions: ["magic.gguf", "not a GGUF file"])
        assertFormatError(try GGUFFile(path: try save(sampleFile(alignment: nil).bytes(version: 1), "v1.gguf")), mentions: ["version 1"])
        let full = sampleFile(alignment: nil).bytes()
        assertFormatError(try GGUFFile(path: try save(Array(full.prefix(300)), "short.gguf")), mentions: ["short.gguf", "truncated"])
        assertFormatError(try GGUFFile(path: try save(Array(full.dropLast(40)), "cut.gguf")), mentions: ["cut.gguf", "'blk.0.ffn_up.weight'", "beyond the end"])
        assertFormatError(try GGUFFile(path: try save(sampleFile(alignment: nil).bytes(misalign: true), "mis.gguf")), mentions: ["offset 4", "alignment 32"])

        var odd = GGUFWriter()
        odd.tensor("w", ne: [16], type: 8, data: [UInt8](repeating: 0, count: 34))
        assertFormatError(try GGUFFile(path: try save(odd.bytes(), "odd.gguf")), mentions: ["'w'", "Q8_0", "row length 16", "block size 32"])
        var bool = GGUFWriter()
        bool.kv("b", 7) { $0.u8(2) }
        assertFormatError(try GGUFFile(path: try save(bool.bytes(), "bool.gguf")), mentions: ["'b'", "bool byte 2"])
        var type = GGUFWriter()
        type.kv("k", 13) { $0.u8(0) }
        assertFormatError(try GGUFFile(path: try save(type.bytes(), "type.gguf")), mentions: ["'k'", "unknown value type 13"])
    }
}
