import Foundation
import TVPData
import TVPTensor
import XCTest

final class ImageSetTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws { dir = try makeTemporaryFolder("sets") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A solid-colour PNG (hand-built bytes) of the given size.
    func solidPNG(_ path: String, _ rgb: [UInt8], height: Int = 2, width: Int = 3) throws {
        let row = (0..<width).flatMap { _ in rgb }
        try writeBytes(HandPNG.png(width: width, height: height, colorType: 2, rows: Array(repeating: row, count: height)), path)
    }

    /// A solid-colour JPEG (through the codec under test; solid colours survive JPEG within a level).
    func solidJPEG(_ path: String, _ rgb: [UInt8], height: Int = 2, width: Int = 3) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let pixels = (0..<(height * width)).flatMap { _ in rgb }
        try JPEGCodec.write(try RGB8Image(width: width, height: height, pixels: pixels), to: path, quality: 100)
    }

    func firstPixel(_ images: Tensor, _ n: Int) -> [Int] { (0..<3).map { Int((images[n, $0, 0, 0] * 255).rounded()) } }

    func testImageFolderClassesSortedAndLoadedLazily() throws {
        try solidPNG(dir + "/root/zebra/b.png", [255, 0, 0])
        try solidPNG(dir + "/root/zebra/a.PNG", [0, 255, 0])
        try solidJPEG(dir + "/root/apple/x.jpg", [0, 0, 255])
        try writeText("not an image", dir + "/root/apple/notes.txt")
        try writeText("", dir + "/root/.hidden/skip.png")
        let set = try ImageFolder.scan(dir + "/root")
        XCTAssertEqual(set.classNames, ["apple", "zebra"])
        XCTAssertEqual(set.files.paths.map { ($0 as NSString).lastPathComponent }, ["x.jpg", "a.PNG", "b.png"])
        XCTAssertEqual(set.labels, [0, 1, 1])
        let (images, labels) = try set.load([2, 0])
        XCTAssertEqual(images.shape, [2, 3, 2, 3])
        XCTAssertEqual(labels, [1, 0])
        XCTAssertEqual(firstPixel(images, 0), [255, 0, 0])
        for (a, b) in zip(firstPixel(images, 1), [0, 0, 255]) { XCTAssertEqual(a, b, accuracy: 2) }
        let all = try set.materialized()
        XCTAssertEqual(all.images.shape, [3, 3, 2, 3])
        XCTAssertEqual(all.labels, [0, 1, 1])
        assertThrows(try ImageFolder.scan(dir + "/nowhere"), containing: ["nowhere", "no such folder"])
        try FileManager.default.createDirectory(atPath: dir + "/root/empty", withIntermediateDirectories: true)
        assertThrows(try ImageFolder.scan(dir + "/root"), containing: ["empty", "holds no .png/.jpg/.jpeg images"])
    }

    func testImageNetteNamesWordNetFolders() throws {
        try solidJPEG(dir + "/val/n01440764/ILSVRC2012_val_00009111.JPEG", [10, 20, 30])
        try solidJPEG(dir + "/val/n03888605/n03888605_1.JPEG", [40, 50, 60])
        let set = try ImageNette.scan(dir + "/val")
        XCTAssertEqual(set.classNames, ["tench", "parachute"])
        XCTAssertEqual(set.labels, [0, 1])
    }

    func testMixedSizesNeedATargetSize() throws {
        try solidPNG(dir + "/a.png", [200, 100, 50], height: 4, width: 6)
        try solidPNG(dir + "/b.png", [10, 20, 30], height: 2, width: 2)
        let plain = ImageFiles(paths: [dir + "/a.png", dir + "/b.png"])
        XCTAssertEqual(try plain.load([1]).shape, [1, 3, 2, 2])
        assertThrows(try plain.load([0, 1]), containing: ["b.png", "2×2", "a.png", "4×6", "pass a size"])
        assertThrows(try plain.load([2]), containing: ["index 2", "0..<2"])
        let resized = ImageFiles(paths: plain.paths, size: ImageSize(height: 3, width: 3))
        let batch = try resized.load([0, 1])
        XCTAssertEqual(batch.shape, [2, 3, 3, 3])
        // A solid colour stays that colour after resizing.
        for n in 0..<2 { for c in 0..<3 { for y in 0..<3 { for x in 0..<3 {
            XCTAssertEqual(batch[n, c, y, x], [[200, 100, 50], [10, 20, 30]][n][c] / 255, accuracy: 1e-5)
        } } } }
    }

    func testCLEVRCounting() throws {
        let root = dir + "/CLEVR_v1.0"
        let counts = [3, 5, 3, 10]
        var scenes: [String] = []
        for (i, n) in counts.enumerated() {
            let name = String(format: "CLEVR_val_%06d.png", i)
            try solidPNG("\(root)/images/val/\(name)", [UInt8(i * 60), 0, 0])
            let objects = (0..<n).map { _ in #"{"color": "red", "shape": "cube", "3d_coords": [1.0, 2.0, 0.35]}"# }
            scenes.append(#"{"split": "val", "image_index": \#(i), "image_filename": "\#(name)", "objects": [\#(objects.joined(separator: ", "))], "relationships": {"left": []}}"#)
        }
        try writeText(#"{"info": {"split": "val", "version": "1.0"}, "scenes": [\#(scenes.joined(separator: ",\n"))]}"#,
                      "\(root)/scenes/CLEVR_val_scenes.json")
        let set = try CLEVR.counting(root: root, split: "val")
        XCTAssertEqual(set.candidates, ["3", "5", "10"])
        XCTAssertEqual(set.samples.map(\.answer), [0, 1, 0, 2])
        XCTAssertEqual(set.samples[0].question, "How many objects are there in this image? Answer with a single number.")
        XCTAssertEqual((set.samples[3].image as NSString).lastPathComponent, "CLEVR_val_000003.png")
        let (images, samples) = try set.load([3, 1])
        XCTAssertEqual(images.shape, [2, 3, 2, 3])
        XCTAssertEqual(firstPixel(images, 0), [180, 0, 0])
        XCTAssertEqual(samples.map(\.answer), [2, 1])
        // Candidates come from the whole split even when fewer scenes are kept.
        XCTAssertEqual(try CLEVR.counting(root: root, split: "val", limit: 1).candidates, ["3", "5", "10"])
        try FileManager.default.removeItem(atPath: "\(root)/images/val/CLEVR_val_000002.png")
        assertThrows(try CLEVR.counting(root: root, split: "val"), containing: ["CLEVR_val_scenes.json", "scenes[2]", "CLEVR_val_000002.png", "does not exist"])
        try writeText(#"{"scenes": [{"image_filename": "x.png"}]}"#, "\(root)/scenes/CLEVR_train_scenes.json")
        assertThrows(try CLEVR.counting(root: root, split: "train"), containing: ["CLEVR_train_scenes.json", "[0]", "objects"])
    }

    func testHatefulMemes() throws {
        let root = dir + "/data"
        try solidPNG(root + "/img/42953.png", [1, 2, 3])
        try solidPNG(root + "/img/23058.png", [4, 5, 6])
        try writeText("""
            {"id":42953,"img":"img/42953.png","label":0,"text":"its their character not their color that matters"}
            {"id":23058,"img":"img/23058.png","label":1,"text":"don't be afraid to love again"}

            """, root + "/train.jsonl")
        let set = try HatefulMemes.load(root: root, split: "train")
        XCTAssertEqual(set.candidates, ["no", "yes"])
        XCTAssertEqual(set.samples.map(\.answer), [0, 1])
        XCTAssertEqual(set.samples[1].question, #"This is an image with: "don't be afraid to love again" written on it. Is it hateful?"#)
        XCTAssertEqual(firstPixel(try set.load([1]).images, 0), [4, 5, 6])
        try writeText(#"{"id":1,"img":"img/42953.png","text":"no label"}"#, root + "/test_unseen.jsonl")
        assertThrows(try HatefulMemes.load(root: root, split: "test_unseen"), containing: ["test_unseen.jsonl:1", "no \"label\""])
        try writeText("{\"id\":1,\"img\":\"img/42953.png\",\"label\":0,\"text\":\"a\"}\n{broken\n", root + "/dev_seen.jsonl")
        assertThrows(try HatefulMemes.load(root: root, split: "dev_seen"), containing: ["dev_seen.jsonl:2", "not a JSON object"])
        try writeText(#"{"id":1,"img":"img/99999.png","label":0,"text":"a"}"#, root + "/dev_unseen.jsonl")
        assertThrows(try HatefulMemes.load(root: root, split: "dev_unseen"), containing: ["dev_unseen.jsonl:1", "99999.png", "does not exist"])
    }

    func testPOPE() throws {
        let images = dir + "/val2014"
        try solidJPEG(images + "/COCO_val2014_000000310196.jpg", [250, 250, 250])
        try solidJPEG(images + "/COCO_val2014_000000210789.jpg", [0, 0, 0])
        let annotations = dir + "/" + POPE.annotationFile(setting: "adversarial")
        try writeText("""
            {"question_id": 1, "image": "COCO_val2014_000000310196.jpg", "text": "Is there a snowboard in the image?", "label": "yes"}
            {"question_id": 2, "image": "COCO_val2014_000000310196.jpg", "text": "Is there a dining table in the image?", "label": "no"}
            {"question_id": 3, "image": "COCO_val2014_000000210789.jpg", "text": "Is there a person in the image?", "label": "yes"}
            """, annotations)
        XCTAssertEqual((annotations as NSString).lastPathComponent, "coco_pope_adversarial.json")
        let set = try POPE.load(annotations: annotations, imageDirectory: images, size: ImageSize(height: 4, width: 4))
        XCTAssertEqual(set.count, 3)
        XCTAssertEqual(set.samples.map(\.answer), [1, 0, 1])
        XCTAssertEqual(set.samples[1].question, "Is there a dining table in the image?")
        let (batch, _) = try set.load([0, 2])
        XCTAssertEqual(batch.shape, [2, 3, 4, 4])
        for (a, b) in zip(firstPixel(batch, 0), [250, 250, 250]) { XCTAssertEqual(a, b, accuracy: 2) }
        XCTAssertEqual(try POPE.load(annotations: annotations, imageDirectory: images, limit: 2).count, 2)
        try writeText(#"{"question_id": 1, "image": "COCO_val2014_000000310196.jpg", "text": "Is there a cat in the image?", "label": "maybe"}"#, dir + "/bad.json")
        assertThrows(try POPE.load(annotations: dir + "/bad.json", imageDirectory: images), containing: ["bad.json:1", "\"maybe\""])
        try writeText(#"{"question_id": 1, "text": "Is there a cat in the image?", "label": "no"}"#, dir + "/noimage.json")
        assertThrows(try POPE.load(annotations: dir + "/noimage.json", imageDirectory: images), containing: ["noimage.json:1", "missing \"image\""])
        assertThrows(try MultipleChoiceSet(samples: [VQASample(image: "x.png", question: "q", answer: 2)], candidates: ["no", "yes"]),
                     containing: ["x.png", "answer index 2"])
    }
}

final class LabeledImageBatchesTests: XCTestCase {
    func testInMemoryAndFileSetsServeBatchesAlike() throws {
        let images = try Tensor((0..<(3 * 3 * 1 * 2)).map(Float.init), shape: [3, 3, 1, 2])
        let memory: LabeledImageBatches = try ImageClassificationSet(images: images, labels: [2, 0, 1], classNames: ["a", "b", "c"])
        let (batch, labels) = try memory.load([2, 0, 2])
        XCTAssertEqual(batch.shape, [3, 3, 1, 2])
        XCTAssertEqual(labels, [1, 2, 1])
        XCTAssertEqual(item(batch, 0), item(images, 2))
        XCTAssertEqual(item(batch, 1), item(images, 0))
        assertThrows(try memory.load([3]), containing: ["index 3", "0..<3"])
    }
}
