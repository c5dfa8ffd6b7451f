import Foundation
import TVPFormats

/// Renders a CLEVR-style split to disk: images, the scenes file, counting questions and POPE
/// annotations (all three settings), in the `CLEVR_v1.0` layout (see `CLEVRLayout`), so
/// `CLEVR.counting(root:split:)` and `POPE.load(annotations:imageDirectory:)` read it unchanged.
///
/// Deterministic: scene i of a split depends only on (seed, split, i), and a seed gives byte-identical
/// files. Every file is written atomically (temporary file, then rename). Resumable and idempotent:
/// `{root}/render_{split}.partial.json` records the parameters while a render runs; a rerun with the same
/// parameters keeps the images already written; at the end the parameters go to the completion marker
/// `{root}/render_{split}.json`, and a later call with the same parameters returns at once.
public enum CLEVRRenderer {
    /// Bumped whenever a change would alter rendered bytes, so old renders are not taken as current.
    public static let version = 1

    /// Everything that decides the output (written to the markers as canonical JSON).
    public struct Parameters: Equatable, Sendable {
        public var split: String
        public var count: Int
        /// Image width and height in pixels.
        public var size: Int
        public var seed: UInt64
        /// Jittered primary rays per pixel side (2 → 4 samples per pixel).
        public var supersampling: Int = 2
        /// Shadow rays to the key light per primary ray.
        public var shadowRays: Int = 4
        /// POPE positives (and negatives) per image.
        public var popePerImage: Int = 3

        var canonicalJSON: String {
            JSONText.object([
                ("version", .int(CLEVRRenderer.version)), ("split", .string(split)), ("count", .int(count)),
                ("size", .int(size)), ("seed", .string(String(seed))), ("supersampling", .int(supersampling)),
                ("shadow_rays", .int(shadowRays)), ("pope_per_image", .int(popePerImage)),
            ]).serialized(indent: 1) + "\n"
        }
    }

    /// What a call did.
    public struct Summary: Equatable, Sendable {
        /// Images rendered by this call.
        public let rendered: Int
        /// Images kept from an interrupted earlier call with the same parameters.
        public let reused: Int
        /// Whether the split was already complete with these parameters (nothing was written).
        public let alreadyComplete: Bool

        public init(rendered: Int, reused: Int, alreadyComplete: Bool) {
            self.rendered = rendered
            self.reused = reused
            self.alreadyComplete = alreadyComplete
        }
    }

    /// `{root}/render_{split}.json`, written last.
    public static func completionMarker(root: String, split: String) -> String { "\(root)/render_\(split).json" }

    /// The seed of scene `index` of `split`.
    public static func sceneSeed(seed: UInt64, split: String, index: Int) -> UInt64 {
        PixelHash.mix(seed, stableHash(split), UInt64(index))
    }

    /// Scene `index` of `split` as `render` makes it.
    public static func scene(seed: UInt64, split: String, index: Int) throws -> CLEVRScene {
        try CLEVRScene.random(seed: sceneSeed(seed: seed, split: split, index: index))
    }

    /// Renders `count` scenes of `split` as `size` × `size` images under `root`; `progress(done, count)`
    /// follows each image.
    @discardableResult
    public static func render(root: String, split: String, count: Int, size: Int = 128, seed: UInt64 = 0,
                              progress: ((Int, Int) -> Void)? = nil) throws -> Summary {
        try render(root: root, parameters: Parameters(split: split, count: count, size: size, seed: seed), progress: progress)
    }

    /// `render` with every parameter spelled out.
    @discardableResult
    public static func render(root: String, parameters p: Parameters, progress: ((Int, Int) -> Void)? = nil) throws -> Summary {
        guard !p.split.isEmpty, p.split.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw DataError(root, "split \"\(p.split)\" must be letters, digits, _ or - (it becomes part of file names)")
        }
        guard p.count >= 1, p.count <= 1_000_000, (8...4096).contains(p.size) else {
            throw DataError(root, "count \(p.count) must lie within 1…1000000 and size \(p.size) within 8…4096")
        }
        let parameters = p.canonicalJSON
        let marker = completionMarker(root: root, split: p.split)
        if let existing = FileManager.default.contents(atPath: marker) {
            if String(decoding: existing, as: UTF8.self) == parameters { return Summary(rendered: 0, reused: 0, alreadyComplete: true) }
            throw DataError(marker, "split \"\(p.split)\" was already rendered here with other parameters:\n"
                + "\(String(decoding: existing, as: UTF8.self))requested:\n\(parameters)"
                + "remove \(marker) (and the split's files) or render into another root")
        }
        let partial = "\(root)/render_\(p.split).partial.json"
        let resuming = FileManager.default.contents(atPath: partial).map { String(decoding: $0, as: UTF8.self) == parameters } ?? false
        let imageDirectory = CLEVRLayout.imageDirectory(root: root, split: p.split)
        for folder in [imageDirectory, "\(root)/scenes", "\(root)/questions", "\(root)/pope"] {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw DataError(folder, "cannot create the folder: \(error.localizedDescription)")
            }
        }
        if !resuming { try writeFileAtomically(Array(parameters.utf8), to: partial) }

        var scenes: [CLEVRScene] = []
        var rendered = 0, reused = 0
        for index in 0..<p.count {
            let seed = sceneSeed(seed: p.seed, split: p.split, index: index)
            let scene = try CLEVRScene.random(seed: seed)
            scenes.append(scene)
            let path = "\(imageDirectory)/\(CLEVRLayout.imageFilename(split: p.split, index: index))"
            if resuming && FileManager.default.fileExists(atPath: path) {
                reused += 1
            } else {
                let image = try CLEVRRaycaster.render(scene, width: p.size, height: p.size, supersampling: p.supersampling,
                                                      shadowRays: p.shadowRays, noiseSeed: seed)
                try PNGCodec.write(image, to: path)
                rendered += 1
            }
            progress?(index + 1, p.count)
        }

        try writeText(CLEVRSceneFile.scenesDocument(scenes, split: p.split, width: p.size, height: p.size),
                      CLEVRLayout.scenesPath(root: root, split: p.split))
        try writeText(CLEVRSceneFile.countingQuestionsDocument(scenes, split: p.split),
                      CLEVRLayout.questionsPath(root: root, split: p.split))
        let names = (0..<p.count).map { CLEVRLayout.imageFilename(split: p.split, index: $0) }
        for setting in POPE.settings {
            let questions = try CLEVRPOPE.questions(scenes: scenes, imageNames: names, setting: setting,
                                                    perImage: p.popePerImage, seed: p.seed ^ stableHash(p.split))
            try writeText(CLEVRPOPE.jsonLines(questions), CLEVRLayout.popePath(root: root, split: p.split, setting: setting))
        }
        try writeFileAtomically(Array(parameters.utf8), to: marker)
        unlink(partial)
        return Summary(rendered: rendered, reused: reused, alreadyComplete: false)
    }

    private static func writeText(_ text: String, _ path: String) throws {
        try writeFileAtomically(Array((text.hasSuffix("\n") ? text : text + "\n").utf8), to: path)
    }
}
