import Foundation
import TVPPipeline
import XCTest

/// `weights.path` is relative to the file that names it, also when an `extends:` base in another
/// folder names it.
final class PathResolutionTests: XCTestCase {
    func testPathsOfABaseElsewhereAreRewrittenRelativeToThePipeline() throws {
        let world = try ToyWorld.make()
        defer { world.remove() }
        for folder in ["base", "paper", "zoo/connectors"] {
            try FileManager.default.createDirectory(atPath: world.root + "/" + folder, withIntermediateDirectories: true)
        }
        let base = ToyWorld.pipeline.replacingOccurrences(of: "tiny-b: {family: tiny-mllm, weights: {random: 2}}",
                                                          with: "tiny-b: {family: tiny-mllm, weights: {path: ../zoo/connectors}}")
        try base.write(toFile: world.root + "/base/toy.yaml", atomically: true, encoding: .utf8)
        try "extends: ../base/toy.yaml\nname: paper\n".write(toFile: world.root + "/paper/main.yaml", atomically: true, encoding: .utf8)
        try "extends: base/toy.yaml\nname: top\n".write(toFile: world.root + "/top.yaml", atomically: true, encoding: .utf8)
        func path(_ file: String, _ overrides: [String] = []) throws -> String? {
            let loaded = try PipelineLoader.load(path: world.root + "/" + file, overrides: try overrides.map { try Override(parsing: $0) },
                                                 context: world.context(TinyBackend()))
            guard case .path(let p)? = loaded.points[0].spec.model("tiny-b")?.weights else { return nil }
            return p
        }
        XCTAssertEqual(try path("paper/main.yaml"), "../zoo/connectors")
        XCTAssertEqual(try path("top.yaml"), "zoo/connectors")
        XCTAssertEqual(try path("base/toy.yaml"), "../zoo/connectors")
        // Command-line values stay relative to the pipeline file, as before.
        XCTAssertEqual(try path("paper/main.yaml", ["models.tiny-b.weights.path=w"]), "w")

        let context = world.context(nil)
        var withPipeline = context
        withPipeline.pipelinePath = "/a/b/p.yaml"
        XCTAssertEqual(withPipeline.relativeToPipeline("/abs/w", declaredIn: world.root + "/top.yaml"), "/abs/w")
        XCTAssertEqual(context.relativeToPipeline("x", declaredIn: world.root + "/top.yaml"), "x")
    }
}
