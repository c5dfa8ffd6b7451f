import Foundation
import TVPFormats
import TVPModels
import TVPTensor
import XCTest

final class SafetensorsTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Writes a file with a given header text and data bytes (padding the header like the reference).
    func handMade(_ name: String, header: String, data: [UInt8], pad: Bool = true) throws -> String {
        var h = Array(header.utf8)
        if pad { h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8) }
        var b = ByteBuilder()
        b.u64(UInt64(h.count))
        b.raw(h)
        b.raw(data)
        let p = path(name)
        try Data(b.bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func testRoundTripKeepsValuesShapesAndMetadata() throws {
        let a = try Tensor([1, -2.5, 3, 0.125, 1e-30, -0], shape: [2, 3])
        let scalar = Tensor(scalar: 42)
        let empty = Tensor(zeros: [0, 4])
        let p = path("w.safetensors")
        try Safetensors.write(["b.weight": a, "a.scalar": scalar, "c.empty": empty], metadata: ["format": "pt", "note": "a \"quoted\"\nline"], to: p)

        let file = try SafetensorsFile(path: p)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "a \"quoted\"\nline"])
        XCTAssertEqual(file.names, ["a.scalar", "b.weight", "c.empty"])
        XCTAssertEqual(file.entries["b.weight"], SafetensorsEntry(name: "b.weight", dtype: "F32", shape: [2, 3], dataOffsets: 4..<28))
        let back = try Safetensors.read(p)
        XCTAssertEqual(back["b.weight"]?.shape, [2, 3])
        XCTAssertEqual(back["b.weight"]?.toArray().map(\.bitPattern), a.toArray().map(\.bitPattern))
        XCTAssertEqual(back["a.scalar"]?.shape, [])
        XCTAssertEqual(back["a.scalar"]?.item, 42)
        XCTAssertEqual(back["c.empty"]?.shape, [0, 4])
        // No temporary file is left beside the result.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["w.safetensors"])
    }

    func testWrittenBytesFollowTheReferenceLayout() throws {
        let p = path("layout.safetensors")
        try Safetensors.write(["z": try Tensor([1, 2], shape: [2]), "a": Tensor(scalar: -1)], metadata: ["k": "v"], to: p)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0, "data must start 8-byte aligned")
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        let expected = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces), expected)
        XCTAssertTrue(header.hasPrefix(expected) && header.dropFirst(expected.count).allSatisfy { $0 == " " })
        XCTAssertEqual(bytes.count, 8 + n + 12)
        XCTAssertEqual(Array(bytes[(8 + n)...]), [0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40])
    }

    func testWriteReplacesAnExistingFileAtomically() throws {
        let p = path("x.safetensors")
        try Safetensors.write(["t": Tensor(scalar: 1)], to: p)
        try Safetensors.write(["t": Tensor(scalar: 2)], to: p)
        XCTAssertEqual(try Safetensors.read(p)["t"]?.item, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["x.safetensors"])
        assertFormatError(try Safetensors.write(["t": Tensor(scalar: 1)], to: folder.appendingPathComponent("missing/x.safetensors").path),
                          mentions: ["missing/x.safetensors", "temporary"])
    }

    func testReadsF16AndBF16AsFloat32() throws {
        var data = ByteBuilder()
        for v: Float in [1, -0.5, 65504, 0x1p-24] { data.u16(floatToHalf(v)) }
        for bits: UInt16 in [0x3f80, 0xc040] { data.u16(bits) }
        let p = try handMade("h.safetensors", header: #"{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}"#, data: data.bytes)
        let t = try Safetensors.read(p)
        XCTAssertEqual(t["h"]?.shape, [2, 2])
        XCTAssertEqual(t["h"]?.toArray(), [1, -0.5, 65504, 0x1p-24])
        XCTAssertEqual(t["b"]?.toArray(), [1, -3])
    }

    func testOtherDtypesAreAClearError() throws {
        let p = try handMade("i.safetensors", header: #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        let file = try SafetensorsFile(path: p)
        XCTAssertEqual(file.entries["ids"]?.dtype, "I64")
        assertFormatError(try file.tensor("ids"), mentions: ["i.safetensors", "'ids'", "I64", "[1]"])
        assertFormatError(try file.tensor("nope"), mentions: ["no tensor 'nope'"])
        let q = try handMade("u.safetensors", header: #"{"x":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}"#, data: [0])
        assertFormatError(try SafetensorsFile(path: q), mentions: ["'x'", "unknown dtype \"F4\""])
    }

    func testMalformedFilesNameTheProblem() throws {
        let four = [UInt8](repeating: 0, count: 4)
        // Too short for the length prefix.
        let tiny = path("tiny.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: tiny))
        assertFormatError(try SafetensorsFile(path: tiny), mentions: ["tiny.safetensors", "truncated"])
        // Header length beyond the file.
        var b = ByteBuilder()
        b.u64(1000)
        b.raw(Array("{}".utf8))
        let long = path("long.safetensors")
        try Data(b.bytes).write(to: URL(fileURLWithPath: long))
        assertFormatError(try SafetensorsFile(path: long), mentions: ["long.safetensors", "header length 1000", "beyond the end"])
        // Bad JSON.
        let bad = try handMade("bad.safetensors", header: #"{"x": {"dtype": "F32",,}"#, data: four)
        assertFormatError(try SafetensorsFile(path: bad), mentions: ["bad.safetensors", "not valid JSON"])
        // Offsets out of range (a truncated data section).
        let cut = try handMade("cut.safetensors", header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, data: four)
        assertFormatError(try SafetensorsFile(path: cut), mentions: ["cut.safetensors", "'w'", "F32 [2, 2]", "[0, 16]", "out of range"])
        // Byte count disagreeing with the shape.
        let size = try handMade("size.safetensors", header: #"{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#, data: four)
        assertFormatError(try SafetensorsFile(path: size), mentions: ["'w'", "F16 [3]", "hold 4 bytes", "needs 6"])
        // Overlapping tensors.
        let overlap = try handMade("overlap.safetensors", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: four + four)
        assertFormatError(try SafetensorsFile(path: overlap), mentions: ["'a'", "'b'", "overlap"])
        // Fields of the wrong kind.
        let shape = try handMade("shape.safetensors", header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: four)
        assertFormatError(try SafetensorsFile(path: shape), mentions: ["'a'", "shape"])
        let meta = try handMade("meta.safetensors", header: #"{"__metadata__":{"n":1}}"#, data: [])
        assertFormatError(try SafetensorsFile(path: meta), mentions: ["__metadata__", "'n'"])
        assertFormatError(try SafetensorsFile(path: path("absent.safetensors")), mentions: ["absent.safetensors", "cannot open"])
    }
}
