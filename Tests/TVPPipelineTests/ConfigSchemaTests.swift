import Foundation
import TVPCommands
import TVPPipeline
import XCTest
import TVPTensor

/// Each kind of bad pipeline file is refused before anything runs, with file:line:column.
final class ConfigSchemaTests: XCTestCase {
    var world: ToyWorld!

    override func setUpWithError() throws { world = try ToyWorld.make() }
    override func tearDown() { world.remove() }

    /// The error of loading the toy pipeline with `old` replaced by `new` (in file `bad.yaml`).
    func error(replacing old: String, with new: String, overrides: [String] = [], file: StaticString = #filePath,
               line: UInt = #line) throws -> String {
        XCTAssertTrue(ToyWorld.pipeline.contains(old), "the fixture has no '\(old)'", file: file, line: line)
        let path = world.root + "/bad.yaml"
        try ToyWorld.pipeline.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
        return yamlError({ try self.world.load(overrides: overrides, path: path) }, file: file, line: line).map { "\($0)" } ?? ""
    }

    var bad: String { world.root + "/bad.yaml" }

    func testTheToyPipelineIsValidAndTyped() throws {
        let spec = try world.load().points[0].spec
        XCTAssertEqual(spec.name, "toy")
        XCTAssertEqual(spec.tasks.map(\.dataset), ["toy-digits"])
        XCTAssertEqual(spec.tasks[0].train, SplitSpec(split: "train", limit: 8))
        XCTAssertEqual(spec.surrogates, ["tiny-a"])
        XCTAssertEqual(spec.targets, ["tiny-b"])
        XCTAssertEqual(spec.model("clip")?.weights, .random(seed: 3))
        XCTAssertEqual(spec.prompt, PromptSpec(kind: .padding, imageSize: 16, frame: 2))
        XCTAssertEqual(spec.loss, LossSpec(fca: 0.005, tse: 0.001))
        XCTAssertEqual(spec.train, TrainSpec(epochs: 1, batch: 4, optimizer: "tvp", lr: 0.5, schedule: "cosine", seed: 7))
        XCTAssertEqual(spec.evaluate.protocols, [.zeroShotOfficial, .vp, .tvp])
        XCTAssertEqual(spec.claims.map(\.text), ["tvp.mean >= 0", "tvp.tiny-a >= 0"])
        XCTAssertEqual(spec.claims[1].scope, .all)
        XCTAssertEqual(spec.report.metric, "accuracy")
    }

    func testUnknownKeysWrongTypesAndMissingFields() throws {
        XCTAssertEqual(try error(replacing: "train: {epochs", with: "trian: {epochs"),
                       "\(bad):18:1: unknown key 'trian'; did you mean 'train'?")
        XCTAssertEqual(try error(replacing: "epochs: 1", with: "epochs: many"),
                       "\(bad):18:17: expected an integer, found a string ('many')")
        XCTAssertEqual(try error(replacing: "lr: 0.5", with: "lr: -1"),
                       "\(bad):18:50: 'train.lr' must be a finite number > 0 and ≤ 10000, found -1")
        XCTAssertEqual(try error(replacing: "tiny-b: {family: tiny-mllm, ", with: "tiny-b: {"),
                       "\(bad):11:11: missing required key 'family' in 'models.tiny-b'")
        XCTAssertEqual(try error(replacing: "prompt: {kind: padding, image_size: 16, frame: 2}", with: "prompt: 3"),
                       "\(bad):16:9: 'prompt' must be a mapping, found an integer (3)")
        XCTAssertEqual(try error(replacing: "kind: padding", with: "kind: paddin"),
                       "\(bad):16:16: unknown value for 'prompt.kind' 'paddin'; did you mean 'padding'?")
        XCTAssertEqual(try error(replacing: "frame: 2}", with: "frame: 8}"),
                       "\(bad):16:48: prompt.frame 8 does not fit a padding prompt on 16 px images")
        XCTAssertEqual(try error(replacing: "name: toy\n", with: "name: toy\nname: again\n"),
                       "\(bad):2:1: duplicate key 'name' (first defined at \(bad):1:1)")
    }

    /// `prompt.init` sets how a prompt starts; files without it keep their stage parameters (and keys).
    func testPromptInitialization() throws {
        XCTAssertNil(try world.load().points[0].spec.prompt.json["init"])
        let pad = try world.load(overrides: ["prompt.kind=pad", "+prompt.init=zeros"]).points[0].spec.prompt
        XCTAssertEqual(pad, PromptSpec(kind: .pad, imageSize: 16, frame: 2, initialization: .zeros))
        XCTAssertEqual(try PromptSpec(json: pad.json), pad)
        let zero = try pad.makePrompt(seed: 7)
        XCTAssertEqual(zero.values.toArray().map { abs($0) }.max(), 0, "init: zeros starts the pad prompt at zero")
        let normal = try PromptSpec(kind: .pad, imageSize: 16, frame: 2).makePrompt(seed: 7)
        XCTAssertGreaterThan(normal.values.toArray().map { abs($0) }.max() ?? 0, 0.5, "the pad prompt's own start is randn")
        let patch = PromptSpec(kind: .randomPatch, imageSize: 16, frame: 4, initialization: .zeros)
        XCTAssertEqual(try patch.makePrompt(seed: 7).values.toArray().map { abs($0) }.max(), 0)
        XCTAssertEqual(try error(replacing: "frame: 2}", with: "frame: 2, init: normal}"),
                       "\(bad):16:57: prompt.init normal: the padding prompt starts at zero (the official initialization); use zeros or leave init out")
        XCTAssertEqual(try error(replacing: "frame: 2}", with: "frame: 2, init: random}"),
                       "\(bad):16:57: unknown value for 'prompt.init' 'random'; expected one of: zeros, normal")
    }

    func testUnknownNamesSuggestTheClosest() throws {
        XCTAssertEqual(try error(replacing: "dataset: toy-digits", with: "dataset: toy-digit"),
                       "\(bad):4:14: unknown dataset 'toy-digit'; did you mean 'toy-digits'?")
        XCTAssertEqual(try error(replacing: "test: {split: test", with: "test: {split: tset"),
                       "\(bad):6:19: unknown split of toy-digits 'tset'; did you mean 'test'?")
        XCTAssertEqual(try error(replacing: "targets: [tiny-b]", with: "targets: [tiny-c]"),
                       "\(bad):15:11: unknown model 'tiny-c'; did you mean 'tiny-a'?")
        XCTAssertEqual(try error(replacing: "tiny-b: {family: tiny-mllm", with: "tiny-b: {family: tiny-mlm"),
                       "\(bad):11:20: unknown model family 'tiny-mlm'; did you mean 'tiny-mllm'?")
        XCTAssertEqual(try error(replacing: "targets: [tiny-b]", with: "targets: [tiny-a]"),
                       "\(bad):15:11: 'tiny-a' is the surrogate; targets are the models the prompt transfers to")
        XCTAssertEqual(try error(replacing: "guide: clip\n", with: ""),
                       "\(bad):16:25: loss.tse = 0.001 needs a TSE guide model: add 'guide: MODEL' or set loss.tse to 0")
        XCTAssertEqual(try error(replacing: "- tvp.mean >= 0", with: "- tvp.mean >= vpp.mean"),
                       "\(bad):21:17: claim reads protocol 'vpp', which is not evaluated; did you mean 'vp'?")
        XCTAssertEqual(try error(replacing: "\"tvp.tiny-a >= 0\"", with: "\"tvp.tiny-z >= 0\""),
                       "\(bad):22:18: unknown statistic or model 'tiny-z'; did you mean 'tiny-a'?")
    }

    func testClaimConfidenceIsReadAndChecked() throws {
        XCTAssertEqual(try world.load().points[0].spec.claims.map(\.confidence), [0.95, 0.95])
        let path = world.root + "/confident.yaml"
        try ToyWorld.pipeline.replacingOccurrences(of: "over: all}", with: "over: all, confidence: 0.9}")
            .write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try world.load(path: path).points[0].spec.claims.map(\.confidence), [0.95, 0.9])
        XCTAssertEqual(try error(replacing: "over: all}", with: "over: all, confidence: 1.5}"),
                       "\(bad):22:55: 'expect[].confidence' is the two-sided confidence level of the claim's interval, a number " +
                       "between 0 and 1 (exclusive) such as 0.95; found 1.5")
        XCTAssertEqual(try error(replacing: "over: all}", with: "over: all, confidence: high}"),
                       "\(bad):22:55: expected a number, found a string ('high')")
        XCTAssertEqual(try error(replacing: "over: all}", with: "over: all, confidense: 0.9}"),
                       "\(bad):22:43: unknown key 'confidense'; did you mean 'confidence'?")
    }

    func testMalformedYAMLIsLocated() throws {
        let message = try error(replacing: "frame: 2}", with: "frame: 2")
        XCTAssertTrue(message.hasPrefix("\(bad):17:"), message)
    }

    func testExtendsMergesBasesAndLocatesErrorsInTheFileThatHasThem() throws {
        let base = world.root + "/base.yaml"
        try ToyWorld.pipeline.write(toFile: base, atomically: true, encoding: .utf8)
        let child = world.root + "/child.yaml"
        try "extends: base.yaml\nname: child\ntrain: {lr: 2}\n".write(toFile: child, atomically: true, encoding: .utf8)
        let spec = try world.load(path: child).points[0].spec
        XCTAssertEqual(spec.name, "child")
        XCTAssertEqual(spec.train.lr, 2)
        XCTAssertEqual(spec.train.epochs, 1, "untouched keys come from the base")

        try "extends: base.yaml\ntrain: {lr: fast}\n".write(toFile: child, atomically: true, encoding: .utf8)
        XCTAssertEqual(yamlError({ try self.world.load(path: child) }).map { "\($0)" },
                       "\(child):2:13: expected a number, found a string ('fast')")
        try ToyWorld.pipeline.replacingOccurrences(of: "batch: 4", with: "bacth: 4").write(toFile: base, atomically: true, encoding: .utf8)
        XCTAssertEqual(yamlError({ try self.world.load(path: child) }).map { "\($0)" },
                       "\(base):18:20: unknown key 'bacth'; did you mean 'batch'?")
    }

    func testOverridesAreAppliedBeforeValidationAndErrorsNameThem() throws {
        let spec = try world.load(overrides: ["train.lr=0.25", "++train.seed=9", "~expect", "evaluate.protocols=[vp, tvp]"]).points[0].spec
        XCTAssertEqual(spec.train.lr, 0.25)
        XCTAssertEqual(spec.claims, [])
        XCTAssertEqual(spec.evaluate.protocols, [.vp, .tvp])
        XCTAssertEqual(spec.train.seed, 9)
        XCTAssertNil(try? world.load(overrides: ["+train.seed=9"]).points[0].spec, "+train.seed exists in the file")

        for (override, message) in [
            ("train.lr=abc",
             "--set train.lr=abc:1:16: expected a number, found a string ('abc')"),
            ("train.lrr=1",
             "--set train.lrr=1:1:7: unknown key 'lrr'; did you mean 'lr'?"),
            ("+train.seed=9",
             "--set +train.seed=9:1:8: cannot add 'train.seed': it exists (use 'train.seed=…' or '++train.seed=…')"),
            ("~train.nope",
             "--set ~train.nope:1:8: cannot remove 'train.nope': no such key"),
            ("name.x=1",
             "--set name.x=1:1:7: cannot override 'name.x': 'name' is a string ('toy') at \(world.pipelinePath):1:7, not a mapping"),
            ("train.lr",
             "--set train.lr:1:1: expected KEY=VALUE (or ~KEY to remove a key), found 'train.lr'"),
            ("targets=[tiny-b, tiny-q]",
             "--set targets=[tiny-b, tiny-q]:1:24: unknown model 'tiny-q'; did you mean 'tiny-a'?"),
        ] {
            XCTAssertEqual(yamlError({ try self.world.load(overrides: [override]) }).map { "\($0)" }, message, override)
        }
        XCTAssertEqual(yamlError({ try self.world.load(multirun: ["train.epochs=1,x"]) }).map { "\($0)" },
                       "-m train.epochs=1,x:1:19: expected an integer, found a string ('x')")
    }

    func testSweepExpansionGridThenZipThenMultirun() throws {
        let text = ToyWorld.pipeline + """
        sweep:
          loss.fca: [0, 0.01]
          zip:
            train.seed: [1, 2, 3]
            train.lr: [1, 2, 4]

        """
        let path = world.root + "/sweep.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try world.load(multirun: ["train.epochs=1,2"], path: path)
        XCTAssertEqual(loaded.points.count, 12)
        XCTAssertEqual(loaded.points[0].label, "fca=0,seed=1,lr=1,epochs=1")
        XCTAssertEqual(loaded.points[11].label, "fca=0.01,seed=3,lr=4,epochs=2")
        XCTAssertEqual(loaded.points[11].spec.train, TrainSpec(epochs: 2, batch: 4, optimizer: "tvp", lr: 4, schedule: "cosine", seed: 3))
        XCTAssertEqual(loaded.points[11].spec.loss.fca, 0.01)
        XCTAssertNil(loaded.points[0].spec.resolved["sweep"], "the resolved config has no sweep block")

        try text.replacingOccurrences(of: "train.lr: [1, 2, 4]", with: "train.lr: [1, 2]").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(yamlError({ try self.world.load(path: path) }).map { "\($0)" },
                       "\(path):27:5: zipped lists must have equal lengths: 'train.seed' has 3 values, 'train.lr' has 2")
        try text.replacingOccurrences(of: "loss.fca: [0, 0.01]", with: "loss.fcb: [0, 0.01]").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(yamlError({ try self.world.load(path: path) }).map { "\($0)" },
                       "\(path):24:3: unknown key 'fcb'; did you mean 'fca'?")
        try text.replacingOccurrences(of: "loss.fca: [0, 0.01]", with: "loss.fca: [0, -1]").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(yamlError({ try self.world.load(path: path) }).map { "\($0)" },
                       "\(path):24:17: 'loss.fca' must be a finite number ≥ 0 and ≤ 10000, found -1")
    }

    func testTheCommandLineExitsWithTwoAndRunsNothingOnABadFile() throws {
        TVPRunCommand.backend.set { TinyBackend() }
        defer { TVPRunCommand.backend.set { nil } }
        try ToyWorld.pipeline.replacingOccurrences(of: "epochs: 1", with: "epochs: 0").write(toFile: bad, atomically: true, encoding: .utf8)
        let code = TVPRunCommand.main([bad, "--manifest", world.manifestPath, "--cache", world.cacheRoot, "--runs", world.runsRoot, "-q"])
        XCTAssertEqual(code, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: world.cacheRoot), "nothing ran, no cache was created")
        XCTAssertFalse(FileManager.default.fileExists(atPath: world.runsRoot))
    }
}
