import Foundation
import TVPPipeline
import XCTest

/// `scales:` profiles chosen with `--scale NAME`: applied like `--set` before the command line's
/// overrides, inherited through `extends:`, refused with a located error when wrong.
final class ScaleProfileTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws { world = try ToyWorld.make() }
    override func tearDown() { world.remove() }

    func write(_ text: String, _ name: String = "scaled.yaml") throws -> String {
        let path = world.root + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func load(_ path: String, scale: String?, overrides: [String] = []) throws -> LoadedPipeline {
        try PipelineLoader.load(path: path, overrides: try overrides.map { try Override(parsing: $0) }, scale: scale,
                                context: world.context(TinyBackend()))
    }

    static let scales = """
    scales:
      smoke: {data.digits.train.limit: 4, train.epochs: 1, evaluate.protocols: [zero-shot-official, tvp]}
      full: {train.epochs: 3}
      empty:

    """

    func testAProfileAppliesBeforeTheCommandLineAndIsNotPartOfTheSpec() throws {
        let path = try write(ToyWorld.pipeline + Self.scales)
        let plain = try load(path, scale: nil)
        XCTAssertEqual(plain.points[0].spec.tasks[0].train.limit, 8)
        XCTAssertEqual(plain.scales, ["smoke", "full", "empty"])
        XCTAssertNil(plain.scale)
        // Without a profile, `scales:` changes nothing: the resolved tree is the toy pipeline's.
        XCTAssertEqual(plain.points[0].spec.resolved, try world.load().points[0].spec.resolved)

        let smoke = try load(path, scale: "smoke")
        XCTAssertEqual(smoke.scale, "smoke")
        XCTAssertEqual(smoke.points[0].spec.tasks[0].train.limit, 4)
        XCTAssertEqual(smoke.points[0].spec.evaluate.protocols, [.zeroShotOfficial, .tvp])
        XCTAssertEqual(try load(path, scale: "full").points[0].spec.train.epochs, 3)
        XCTAssertEqual(try load(path, scale: "empty").points[0].spec.resolved, plain.points[0].spec.resolved)
        // The command line wins over the profile.
        XCTAssertEqual(try load(path, scale: "smoke", overrides: ["data.digits.train.limit=6"]).points[0].spec.tasks[0].train.limit, 6)
    }

    func testABaseMayDeclareTheScales() throws {
        _ = try write(ToyWorld.pipeline + Self.scales, "base.yaml")
        let path = try write("extends: base.yaml\nname: child\nscales:\n  smoke: {train.lr: 2}\n")
        let smoke = try load(path, scale: "smoke")
        XCTAssertEqual(smoke.points[0].spec.train.lr, 2)                     // the child's entry replaces the base's
        XCTAssertEqual(try load(path, scale: "full").points[0].spec.train.epochs, 3)
    }

    func testUnknownProfilesAndBadEntriesAreLocated() throws {
        let path = try write(ToyWorld.pipeline + Self.scales)
        var error = yamlError({ try self.load(path, scale: "smok") }).map { "\($0)" } ?? ""
        XCTAssertTrue(error.contains("unknown scale 'smok'") && error.contains("did you mean 'smoke'?") && error.contains("scaled.yaml:"), error)
        error = yamlError({ try self.load(self.world.pipelinePath, scale: "smoke") }).map { "\($0)" } ?? ""
        XCTAssertTrue(error.contains("declares no scales"), error)

        let typo = try write(ToyWorld.pipeline + "scales:\n  smoke: {train.epoch: 1}\n", "typo.yaml")
        error = yamlError({ try self.load(typo, scale: "smoke") }).map { "\($0)" } ?? ""
        XCTAssertTrue(error.contains("typo.yaml:") && error.contains("epoch"), error)
        let list = try write(ToyWorld.pipeline + "scales: [smoke]\n", "list.yaml")
        error = yamlError({ try self.load(list, scale: "smoke") }).map { "\($0)" } ?? ""
        XCTAssertTrue(error.contains("list.yaml:") && error.contains("maps profile names"), error)
    }
}
