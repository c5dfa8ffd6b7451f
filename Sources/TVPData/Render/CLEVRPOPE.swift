import Foundation
import TVPTensor

/// POPE-style object-presence probes over rendered CLEVR scenes.
///
/// Object categories are "{color} {shape}" (8 × 3 = 24, e.g. "red cube", "cyan sphere"): the names
/// a person would use, and enough of them that every image leaves most categories absent. Size and
/// material are left out of the category so questions stay natural ("Is there a red cube in the image?").
///
/// Per image (as POPE): `perImage` positives drawn uniformly from the present categories (fewer when
/// the image has fewer distinct categories) and as many negatives, alternating yes, no, yes, no, … so
/// labels are balanced in every file. Negatives are absent categories chosen by the setting:
/// - random: uniformly;
/// - popular: the absent categories present in the most images of the split;
/// - adversarial: the absent categories that co-occur (same image) most often with the image's present
///   categories, summed over those categories.
/// Ties go to the earlier category of `categories`. Positives are the same in all three settings.
/// With CLEVR's uniform attribute sampling the split's frequencies are close to uniform, so popular and
/// adversarial negatives differ from random ones only through the split's sampling noise.
public enum CLEVRPOPE {
    /// One probe: POPE's jsonl fields plus the category asked about.
    public struct Question: Equatable, Sendable {
        public let questionID: Int
        public let image: String
        public let text: String
        /// "yes" or "no".
        public let label: String
        public let category: String
    }

    /// All 24 categories, colours in CLEVR's order, then shapes.
    public static let categories: [String] = CLEVRColor.allCases.flatMap { color in
        CLEVRShape.allCases.map { "\(color.rawValue) \($0.rawValue)" }
    }

    /// Category name → its index in `categories`.
    public static let categoryIndex: [String: Int] = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })

    /// "Is there a {category} in the image?" (POPE's wording).
    public static func text(category: String) -> String { "Is there a \(category) in the image?" }

    /// Probes for `scenes` whose images are `imageNames` (same order), numbered from 1.
    public static func questions(scenes: [CLEVRScene], imageNames: [String], setting: String, perImage: Int = 3,
                                 seed: UInt64) throws -> [Question] {
        guard POPE.settings.contains(setting) else {
            throw DataError("CLEVRPOPE", "setting \"\(setting)\" is not one of \(POPE.settings)")
        }
        guard scenes.count == imageNames.count else {
            throw DataError("CLEVRPOPE", "\(scenes.count) scenes but \(imageNames.count) image names")
        }
        guard perImage >= 1, perImage <= categories.count / 2 else {
            throw DataError("CLEVRPOPE", "perImage \(perImage) must lie within 1…\(categories.count / 2)")
        }
        let present = scenes.map { Set($0.categories.map { categoryIndex[$0]! }) }
        let k = categories.count
        // Images containing each category, and each pair of categories.
        var frequency = [Int](repeating: 0, count: k)
        var cooccurrence = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for set in present {
            for a in set {
                frequency[a] += 1
                for b in set where b != a { cooccurrence[a][b] += 1 }
            }
        }
        var questions: [Question] = []
        for (i, set) in present.enumerated() {
            let presentOrdered = set.sorted()
            var positiveRNG = RandomGenerator(seed: PixelHash.mix(seed, UInt64(i), 0x9051))
            let positives = Array(shuffled(presentOrdered, &positiveRNG).prefix(perImage))
            let absent = (0..<k).filter { !set.contains($0) }
            let negatives: [Int]
            switch setting {
            case "random":
                var rng = RandomGenerator(seed: PixelHash.mix(seed, UInt64(i), 0x4E67))
                negatives = Array(shuffled(absent, &rng).prefix(positives.count))
            case "popular":
                negatives = Array(absent.sorted { (frequency[$0], -$0) > (frequency[$1], -$1) }.prefix(positives.count))
            default:
                let score = absent.map { c in presentOrdered.reduce(0) { $0 + cooccurrence[$1][c] } }
                let ranked = zip(absent, score).sorted { ($0.1, -$0.0) > ($1.1, -$1.0) }.map(\.0)
                negatives = Array(ranked.prefix(positives.count))
            }
            for (yes, no) in zip(positives, negatives) {
                for (category, label) in [(yes, "yes"), (no, "no")] {
                    questions.append(Question(questionID: questions.count + 1, image: imageNames[i],
                                              text: text(category: categories[category]), label: label, category: categories[category]))
                }
            }
        }
        return questions
    }

    /// POPE's JSON Lines: `{"question_id": …, "image": …, "text": …, "label": "yes"|"no"}` per line.
    public static func jsonLines(_ questions: [Question]) -> String {
        questions.map { q in
            JSONText.object([("question_id", .int(q.questionID)), ("image", .string(q.image)),
                             ("text", .string(q.text)), ("label", .string(q.label))]).serialized()
        }.joined(separator: "\n") + "\n"
    }

    /// Fisher–Yates with the project's generator (stable across platforms, unlike `shuffled(using:)`).
    private static func shuffled(_ items: [Int], _ rng: inout RandomGenerator) -> [Int] {
        var items = items
        var i = items.count - 1
        while i > 0 {
            let j = Int(rng.next() % UInt64(i + 1))
            items.swapAt(i, j)
            i -= 1
        }
        return items
    }
}
