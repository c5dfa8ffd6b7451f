import Foundation
import TVPFormats
import TVPModels
import TVPTensor

/// Prompt files: tvp's own safetensors format, and the official TVP PyTorch checkpoint.
///
/// A tvp prompt file holds one tensor, `perturbation` (the prompt's `values`), and metadata
/// `format = tvp-prompt`, `kind` (padding, pad, fixed-patch, random-patch), the kind's geometry
/// (`frame = N` for the official padding prompt), `clamp = 1` when prompted images are clamped,
/// and whatever a caller adds (the trainer's resume state). The official checkpoint
/// (`torch.save({"perturbation": FloatTensor[3, S, S]})`) holds the padding prompt's tensor
/// without metadata; its frame is read off the zero centre.
public enum PromptFile {
    public static let tensorKey = "perturbation"

    /// Writes `prompt` atomically as safetensors, with `extra` metadata besides the prompt's own.
    public static func save(_ prompt: any VisualPrompt, to path: String, metadata extra: [String: String] = [:]) throws {
        var metadata = extra
        metadata.merge(prompt.geometry) { _, own in own }
        metadata["format"] = "tvp-prompt"
        metadata["kind"] = prompt.kind
        if prompt.clampToUnitRange { metadata["clamp"] = "1" }
        try Safetensors.write([tensorKey: prompt.values.detached()], metadata: metadata, to: path)
    }

    /// The metadata of a tvp prompt file (empty for an official checkpoint).
    public static func metadata(_ path: String) throws -> [String: String] {
        if try isTorchCheckpoint(path) { return [:] }
        return try SafetensorsFile(path: path).metadata
    }

    /// Reads a padding prompt written by `save`, or an official checkpoint (by content, not by extension).
    public static func load(_ path: String) throws -> PaddingPrompt {
        let prompt = try loadPrompt(path)
        guard let padding = prompt as? PaddingPrompt else {
            throw FormatError(path, "holds a '\(prompt.kind)' prompt, not the official padding prompt")
        }
        return padding
    }

    /// Reads any prompt written by `save`, or an official checkpoint (a `PaddingPrompt`).
    public static func loadPrompt(_ path: String) throws -> any VisualPrompt {
        if try isTorchCheckpoint(path) { return try importOfficial(path) }
        let file = try SafetensorsFile(path: path)
        guard file.names.contains(tensorKey) else {
            throw FormatError(path, "no '\(tensorKey)' tensor; found \(file.names.joined(separator: ", ")) — is this a tvp prompt file?")
        }
        return try prompt(values: file.tensor(tensorKey), metadata: file.metadata, source: path)
    }

    /// The prompt that `values` and prompt-file `metadata` (`kind` and the kind's geometry, as
    /// `save` writes them) describe; `source` names where they came from in errors. The pipeline
    /// rebuilds trained prompts from its cache with it.
    public static func prompt(values: Tensor, metadata meta: [String: String], source path: String) throws -> any VisualPrompt {
        try requireFinite(values, path: path)
        func number(_ key: String) throws -> Int? {
            try meta[key].map { text in
                guard let n = Int(text) else { throw FormatError(path, "metadata \(key) '\(text)' is not a whole number") }
                return n
            }
        }
        func required(_ key: String) throws -> Int {
            guard let n = try number(key) else { throw FormatError(path, "a '\(meta["kind"] ?? "")' prompt file needs metadata '\(key)'") }
            return n
        }
        /// The `image` size of a patch prompt, refused before anything of that size is made.
        func imageSize() throws -> Int {
            let n = try required("image")
            guard n > 0 else { throw FormatError(path, "metadata image '\(n)' is not a positive image size") }
            if let problem = ReaderLimits.pixelProblem(width: n, height: n) { throw FormatError(path, "metadata image \(n): \(problem)") }
            return n
        }
        var prompt: any VisualPrompt
        switch meta["kind"] ?? "padding" {
        case "padding":
            prompt = try PaddingPrompt(perturbation: values, frame: number("frame") ?? inferFrame(values, path: path))
        case "pad":
            prompt = try PadPrompt(values: values, padSize: required("pad"))
        case "fixed-patch":
            prompt = try PatchPrompt(values: values, imageSize: imageSize(), randomPosition: false)
        case "random-patch":
            guard let seed = meta["position-seed"].flatMap(UInt64.init) else {
                throw FormatError(path, "a random-patch prompt file needs metadata 'position-seed'")
            }
            prompt = try PatchPrompt(values: values, imageSize: imageSize(), randomPosition: true, positionSeed: seed)
        case let other:
            throw FormatError(path, "unknown prompt kind '\(other)' (known: padding, pad, fixed-patch, random-patch)")
        }
        if meta["clamp"] == "1" { prompt = withClamp(prompt) }
        return prompt
    }

    /// Imports the official TVP checkpoint: a dict with `perturbation` [3, S, S] in pixel units
    /// whose centre is exactly zero; the frame width is the width of that border.
    public static func importOfficial(_ path: String) throws -> PaddingPrompt {
        let dict = try TorchCheckpoint.load(path)
        guard let values = dict[tensorKey] else {
            throw FormatError(path, "no '\(tensorKey)' entry; found \(dict.keys.sorted().joined(separator: ", "))")
        }
        try requireFinite(values, path: path)
        return try PaddingPrompt(perturbation: values, frame: inferFrame(values, path: path))
    }

    /// Throws naming the first NaN or infinite value of a prompt tensor (a prompt with one would
    /// turn every score it touches into NaN).
    static func requireFinite(_ values: Tensor, path: String) throws {
        for i in 0..<values.count where !values.data[i].isFinite {
            throw FormatError(path, "'\(tensorKey)' \(describe(values.shape)) holds \(values.data[i]) at flat index \(i); a prompt's values must be finite numbers")
        }
    }

    /// Exports to the official checkpoint format (`{"perturbation": FloatTensor[3, S, S]}`, zip
    /// `torch.save` layout) that the official `transfer_cls.py --evaluate --checkpoint` loads.
    /// Padding and pad prompts only: the official format has no place for a patch position.
    public static func exportOfficial(_ prompt: any VisualPrompt, to path: String) throws {
        guard prompt.kind == "padding" || prompt.kind == "pad" else {
            throw FormatError(path, "the official checkpoint holds a [3, S, S] frame; a '\(prompt.kind)' prompt cannot be exported to it")
        }
        try TorchCheckpointWriter.write([(tensorKey, prompt.canvas(draw: 0).values)], to: path)
    }

    /// Whether `path` holds a PyTorch checkpoint (zip or legacy pickle) rather than safetensors.
    public static func isTorchCheckpoint(_ path: String) throws -> Bool {
        switch try WeightFileFormat.detect(path: path) {
        case .torchZip?, .torchLegacy?: return true
        default: return false
        }
    }

    private static func withClamp(_ prompt: any VisualPrompt) -> any VisualPrompt {
        switch prompt {
        case var p as PaddingPrompt: p.clampToUnitRange = true; return p
        case var p as PadPrompt: p.clampToUnitRange = true; return p
        case var p as PatchPrompt: p.clampToUnitRange = true; return p
        default: return prompt
        }
    }

    /// The width of the border outside which every value is zero (the official prompt's 30 px).
    static func inferFrame(_ t: Tensor, path: String) throws -> Int {
        guard t.rank == 3, t.dim(0) == 3, t.dim(1) == t.dim(2) else {
            throw FormatError(path, "'\(tensorKey)' has shape \(describe(t.shape)); a padding prompt is [3, S, S]")
        }
        let s = t.dim(1)
        func ringIsZero(_ k: Int) -> Bool {
            // Ring k: the pixels whose distance to the nearest edge is exactly k.
            for c in 0..<3 { for y in k..<(s - k) { for x in k..<(s - k) where y == k || y == s - 1 - k || x == k || x == s - 1 - k {
                if t[c, y, x] != 0 { return false }
            } } }
            return true
        }
        var frame = 0
        while frame < s / 2 && !ringIsZero(frame) { frame += 1 }
        guard frame > 0, frame < s / 2 else {
            throw FormatError(path, "cannot find the prompt frame: \(frame == 0 ? "the outermost ring is all zero" : "no zero centre")")
        }
        return frame
    }
}
