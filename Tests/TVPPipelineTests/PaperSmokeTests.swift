import Foundation
import TVPData
import TVPPipeline
import XCTest

/// The paper-table pipelines (Pipelines/paper/*.yaml) at `--scale smoke` on the committed zoo, as
/// CI runs them: every stage runs (a claim may fail at this scale; a failed stage, a missing claim
/// verdict or a table of the wrong shape fails the test). Prints each table and verdict.
final class PaperSmokeTests: XCTestCase {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The table files: every YAML directly under Pipelines/paper except the shared base.
    static func tables() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: package + "/Pipelines/paper").filter { $0.hasSuffix(".yaml") && $0 != "base.yaml" }
            .sorted().map { package + "/Pipelines/paper/" + $0 }
    }

    func testEveryPaperTableRunsAtSmokeScaleWithAVerdictForEveryClaim() throws {
        let cacheRoot = ProcessInfo.processInfo.environment["TVP_CACHE"] ?? (NSHomeDirectory() + "/.cache/tvp")
        let assets = cacheRoot + "/assets"
        for file in ["smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "efficientnet-lite0/efficientnet-lite0-57934424.pth",
                     "all-minilm-l6-v2/model.safetensors", "fashion-mnist/t10k-images-idx3-ubyte.gz", "mnist-5k/mnist_5k.csv.gz"]
            where !FileManager.default.fileExists(atPath: assets + "/" + file) {
            throw XCTSkip("the zoo's parts are not in \(assets) (missing \(file)): run scripts/test, which fetches them")
        }
        guard FileManager.default.fileExists(atPath: Self.package + "/Pipelines/zoo/connectors/zoo-guide.safetensors") else {
            throw XCTSkip("the zoo's connectors are not in Pipelines/zoo/connectors (tvp-run Pipelines/zoo.yaml builds them)")
        }
        let binary = try KillResumeTests.tvpRunBinary()
        let root = NSTemporaryDirectory() + "tvp-paper-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A fresh stage cache (everything computes, as on CI), sharing the fetched assets.
        try FileManager.default.createDirectory(atPath: root + "/cache", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/cache/assets", withDestinationPath: assets)
        let manifest = try Manifest.load(path: Self.package + "/datasets.manifest")
        let tables = try Self.tables()
        XCTAssertGreaterThanOrEqual(tables.count, 5, "\(tables)")
        for path in tables {
            let loaded = try PipelineLoader.load(path: path, scale: "smoke", context: ValidationContext(manifest: manifest))
            let started = Date()
            let result = try CLI.run(binary, [path, "--scale", "smoke", "--cache", root + "/cache", "--runs", root + "/runs", "--offline", "-q"],
                                     in: Self.package)
            print("== \((path as NSString).lastPathComponent) at smoke scale: exit \(result.status), \(Int(Date().timeIntervalSince(started))) s\n\(result.output)")
            XCTAssertTrue(result.status == 0 || result.status == 1, "\(path): exit \(result.status)\n\(result.output)")
            let runs = root + "/runs/" + loaded.name
            let folder = runs + "/" + (try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: runs).sorted().last, "no run folder for \(path)"))
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/meta.json"))) as? [String: Any]
            XCTAssertEqual(meta?["failed"] as? Int, 0, "\(path): a stage failed\n\(result.output)")
            XCTAssertEqual(meta?["scale"] as? String, "smoke")
            // Each point's folder by its label (a sorted listing puts limit=16 before limit=8).
            let pointFolders = loaded.isSweep ? loaded.points.map { folder + "/points/" + $0.label } : [folder]
            XCTAssertEqual(try loaded.isSweep ? FileManager.default.contentsOfDirectory(atPath: folder + "/points").count : 1, loaded.points.count, path)
            if loaded.isSweep { PaperTableChecks.checkSummary(loaded, folder: folder) }
            PaperTableChecks.checkPrintedVerdicts(loaded, output: result.output)
            for (point, pointFolder) in zip(loaded.points, pointFolders) {
                let spec = point.spec
                let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pointFolder + "/results.json"))) as? [String: Any]
                let claims = results?["claims"] as? [[String: Any]] ?? []
                XCTAssertEqual(claims.count, spec.claims.count, "\(pointFolder): a claim has no verdict")
                XCTAssertTrue(claims.allSatisfy { $0["passed"] is Bool && ["holds", "fails", "inconclusive"].contains($0["verdict"] as? String ?? "") },
                              "\(pointFolder): \(claims)")
                let rows = try String(contentsOfFile: pointFolder + "/results.csv", encoding: .utf8).split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
                let expected = ["model", "role"] + spec.tasks.flatMap { task in spec.evaluate.protocols.flatMap { evaluation -> [String] in
                    let column = "\(task.name)/\(evaluation.rawValue)"
                    return [column, column + "/low", column + "/high", column + "/n"]
                } }
                XCTAssertEqual(rows.first?.map(String.init), expected, pointFolder)
                // One row per model, surrogates first, then the targets' mean (ResultsTable: with two targets or more).
                XCTAssertEqual(rows.dropFirst().map { String($0[0]) }, spec.evaluatedModels + (spec.targets.count > 1 ? ["mean"] : []), pointFolder)
                for row in rows.dropFirst() {
                    XCTAssertEqual(row.count, expected.count, "\(pointFolder): \(row)")
                    for cell in row.dropFirst(2) { XCTAssertNotNil(Double(cell), "\(pointFolder): '\(cell)' in \(row)") }
                }
                PaperTableChecks.checkPoint(spec, folder: pointFolder, clean: rows.map { $0.map(String.init) })
            }
        }
    }
}
