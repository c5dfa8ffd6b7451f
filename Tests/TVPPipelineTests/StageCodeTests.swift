import Foundation
import TVPData
import TVPPipeline
import XCTest

/// Stage keys follow the code: each kind names its source files, whose build-time digests are part
/// of every key of the kind.
final class StageCodeTests: XCTestCase {
    var world: ToyWorld!
    var registry: StageRegistry!

    override func setUpWithError() throws {
        world = try ToyWorld.make()
        registry = StageRegistry(manifest: world.manifest, fetcher: Fetcher(cacheDirectory: world.cacheRoot, offline: true, log: { _ in }), backend: nil)
    }

    override func tearDown() { world.remove() }
    let kinds = [StageKinds.fetch, StageKinds.render, StageKinds.loadSplit, StageKinds.cleanFeatures, StageKinds.guideText,
                 StageKinds.trainPrompt, StageKinds.evaluate, StageKinds.aggregate, StageKinds.report] + StageKinds.zoo

    func files(_ kind: String) throws -> [String] { StageCode.files(matching: try registry.kind(named: kind).code.paths) }

    func testTheBuildHashedTheSourcesAndEveryDeclaredPathExists() throws {
        let digests = StageCode.sourceDigests
        XCTAssertGreaterThan(digests.count, 100)
        XCTAssertNotNil(digests["TVPPrompting/Training/PromptTrainer.swift"])
        XCTAssertTrue(digests.values.allSatisfy { $0.count == 64 })
        for name in kinds {
            for path in try registry.kind(named: name).code.paths {
                XCTAssertFalse(StageCode.files(matching: [path]).isEmpty, "\(name) names '\(path)', which matches no source file")
            }
        }
    }

    func testTheTrainerIsInTheKeysOfModelStagesAndNotOfFetchRenderOrLoad() throws {
        let trainer = "TVPPrompting/Training/PromptTrainer.swift"
        for name in [StageKinds.trainPrompt, StageKinds.evaluate, StageKinds.cleanFeatures] {
            XCTAssertTrue(try files(name).contains(trainer), name)
        }
        for name in [StageKinds.fetch, StageKinds.render, StageKinds.loadSplit] {
            XCTAssertFalse(try files(name).contains(trainer), name)
        }
        XCTAssertTrue(try files(StageKinds.render).contains("TVPData/Render/CLEVRRenderer.swift"))
        XCTAssertFalse(try files(StageKinds.render).contains("TVPData/Fetch/Fetcher.swift"))
        XCTAssertTrue(try files(StageKinds.report).contains("TVPPipeline/Report/HTMLReport.swift"))
        for name in StageKinds.zoo {   // the zoo's code, not the prompt trainer's
            XCTAssertTrue(try files(name).contains("TVPZoo/ZooConnectorTraining.swift"), name)
            XCTAssertFalse(try files(name).contains(trainer), name)
        }
        XCTAssertFalse(try files(StageKinds.render).contains("TVPZoo/ZooConnectorTraining.swift"))
    }

    func testEditingOneFileChangesTheDigestOfTheKindsThatNameIt() throws {
        var digests = StageCode.sourceDigests
        let train = try registry.kind(named: StageKinds.trainPrompt).code, fetch = try registry.kind(named: StageKinds.fetch).code
        XCTAssertEqual(StageCode(train.paths, digests: digests), train)
        digests["TVPPrompting/Training/PromptTrainer.swift"] = String(repeating: "0", count: 64)
        XCTAssertNotEqual(StageCode(train.paths, digests: digests).digest, train.digest)
        XCTAssertEqual(StageCode(fetch.paths, digests: digests).digest, fetch.digest)
        // The digest is in the stage's key (BLAS kernel tag aside).
        let stage = try registry.stage(id: "train[x]", kind: StageKinds.trainPrompt, parameters: [:])
        XCTAssertTrue(stage.code.hasPrefix(train.digest))
    }
}
