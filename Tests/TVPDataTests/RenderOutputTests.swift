import Foundation
import TVPData
import XCTest

/// The `CLEVRRenderer.render` entry point: determinism, loaders reading its output, resume, POPE.
final class RenderOutputTests: XCTestCase {
    var folders: [String] = []

    override func tearDown() {
        for folder in folders { try? FileManager.default.removeItem(atPath: folder) }
    }

    func folder() throws -> String {
        let path = try makeTemporaryFolder("render")
        folders.append(path)
        return path
    }

    /// Every file under `root` (relative path → bytes).
    func files(_ root: String) throws -> [String: [UInt8]] {
        let paths = try XCTUnwrap(FileManager.default.subpathsOfDirectory(atPath: root))
        var out: [String: [UInt8]] = [:]
        for path in paths {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory)
            if !isDirectory.boolValue { out[path] = readFile("\(root)/\(path)") }
        }
        return out
    }

    func testSameSeedSameBytesAndLoadersReadTheSplit() throws {
        let (a, b, c) = (try folder(), try folder(), try folder())
        var steps: [Int] = []
        try CLEVRRenderer.render(root: a, split: "val", count: 3, size: 32, seed: 7) { done, total in
            XCTAssertEqual(total, 3)
            steps.append(done)
        }
        XCTAssertEqual(steps, [1, 2, 3])
        try CLEVRRenderer.render(root: b, split: "val", count: 3, size: 32, seed: 7)
        try CLEVRRenderer.render(root: c, split: "val", count: 3, size: 32, seed: 8)
        let (filesA, filesB, filesC) = (try files(a), try files(b), try files(c))
        XCTAssertEqual(Set(filesA.keys), [
            "images/val/CLEVR_val_000000.png", "images/val/CLEVR_val_000001.png", "images/val/CLEVR_val_000002.png",
            "scenes/CLEVR_val_scenes.json", "questions/CLEVR_val_questions.json", "render_val.json",
            "pope/CLEVR_val_pope_random.json", "pope/CLEVR_val_pope_popular.json", "pope/CLEVR_val_pope_adversarial.json",
        ])
        XCTAssertEqual(filesA, filesB, "same seed, same bytes")
        for name in filesA.keys where name.hasSuffix(".png") { XCTAssertNotEqual(filesA[name], filesC[name], "\(name) with another seed") }

        // The real CLEVR loader reads the split unchanged; answers are the scenes' object counts.
        let counting = try CLEVR.counting(root: a, split: "val", size: ImageSize(height: 16, width: 16))
        XCTAssertEqual(counting.count, 3)
        let counts = try (0..<3).map { try CLEVRRenderer.scene(seed: 7, split: "val", index: $0).objects.count }
        XCTAssertEqual(counting.samples.map { counting.candidates[$0.answer] }, counts.map(String.init))
        let (images, _) = try counting.load([0, 1, 2])
        XCTAssertEqual(images.shape, [3, 3, 16, 16])
        let full = try PNGCodec.read(counting.samples[0].image)
        XCTAssertEqual(full.shape, [3, 32, 32])

        // The counting questions file agrees.
        let questions = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(filesA["questions/CLEVR_val_questions.json"]!))
            as? [String: Any])["questions"] as? [[String: Any]]
        XCTAssertEqual(questions?.map { $0["answer"] as? String }, counts.map(String.init))
        XCTAssertEqual(questions?.first?["question"] as? String, CLEVR.countingQuestion)

        // The real POPE loader reads every setting; labels are balanced.
        for setting in POPE.settings {
            let set = try POPE.load(annotations: CLEVRLayout.popePath(root: a, split: "val", setting: setting),
                                    imageDirectory: CLEVRLayout.imageDirectory(root: a, split: "val"))
            XCTAssertGreaterThanOrEqual(set.count, 6 * 2, setting)
            XCTAssertEqual(set.samples.filter { $0.answer == 1 }.count * 2, set.count, setting)
            XCTAssertTrue(set.samples[0].question.hasPrefix("Is there a "), set.samples[0].question)
        }
    }

    func testRenderSkipsWhenCompleteResumesAndRefusesOtherParameters() throws {
        let root = try folder()
        let first = try CLEVRRenderer.render(root: root, split: "train", count: 2, size: 24, seed: 1)
        XCTAssertEqual(first, CLEVRRenderer.Summary(rendered: 2, reused: 0, alreadyComplete: false))
        let before = try files(root)
        XCTAssertEqual(try CLEVRRenderer.render(root: root, split: "train", count: 2, size: 24, seed: 1),
                       CLEVRRenderer.Summary(rendered: 0, reused: 0, alreadyComplete: true))
        assertThrows(try CLEVRRenderer.render(root: root, split: "train", count: 2, size: 32, seed: 1),
                     containing: ["render_train.json", "other parameters", "\"size\":32"])

        // An interrupted run: the parameters are recorded, image 1 was never written, no marker yet.
        let marker = CLEVRRenderer.completionMarker(root: root, split: "train")
        try FileManager.default.moveItem(atPath: marker, toPath: "\(root)/render_train.partial.json")
        try FileManager.default.removeItem(atPath: "\(root)/images/train/CLEVR_train_000001.png")
        try FileManager.default.removeItem(atPath: "\(root)/scenes/CLEVR_train_scenes.json")
        let resumed = try CLEVRRenderer.render(root: root, split: "train", count: 2, size: 24, seed: 1)
        XCTAssertEqual(resumed, CLEVRRenderer.Summary(rendered: 1, reused: 1, alreadyComplete: false))
        XCTAssertEqual(try files(root), before, "the resumed split equals the uninterrupted one")

        assertThrows(try CLEVRRenderer.render(root: root, split: "a/b", count: 1), containing: ["split \"a/b\""])
        assertThrows(try CLEVRRenderer.render(root: root, split: "x", count: 0), containing: ["count 0"])
    }

    func testPOPEQuestionsAreBalancedAndTrueToTheScenes() throws {
        let scenes = try (0..<6).map { try CLEVRRenderer.scene(seed: 3, split: "pope", index: $0) }
        let names = (0..<6).map { CLEVRLayout.imageFilename(split: "pope", index: $0) }
        // Independent tallies for the popular and adversarial rankings.
        let present = scenes.map { Set($0.objects.map(\.category)) }
        func frequency(_ c: String) -> Int { present.filter { $0.contains(c) }.count }
        func cooccurrence(_ c: String, with set: Set<String>) -> Int {
            set.reduce(0) { sum, p in sum + present.filter { $0.contains(p) && $0.contains(c) }.count }
        }
        var negativesBySetting: [String: [String]] = [:]
        for setting in POPE.settings {
            let questions = try CLEVRPOPE.questions(scenes: scenes, imageNames: names, setting: setting, seed: 9)
            XCTAssertEqual(questions.map(\.questionID), Array(1...questions.count))
            for (i, name) in names.enumerated() {
                let mine = questions.filter { $0.image == name }
                let k = min(3, present[i].count)
                XCTAssertEqual(mine.map(\.label), Array(repeating: ["yes", "no"], count: k).flatMap { $0 }, "\(setting) image \(i)")
                let absent = Set(CLEVRPOPE.categories).subtracting(present[i])
                for q in mine {
                    XCTAssertEqual(q.text, "Is there a \(q.category) in the image?")
                    XCTAssertEqual(present[i].contains(q.category), q.label == "yes", "\(setting): \(q.text) on image \(i)")
                }
                let negatives = mine.filter { $0.label == "no" }.map(\.category)
                XCTAssertEqual(Set(negatives).count, negatives.count)
                let others = absent.subtracting(negatives)
                if setting == "popular" {
                    XCTAssertGreaterThanOrEqual(negatives.map(frequency).min()!, others.map(frequency).max()!)
                }
                if setting == "adversarial" {
                    let score = { cooccurrence($0, with: present[i]) }
                    XCTAssertGreaterThanOrEqual(negatives.map(score).min()!, others.map(score).max()!)
                }
                negativesBySetting[setting, default: []] += negatives
            }
        }
        XCTAssertNotEqual(negativesBySetting["random"], negativesBySetting["popular"])
        let lines = CLEVRPOPE.jsonLines(try CLEVRPOPE.questions(scenes: scenes, imageNames: names, setting: "random", seed: 9))
        XCTAssertTrue(lines.hasPrefix(#"{"question_id":1,"image":"CLEVR_pope_000000.png","text":"Is there a "#), lines)
        XCTAssertNotEqual(lines, CLEVRPOPE.jsonLines(try CLEVRPOPE.questions(scenes: scenes, imageNames: names, setting: "random", seed: 10)))
        assertThrows(try CLEVRPOPE.questions(scenes: scenes, imageNames: names, setting: "hard", seed: 0), containing: ["\"hard\""])
    }
}
