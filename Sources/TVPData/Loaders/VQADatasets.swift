import Foundation

/// CLEVR v1.0 object counting: every image of a split asked "how many objects".
/// Layout under `root` (the `CLEVR_v1.0` folder): `scenes/CLEVR_{split}_scenes.json`
/// (`{"scenes": [{"image_filename": …, "objects": [ … ]}, …]}`) and `images/{split}/CLEVR_{split}_XXXXXX.png`.
public enum CLEVR {
    public static let countingQuestion = "How many objects are there in this image? Answer with a single number."

    /// One sample per scene; the answer is its object count, the candidates the distinct counts of
    /// the whole split in increasing order ("3" … "10" in CLEVR). `limit` keeps the first scenes.
    public static func counting(root: String, split: String, size: ImageSize? = nil, limit: Int? = nil) throws -> MultipleChoiceSet {
        let scenesPath = "\(root)/scenes/CLEVR_\(split)_scenes.json"
        struct Scenes: Decodable { let scenes: [Scene] }
        struct Scene: Decodable { let image_filename: String; let objects: [AnyObject_] }
        struct AnyObject_: Decodable { init(from decoder: Decoder) throws {} }
        let scenes: [Scene]
        do {
            scenes = try JSONDecoder().decode(Scenes.self, from: Data(readFileBytes(scenesPath))).scenes
        } catch let error as DecodingError {
            throw DataError(scenesPath, "not a CLEVR scenes file: \(describeDecoding(error))")
        }
        guard !scenes.isEmpty else { throw DataError(scenesPath, "no scenes") }
        let counts = Array(Set(scenes.map(\.objects.count))).sorted()
        let candidates = counts.map(String.init)
        let samples = try scenes.prefix(limit ?? scenes.count).enumerated().map { i, scene -> VQASample in
            let image = "\(root)/images/\(split)/\(scene.image_filename)"
            try requireFile(image, from: "\(scenesPath): scenes[\(i)]")
            return VQASample(image: image, question: countingQuestion, answer: counts.firstIndex(of: scene.objects.count)!)
        }
        return try MultipleChoiceSet(samples: samples, candidates: candidates, size: size)
    }

    private static func describeDecoding(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let c): return "\(path(c)) has no \"\(key.stringValue)\""
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(path(c)): \(c.debugDescription)"
        case .dataCorrupted(let c): return "\(path(c)) \(c.debugDescription) \((c.underlyingError as NSError?)?.userInfo["NSDebugDescription"] ?? "")"
        @unknown default: return "\(error)"
        }
    }
}

/// The Hateful Memes challenge: `{root}/{split}.jsonl` (train, dev_seen, dev_unseen, test_seen,
/// test_unseen) with lines `{"id", "img": "img/XXXXX.png", "label": 0|1, "text"}`, images under `root`.
public enum HatefulMemes {
    public static let candidates = ["no", "yes"]

    /// The question asked for a meme whose overlaid text is `text`.
    public static func question(text: String) -> String {
        "This is an image with: \"\(text)\" written on it. Is it hateful?"
    }

    /// Answers: label 0 → "no", 1 → "yes". Lines without a label (unlabelled test files) are an error.
    public static func load(root: String, split: String, size: ImageSize? = nil, limit: Int? = nil) throws -> MultipleChoiceSet {
        let path = "\(root)/\(split).jsonl"
        let lines = try JSONLines.read(path)
        let samples = try lines.prefix(limit ?? lines.count).map { line, object -> VQASample in
            let where_ = "\(path):\(line)"
            let img = try JSONLines.string(object, "img", where_)
            let text = try JSONLines.string(object, "text", where_)
            guard let label = object["label"] as? Int, label == 0 || label == 1 else {
                throw DataError(where_, object["label"] == nil ? "no \"label\" (an unlabelled test split?)" : "\"label\" is not 0 or 1")
            }
            let image = "\(root)/\(img)"
            try requireFile(image, from: where_)
            return VQASample(image: image, question: question(text: text), answer: label)
        }
        return try MultipleChoiceSet(samples: samples, candidates: candidates, size: size)
    }
}

/// POPE object-hallucination probes over COCO val2014: annotation files (`coco_pope_random.json`,
/// `…_popular.json`, `…_adversarial.json`; JSON Lines despite the suffix) with lines
/// `{"question_id", "image": "COCO_val2014_XXXXXXXXXXXX.jpg", "text": "Is there a … in the image?", "label": "yes"|"no"}`.
public enum POPE {
    public static let settings = ["random", "popular", "adversarial"]
    public static let candidates = ["no", "yes"]

    /// The annotation file name of a setting (`coco_pope_{setting}.json`).
    public static func annotationFile(setting: String) -> String { "coco_pope_\(setting).json" }

    /// Samples ask the line's `text` as is; images come from `imageDirectory` (COCO `val2014/`).
    public static func load(annotations path: String, imageDirectory: String, size: ImageSize? = nil,
                            limit: Int? = nil) throws -> MultipleChoiceSet {
        let lines = try JSONLines.read(path)
        let samples = try lines.prefix(limit ?? lines.count).map { line, object -> VQASample in
            let where_ = "\(path):\(line)"
            let imageName = try JSONLines.string(object, "image", where_)
            let text = try JSONLines.string(object, "text", where_)
            let label = try JSONLines.string(object, "label", where_)
            guard let answer = candidates.firstIndex(of: label.lowercased()) else {
                throw DataError(where_, "\"label\" is \"\(label)\", expected \"yes\" or \"no\"")
            }
            let image = "\(imageDirectory)/\(imageName)"
            try requireFile(image, from: where_)
            return VQASample(image: image, question: text, answer: answer)
        }
        return try MultipleChoiceSet(samples: samples, candidates: candidates, size: size)
    }
}
