import Foundation

/// Where a rendered split lives under `root`, the same layout as the `CLEVR_v1.0` folder (so
/// `CLEVR.counting(root:split:)` reads it), plus POPE annotation files.
public enum CLEVRLayout {
    /// `CLEVR_{split}_{index:06d}.png`
    public static func imageFilename(split: String, index: Int) -> String {
        "CLEVR_\(split)_\(String(format: "%06d", index)).png"
    }

    /// `{root}/images/{split}`
    public static func imageDirectory(root: String, split: String) -> String { "\(root)/images/\(split)" }

    /// `{root}/scenes/CLEVR_{split}_scenes.json`
    public static func scenesPath(root: String, split: String) -> String { "\(root)/scenes/CLEVR_\(split)_scenes.json" }

    /// `{root}/questions/CLEVR_{split}_questions.json`
    public static func questionsPath(root: String, split: String) -> String { "\(root)/questions/CLEVR_\(split)_questions.json" }

    /// `{root}/pope/CLEVR_{split}_pope_{setting}.json` (JSON Lines, as POPE's own `coco_pope_*.json`).
    public static func popePath(root: String, split: String, setting: String) -> String {
        "\(root)/pope/CLEVR_\(split)_pope_\(setting).json"
    }
}

/// CLEVR's scene and question files for rendered scenes, in the schema of CLEVR v1.0
/// (`collect_scenes.py`, `generate_questions.py`).
public enum CLEVRSceneFile {
    /// The `info` block. CLEVR puts the render date there; a fixed empty date keeps files byte-identical per seed.
    static func info(split: String) -> JSONText {
        .object([("date", .string("")), ("version", .string("1.0")), ("split", .string(split)),
                 ("license", .string("Creative Commons Attribution (CC BY 4.0)")),
                 ("generator", .string("tvp CLEVRRenderer v\(CLEVRRenderer.version) (synthetic, CLEVR-style)"))])
    }

    /// One scene in CLEVR's schema: split, image_index, image_filename, objects (shape, size, material,
    /// color, 3d_coords, rotation, pixel_coords = [x, y, depth] in a `width` × `height` image, x and y
    /// rounded), directions (unit vectors) and relationships (left/right/front/behind index lists).
    static func sceneObject(_ scene: CLEVRScene, split: String, index: Int, width: Int, height: Int) -> JSONText {
        let objects: [JSONText] = scene.objects.map { object in
            let p = scene.camera.project(object.position, width: width, height: height)
            return .object([
                ("shape", .string(object.shape.rawValue)), ("size", .string(object.size.rawValue)),
                ("material", .string(object.material.rawValue)), ("color", .string(object.color.rawValue)),
                ("3d_coords", .vector(object.position)), ("rotation", .number(Double(object.rotation))),
                ("pixel_coords", .array([.int(Int(p.x.rounded())), .int(Int(p.y.rounded())), .number(Double(p.depth))])),
            ])
        }
        let directions = JSONText.object(scene.camera.directions.map { ($0.name, .vector($0.vector)) })
        let relationships = scene.relationships()
        let relationNames = ["right", "behind", "front", "left"]
        let relations = JSONText.object(relationNames.map { name in
            (name, .array(relationships[name]!.map { .array($0.map(JSONText.int)) }))
        })
        return .object([
            ("split", .string(split)), ("image_index", .int(index)),
            ("image_filename", .string(CLEVRLayout.imageFilename(split: split, index: index))),
            ("objects", .array(objects)), ("directions", directions), ("relationships", relations),
        ])
    }

    /// The whole `CLEVR_{split}_scenes.json`: `{"info": …, "scenes": [ … ]}`, scene i being image i.
    public static func scenesDocument(_ scenes: [CLEVRScene], split: String, width: Int, height: Int) -> String {
        let list = scenes.enumerated().map { sceneObject($1, split: split, index: $0, width: width, height: height) }
        return JSONText.object([("info", info(split: split)), ("scenes", .array(list))]).serialized(indent: 2)
    }

    /// `CLEVR_{split}_questions.json` with one counting question per image (`CLEVR.countingQuestion`,
    /// answer the object count as a string, program scene → count). These questions are not from CLEVR's
    /// templates, so `question_family_index` is −1.
    public static func countingQuestionsDocument(_ scenes: [CLEVRScene], split: String) -> String {
        let program = JSONText.array([
            .object([("inputs", .array([])), ("function", .string("scene")), ("value_inputs", .array([]))]),
            .object([("inputs", .array([.int(0)])), ("function", .string("count")), ("value_inputs", .array([]))]),
        ])
        let questions: [JSONText] = scenes.enumerated().map { index, scene in
            .object([
                ("split", .string(split)), ("image_index", .int(index)),
                ("image_filename", .string(CLEVRLayout.imageFilename(split: split, index: index))),
                ("question_index", .int(index)), ("question_family_index", .int(-1)),
                ("question", .string(CLEVR.countingQuestion)), ("answer", .string(String(scene.objects.count))),
                ("program", program),
            ])
        }
        return JSONText.object([("info", info(split: split)), ("questions", .array(questions))]).serialized(indent: 2)
    }
}
