import Foundation
import TVPData
import TVPFormats
import TVPTestSupport
import XCTest

final class CIFARTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws { dir = try makeTemporaryFolder("cifar") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// The pixel formula of scripts/fixtures/cifar_pickle.py: data[i, j] = (i·97 + j·31) mod 256.
    func expectedPixel(_ i: Int, _ j: Int) -> Float { Float((i * 97 + j * 31) % 256) / 255 }

    func checkPixels(_ set: ImageClassificationSet, count: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(set.images.shape, [count, 3, 32, 32], file: file, line: line)
        for i in 0..<count {
            let values = item(set.images, i)
            XCTAssertEqual(values, (0..<3072).map { expectedPixel(i, $0) }, "image \(i)", file: file, line: line)
        }
    }

    func testCIFAR10BinaryBatchesWrittenHere() throws {
        // Records: 1 label byte + 3072 bytes (R plane, G plane, B plane); two files read in order.
        func record(_ label: UInt8, _ i: Int) -> [UInt8] { [label] + (0..<3072).map { UInt8((i * 97 + $0 * 31) % 256) } }
        try writeBytes(record(6, 0) + record(9, 1), dir + "/data_batch_1.bin")
        try writeBytes(record(2, 2), dir + "/data_batch_2.bin")
        try writeText("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n", dir + "/batches.meta.txt")
        let names = try CIFAR.readNameList(dir + "/batches.meta.txt")
        XCTAssertEqual(names, CIFAR.cifar10Classes)
        let set = try CIFAR.loadBinary([dir + "/data_batch_1.bin", dir + "/data_batch_2.bin"], labels: .cifar10, classNames: names)
        XCTAssertEqual(set.labels, [6, 9, 2])
        checkPixels(set, count: 3)
        // Channel planes: pixel (y, x) of channel c is byte c·1024 + y·32 + x.
        XCTAssertEqual(set.images[1, 2, 3, 4], expectedPixel(1, 2 * 1024 + 3 * 32 + 4))
        XCTAssertEqual(try CIFAR.loadBinary([dir + "/data_batch_1.bin", dir + "/data_batch_2.bin"], labels: .cifar10,
                                            classNames: names, limit: 2).labels, [6, 9])
    }

    func testCIFAR100BinaryHasCoarseThenFineLabel() throws {
        let pixels = (0..<3072).map { UInt8((0 * 97 + $0 * 31) % 256) }
        try writeBytes([13, 77] + pixels, dir + "/train.bin")
        let fine = try CIFAR.loadBinary([dir + "/train.bin"], labels: .cifar100Fine, classNames: (0..<100).map { "f\($0)" })
        let coarse = try CIFAR.loadBinary([dir + "/train.bin"], labels: .cifar100Coarse, classNames: (0..<20).map { "c\($0)" })
        XCTAssertEqual(fine.labels, [77])
        XCTAssertEqual(coarse.labels, [13])
        checkPixels(fine, count: 1)
    }

    func testBadBinaryBatches() throws {
        try writeBytes([UInt8](repeating: 1, count: 3073 + 100), dir + "/cut.bin")
        assertThrows(try CIFAR.loadBinary([dir + "/cut.bin"], labels: .cifar10, classNames: CIFAR.cifar10Classes),
                     containing: ["cut.bin", "3173 bytes", "3073-byte records"])
        try writeBytes([10] + [UInt8](repeating: 0, count: 3072), dir + "/label.bin")
        assertThrows(try CIFAR.loadBinary([dir + "/label.bin"], labels: .cifar10, classNames: CIFAR.cifar10Classes),
                     containing: ["label.bin", "label 10", "10 classes"])
    }

    func testPython2PickledCIFAR10Batch() throws {
        // Written like the real cifar-10-batches-py files (Python 2 str payloads, numpy.core.multiarray).
        let names = try CIFAR.readPythonMeta(fixturePath("cifar/batches.meta"), labels: .cifar10)
        XCTAssertEqual(names, CIFAR.cifar10Classes)
        let set = try CIFAR.loadPython([fixturePath("cifar/data_batch_1")], labels: .cifar10, classNames: names)
        XCTAssertEqual(set.labels, [3, 0, 9])
        checkPixels(set, count: 3)
        let limited = try CIFAR.loadPython([fixturePath("cifar/data_batch_1"), fixturePath("cifar/data_batch_1")], labels: .cifar10,
                                           classNames: names, limit: 4)
        XCTAssertEqual(limited.labels, [3, 0, 9, 3])
    }

    func testPython2PickledCIFAR100TrainAndMeta() throws {
        let fineNames = try CIFAR.readPythonMeta(fixturePath("cifar/meta"), labels: .cifar100Fine)
        let coarseNames = try CIFAR.readPythonMeta(fixturePath("cifar/meta"), labels: .cifar100Coarse)
        XCTAssertEqual(fineNames.count, 100)
        XCTAssertEqual(coarseNames.last, "coarse19")
        let fine = try CIFAR.loadPython([fixturePath("cifar/train")], labels: .cifar100Fine, classNames: fineNames)
        XCTAssertEqual(fine.labels, [99, 42])
        checkPixels(fine, count: 2)
        XCTAssertEqual(try CIFAR.loadPython([fixturePath("cifar/train")], labels: .cifar100Coarse, classNames: coarseNames).labels, [19, 7])
        assertThrows(try CIFAR.loadPython([fixturePath("cifar/train")], labels: .cifar10, classNames: CIFAR.cifar10Classes),
                     containing: ["train", "no 'labels' list", "fine_labels"])
    }

    func testPython3Protocol2PickleWithCodecsEncodedBytes() throws {
        // Python 3 writes bytes under protocol 2 as _codecs.encode(str, "latin1").
        let set = try CIFAR.loadPython([fixturePath("cifar/py3_data_batch")], labels: .cifar10, classNames: CIFAR.cifar10Classes)
        XCTAssertEqual(set.labels, [1, 2])
        checkPixels(set, count: 2)
    }

    func testBadPickles() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixturePath("cifar/data_batch_1"))))
        try writeBytes(Array(bytes.prefix(5000)), dir + "/cut")
        assertThrows(try CIFAR.loadPython([dir + "/cut"], labels: .cifar10, classNames: CIFAR.cifar10Classes),
                     containing: ["cut", "truncated"])
        try writeBytes([0x80, 0x02, 0x5D, 0x2E], dir + "/list")   // a pickled empty list
        assertThrows(try CIFAR.loadPython([dir + "/list"], labels: .cifar10, classNames: CIFAR.cifar10Classes),
                     containing: ["list", "expected a pickled dict, found list"])
        // The string-to-bytes rewrite leaves binary payloads alone: an opcode-like byte inside a
        // BINSTRING is not touched.
        var pickle: [UInt8] = [0x80, 0x02, 0x55, 0x03, 0x54, 0x55, 0xFF, 0x2E]   // SHORT_BINSTRING "T U \xff", STOP
        let value = try PythonPickle.load(pickle, file: "p")
        guard case .bytes(let b) = value else { return XCTFail("expected bytes, got \(value.typeName)") }
        XCTAssertEqual(b, [0x54, 0x55, 0xFF])
        pickle = [0x80, 0x02, 0xEE, 0x2E]
        assertThrows(try PythonPickle.load(pickle, file: "p"), containing: ["p", "offset 2", "unknown pickle opcode 0xee"])
    }

    func testRealCIFAR10PythonBatch() throws {
        let path = try realAsset("cifar10", "cifar-10-batches-py/test_batch")
        let names = try CIFAR.readPythonMeta(try realAsset("cifar10", "cifar-10-batches-py/batches.meta"), labels: .cifar10)
        XCTAssertEqual(names, CIFAR.cifar10Classes)
        let set = try CIFAR.loadPython([path], labels: .cifar10, classNames: names)
        XCTAssertEqual(set.images.shape, [10000, 3, 32, 32])
        XCTAssertEqual((0..<10).map { d in set.labels.filter { $0 == d }.count }, [Int](repeating: 1000, count: 10))
        XCTAssertEqual(Array(set.labels.prefix(5)), [3, 8, 8, 0, 6])   // cat, ship, ship, airplane, frog
    }
}
