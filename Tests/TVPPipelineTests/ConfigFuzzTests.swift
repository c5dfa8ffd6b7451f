import Foundation
import TVPFormats
import TVPPipeline
import TVPTensor
import XCTest

/// A seeded property test of the config loader: mutated pipeline files (from the committed corpus in
/// Fixtures/fuzz, written by scripts/fixtures/pipeline_fuzz_corpus.py) never crash the loader, and
/// every failure is a YAMLError with a file:line:column inside the file being loaded.
final class ConfigFuzzTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz").path

    static let tokens = ["-", ":", ": ", " ", "\n", "\n  ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a", "!!int ", "!!str ", "\"", "'",
                         "#", "0", "-1", "1e9", "99999999999999999999", ".nan", "null", "~", "true", "yes", "tvp", "train", "lr",
                         "extends: minimal.yaml", "extends: nowhere.yaml", "\t", "é", "\u{0}", "? ", "|", ">", "%YAML 1.2\n", "---\n",
                         "tvp.mean >= vp.mean", "sweep:", "zip:", "train.lr: [1, 2]", "toy-digits", "tiny-mllm", "padding"]

    /// One to three random edits of `text`.
    static func mutate(_ text: String, _ generator: inout RandomGenerator) -> String {
        var scalars = Array(text.unicodeScalars)
        func index() -> Int { scalars.isEmpty ? 0 : Int(generator.next() % UInt64(scalars.count + 1)) }
        for _ in 0...(generator.next() % 3) {
            switch generator.next() % 6 {
            case 0:  // delete a run
                let start = index(), length = Int(generator.next() % 8) + 1
                scalars.removeSubrange(min(start, scalars.count)..<min(start + length, scalars.count))
            case 1, 2:  // insert a token
                let token = tokens[Int(generator.next() % UInt64(tokens.count))]
                scalars.insert(contentsOf: token.unicodeScalars, at: index())
            default:  // line edits: duplicate, swap, re-indent
                var lines = String(String.UnicodeScalarView(scalars)).components(separatedBy: "\n")
                guard lines.count > 1 else { continue }
                let a = Int(generator.next() % UInt64(lines.count)), b = Int(generator.next() % UInt64(lines.count))
                switch generator.next() % 3 {
                case 0: lines.insert(lines[a], at: b)
                case 1: lines.swapAt(a, b)
                default: lines[a] = String(repeating: " ", count: Int(generator.next() % 5)) + lines[a].drop { $0 == " " }
                }
                scalars = Array(lines.joined(separator: "\n").unicodeScalars)
            }
        }
        return String(String.UnicodeScalarView(scalars))
    }

    func testMutatedPipelinesLoadOrFailWithALocatedError() throws {
        let world = try ToyWorld.make()
        defer { world.remove() }
        let folder = world.root + "/fuzz"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let seeds = try FileManager.default.contentsOfDirectory(atPath: ConfigFuzzTests.corpus).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(seeds.count, 6)
        for seed in seeds {
            try FileManager.default.copyItem(atPath: ConfigFuzzTests.corpus + "/" + seed, toPath: folder + "/" + seed)
        }
        // The seeds themselves: all valid but the broken one.
        for seed in seeds {
            let result = Result { try world.load(path: folder + "/" + seed) }
            if case .failure(let error) = result, seed != "broken.yaml" { XCTFail("\(seed): \(error)") }
            if case .success = result, seed == "broken.yaml" { XCTFail("broken.yaml loaded") }
        }

        var generator = RandomGenerator(seed: 20240417)
        var outcomes = (loaded: 0, refused: 0)
        for round in 0..<100 {
            for seed in seeds {
                let original = try String(contentsOfFile: folder + "/" + seed, encoding: .utf8)
                let mutated = ConfigFuzzTests.mutate(original, &generator)
                let path = folder + "/mutant.yaml"
                try mutated.write(toFile: path, atomically: true, encoding: .utf8)
                do {
                    let loaded = try world.load(path: path)
                    XCTAssertFalse(loaded.points.isEmpty)
                    outcomes.loaded += 1
                } catch let error as YAMLError {
                    outcomes.refused += 1
                    guard let mark = error.mark else {
                        XCTFail("round \(round), \(seed): unlocated error '\(error)' for:\n\(mutated)")
                        continue
                    }
                    XCTAssertTrue(mark.path.hasPrefix(folder), "round \(round), \(seed): error outside the file: \(error)")
                    XCTAssertGreaterThanOrEqual(mark.line, 1)
                    XCTAssertGreaterThanOrEqual(mark.column, 1)
                } catch {
                    XCTFail("round \(round), \(seed): \(type(of: error)) is not a YAMLError: \(error)\n\(mutated)")
                }
            }
        }
        XCTAssertGreaterThan(outcomes.loaded, 10, "mutations should leave some files valid")
        XCTAssertGreaterThan(outcomes.refused, 300)
    }
}
