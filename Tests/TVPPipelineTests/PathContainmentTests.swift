import Foundation
import TVPData
import TVPPipeline
import XCTest

/// Manifest members and archive entries cannot leave their folder.
final class PathContainmentTests: XCTestCase {
    func testManifestMembersThatLeaveTheArchiveAreRefused() throws {
        for member in ["../../etc/passwd", "/etc/passwd", "CLEVR_v1.0/../../x", "./CLEVR_v1.0/x"] {
            let manifest = try QuestionSplitTests.toyCLEVR(try makeRoot())
                .replacingOccurrences(of: "toy-clevr.tar.gz!CLEVR_v1.0/scenes/CLEVR_val_scenes.json", with: "toy-clevr.tar.gz!" + member)
            let path = NSTemporaryDirectory() + "tvp-manifest-\(UUID().uuidString).manifest"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try ("version: 1\nassets:\n" + manifest).write(toFile: path, atomically: true, encoding: .utf8)
            let error = yamlError({ try Manifest.load(path: path) }).map { "\($0)" } ?? ""
            XCTAssertTrue(error.contains("member '\(member)' of 'toy-clevr.tar.gz!\(member)' must be a relative path inside the archive"), error)
            XCTAssertTrue(error.hasPrefix(path + ":"), "located: \(error)")
        }
    }

    func testASymbolicLinkInsideAnArchiveCannotLeadOutside() throws {
        var outside = ""
        let world = try ToyWorld.make(pipeline: """
        name: counting
        data:
          count: {dataset: toy-clevr, train: train, test: {split: val, limit: 3}}
        models:
          tiny-a: {family: tiny-mllm, weights: {random: 1}}
        surrogate: tiny-a
        prompt: {kind: padding, image_size: 16, frame: 2}
        loss: {fca: 0, tse: 0}
        train: {epochs: 1, batch: 3, lr: 0.5, seed: 7}
        evaluate: {protocols: [zero-shot-official], batch: 3}
        report: {images: false}

        """, extraAssets: { root in
            // The archive's scenes folder is a link to a folder outside it (with a readable scenes file).
            outside = root + "/outside"
            let staging = root + "/clevr-staging/CLEVR_v1.0"
            _ = try QuestionSplitTests.toyCLEVR(root)
            try FileManager.default.moveItem(atPath: staging + "/scenes", toPath: outside)
            try FileManager.default.createSymbolicLink(atPath: staging + "/scenes", withDestinationPath: outside)
            try FileManager.default.removeItem(atPath: root + "/data/toy-clevr.tar.gz")
            return try QuestionSplitTests.toyCLEVR(root, repack: true)
        })
        defer { world.remove() }
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside + "/CLEVR_train_scenes.json"))
        let result = try world.run(try world.session(backend: TinyBackend()))
        XCTAssertEqual(result.exitCode, 1)
        let failure = result.execution.failures.map(\.message).joined(separator: "\n")
        XCTAssertTrue(failure.contains("leads outside the archive (through a symbolic link)"), failure)
    }

    func makeRoot() throws -> String {
        let root = NSTemporaryDirectory() + "tvp-paths-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        return root
    }
}
