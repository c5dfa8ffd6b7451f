import Foundation
import TVPData
import TVPTestSupport
import XCTest

/// Mutation fuzzing of the data readers (see `Fuzzer`): no crash, no hang, every error names the file.
final class DataFuzzTests: XCTestCase {
    private func check(_ report: Fuzzer.Report) {
        print(report)
        XCTAssert(report.failures.isEmpty, report.failures.joined(separator: "\n"))
    }

    private func fixture(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath(name)))) }

    /// `bytes` gzip-compressed (through `Gzip.write`).
    private func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
        let folder = try makeTemporaryFolder("fuzz-seed")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Gzip.write(bytes, to: folder + "/seed.gz")
        return try fixtureBytes(folder + "/seed.gz")
    }

    private func fixtureBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func testIDX() throws {
        let idx = IDXArray(dims: [2, 3, 3], values: (0..<18).map { UInt8($0 * 13) }).encoded()
        check(try Fuzzer(reader: "idx", seeds: [idx, try gzipped(idx)]).run(fileName: "train-images-idx3-ubyte.gz") { _ = try IDXArray.read($0) })
    }

    func testNPY() throws {
        let floats = HostileData.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", (0..<24).map { UInt8($0) })
        let bytes = HostileData.npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", [1, 2, 3, 4])
        check(try Fuzzer(reader: "npy", seeds: [floats, bytes]).run(fileName: "array.npy") { path in
            let file = try NPYFile(path)
            _ = try file.floats(0..<(file.shape.first ?? 0))
        })
    }

    func testMAT() throws {
        let seeds = [try fixture("svhn/tiny_32x32.mat"), try fixture("svhn/tiny_32x32_uncompressed.mat")]
        check(try Fuzzer(reader: "mat", seeds: seeds).run(fileName: "test_32x32.mat") { path in
            for array in try MATv5.read(path).values { _ = try array.doubles(file: path) }
        })
    }

    func testPNG() throws {
        let rgb = HandPNG.png(width: 4, height: 3, colorType: 2, rows: (0..<3).map { r in (0..<12).map { UInt8($0 * 20 + r) } })
        let palette = HandPNG.png(width: 3, height: 2, bitDepth: 8, colorType: 3, rows: [[0, 1, 2], [2, 1, 0]], palette: [255, 0, 0, 0, 255, 0, 0, 0, 255])
        check(try Fuzzer(reader: "png", seeds: [rgb, palette]).run(fileName: "image.png") { _ = try ImageFile.decode($0) })
    }

    func testJPEG() throws {
        let seeds = [try fixture("jpeg/gray.jpg"), try fixture("jpeg/progressive.jpg")]
        check(try Fuzzer(reader: "jpeg", seeds: seeds).run(fileName: "photo.jpg") { _ = try ImageFile.decode($0) })
    }

    func testCSV() throws {
        let csv = Array("1,2,3\n4.5,-6,7e3\r\n\n8,9,10\n".utf8)
        check(try Fuzzer(reader: "csv", seeds: [csv, try gzipped(csv)]).run(fileName: "table.csv.gz") { path in
            _ = try NumericCSV.parse(Gzip.read(path), file: path, columns: 3)
        })
    }

    func testPythonPickle() throws {
        let seeds = [try fixture("cifar/data_batch_1"), try fixture("cifar/py3_data_batch")]
        let names = (0..<10).map { "class \($0)" }
        check(try Fuzzer(reader: "python-pickle", seeds: seeds).run(fileName: "data_batch_1") { path in
            _ = try CIFAR.loadPython([path], labels: .cifar10, classNames: names)
        })
    }
}
