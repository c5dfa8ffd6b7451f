import Foundation
import TVPTensor

/// One question about one image, answered by picking one of the set's candidate answers.
public struct VQASample: Equatable, Sendable {
    /// The image file (PNG or JPEG).
    public let image: String
    public let question: String
    /// Index of the right answer in the set's `candidates`.
    public let answer: Int

    public init(image: String, question: String, answer: Int) {
        self.image = image
        self.question = question
        self.answer = answer
    }
}

/// Image questions that share one list of candidate answers (CLEVR counting, Hateful Memes, POPE);
/// images are decoded per batch.
public struct MultipleChoiceSet {
    public let samples: [VQASample]
    public let candidates: [String]
    /// Images of the samples, in sample order.
    public let images: ImageFiles

    public init(samples: [VQASample], candidates: [String], size: ImageSize? = nil) throws {
        guard !candidates.isEmpty else { throw DataError(samples.first?.image ?? "<no samples>", "no candidate answers") }
        if let bad = samples.first(where: { $0.answer < 0 || $0.answer >= candidates.count }) {
            throw DataError(bad.image, "answer index \(bad.answer) is outside the \(candidates.count) candidates \(candidates)")
        }
        self.samples = samples
        self.candidates = candidates
        self.images = ImageFiles(paths: samples.map(\.image), size: size)
    }

    public var count: Int { samples.count }

    /// The images [B, 3, H, W] of the samples at `indices`, and those samples.
    public func load(_ indices: [Int]) throws -> (images: Tensor, samples: [VQASample]) {
        (try images.load(indices), indices.map { samples[$0] })
    }
}

/// JSON Lines: one JSON object per line (blank lines skipped); errors name file:line.
enum JSONLines {
    static func read(_ path: String) throws -> [(line: Int, object: [String: Any])] {
        let text = String(decoding: try readFileBytes(path), as: UTF8.self)
        var objects: [(line: Int, object: [String: Any])] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let parsed = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))
            guard let object = parsed as? [String: Any] else {
                throw DataError("\(path):\(i + 1)", "not a JSON object: \(trimmed.prefix(80))")
            }
            objects.append((i + 1, object))
        }
        guard !objects.isEmpty else { throw DataError(path, "no JSON lines") }
        return objects
    }

    /// A string field, or an error naming file:line and the field.
    static func string(_ object: [String: Any], _ key: String, _ where_: String) throws -> String {
        guard let value = object[key] as? String else {
            throw DataError(where_, object[key] == nil ? "missing \"\(key)\"" : "\"\(key)\" is not a string")
        }
        return value
    }
}

/// Throws unless `path` is a file (so a missing image is reported when the set is built, with the
/// annotation that names it).
func requireFile(_ path: String, from where_: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw DataError(where_, "image \(path) does not exist")
    }
}
