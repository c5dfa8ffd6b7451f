import Foundation
import TVPModels
import TVPTensor

/// Prompt files: tvp's own safetensors format, and the official TVP PyTorch checkpoint.
///
/// A tvp prompt file holds one tensor, `perturbation` [3, S, S], and metadata `format = tvp-prompt`,
/// `kind = padding`, `frame = N`. The official checkpoint (`torch.save({"perturbation": …})`)
/// holds the same tensor without metadata; its frame is read off the zero centre.
public enum PromptFile {
    public static let tensorKey = "perturbation"

    /// Writes `prompt` atomically as safetensors.
    public static func save(_ prompt: PaddingPrompt, to path: String) throws {
        try Safetensors.write([tensorKey: prompt.perturbation.detached()],
                              metadata: ["format": "tvp-prompt", "kind": "padding", "frame": String(prompt.frame)], to: path)
    }

    /// Reads a prompt written by `save`, or an official checkpoint (by content, not by extension).
    public static func load(_ path: String) throws -> PaddingPrompt {
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)).read(upToCount: 4) ?? Data()
        let isTorch = head.starts(with: [0x50, 0x4b, 0x03, 0x04]) || head.first == 0x80
        if isTorch { return try importOfficial(path) }
        let file = try SafetensorsFile(path: path)
        guard file.names.contains(tensorKey) else {
            throw FormatError(path, "no '\(tensorKey)' tensor; found \(file.names.joined(separator: ", ")) — is this a tvp prompt file?")
        }
        let values = try file.tensor(tensorKey)
        let frame = try file.metadata["frame"].map { text -> Int in
            guard let n = Int(text) else { throw FormatError(path, "metadata frame '\(text)' is not a whole number") }
            return n
        } ?? inferFrame(values, path: path)
        return try PaddingPrompt(perturbation: values, frame: frame)
    }

    /// Imports the official TVP checkpoint: a dict with `perturbation` [3, S, S] in normalized-pixel
    /// units whose centre is exactly zero; the frame width is the width of that border.
    public static func importOfficial(_ path: String) throws -> PaddingPrompt {
        let dict = try TorchCheckpoint.load(path)
        guard let values = dict[tensorKey] else {
            throw FormatError(path, "no '\(tensorKey)' entry; found \(dict.keys.sorted().joined(separator: ", "))")
        }
        return try PaddingPrompt(perturbation: values, frame: inferFrame(values, path: path))
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
