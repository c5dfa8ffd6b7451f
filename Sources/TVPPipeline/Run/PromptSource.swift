import Foundation
import TVPEngine
import TVPFormats
import TVPModels
import TVPPrompting

/// Where `tvp-run prompt show|export` reads a trained prompt from:
///
/// - a prompt file (`PromptFile`): a run folder's `prompt-TASK-VARIANT.safetensors`, a file of
///   `prompt import`, or an official checkpoint;
/// - a `train-prompt` stage's cache entry: its folder, or the `payload.safetensors` inside it (the
///   prompt's values are the `prompt` tensor, its kind and geometry are in `result.json`).
///
/// Anything else is refused with what was found and what to name instead.
public enum PromptSource {
    static let howToName = "name a run folder's prompt-TASK-VARIANT.safetensors, or a train[TASK/VARIANT] entry of the stage cache " +
        "(`tvp-run cache ls` lists them; the entry's folder or its payload.safetensors)"

    public static func load(_ path: String) throws -> any VisualPrompt {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(path, "no such file or folder; \(howToName)")
        }
        if isDirectory.boolValue {
            if FileManager.default.fileExists(atPath: path + "/" + StageCache.payloadFile) {
                return try cachedPrompt(entry: path)
            }
            let prompts = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter { $0.hasPrefix("prompt-") && $0.hasSuffix(".safetensors") }.sorted()
            let inside = prompts.isEmpty ? "it holds no prompt-*.safetensors and no cache payload"
                : "it holds \(prompts.count) prompts (\(prompts.joined(separator: ", "))): name one"
            throw FormatError(path, "is a folder; \(inside)")
        }
        if try PromptFile.isTorchCheckpoint(path) { return try PromptFile.loadPrompt(path) }
        let file = try SafetensorsFile(path: path)
        if file.names.contains(PromptFile.tensorKey) { return try PromptFile.loadPrompt(path) }
        if let stage = file.metadata["stage"] {
            guard file.names.contains("prompt") else {
                throw FormatError(path, "is the cache payload of stage '\(stage)', which holds no trained prompt " +
                                  "(tensors: \(file.names.joined(separator: ", "))); \(howToName)")
            }
            return try cachedPrompt(entry: (path as NSString).deletingLastPathComponent)
        }
        throw FormatError(path, "holds neither a '\(PromptFile.tensorKey)' tensor (a tvp prompt file) nor a train-prompt " +
                          "cache payload; found \(file.names.joined(separator: ", ")); \(howToName)")
    }

    /// The prompt of a `train-prompt` cache entry folder.
    static func cachedPrompt(entry folder: String) throws -> any VisualPrompt {
        let name = (folder as NSString).lastPathComponent
        guard let key = StageKey(hex: name) else {
            throw FormatError(folder, "is not a stage cache entry (its name is not a 64-digit key); \(howToName)")
        }
        let payload = StagePayload(key: key, directory: folder)
        guard try payload.tensorNames().contains("prompt") else {
            throw FormatError(folder, "is a cache entry without a trained prompt (tensors: \(try payload.tensorNames().joined(separator: ", "))); \(howToName)")
        }
        return try trainedPrompt(payload, stage: name)
    }
}
