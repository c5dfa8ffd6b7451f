import Foundation
import TVPFormats
import TVPTensor

/// A Hugging Face model folder's weights: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names. Integer index buffers that every model recomputes
/// (`…position_ids`, `…token_type_ids`, stored as I64) are left out; any other non-float tensor
/// is an error naming the file and key.
public enum HuggingFaceFolder {
    /// The safetensors files of the folder, in a stable order.
    public static func safetensorsFiles(_ directory: String) throws -> [String] {
        let folder = URL(fileURLWithPath: directory)
        let index = folder.appendingPathComponent("model.safetensors.index.json").path
        guard FileManager.default.fileExists(atPath: index) else { return [folder.appendingPathComponent("model.safetensors").path] }
        guard let data = FileManager.default.contents(atPath: index),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw FormatError(index, "expected a JSON object with a \"weight_map\" of tensor name → shard file")
        }
        return Set(map.values).sorted().map { folder.appendingPathComponent($0).path }
    }

    /// Every float tensor of the folder, as Float32.
    public static func tensors(_ directory: String) throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for path in try safetensorsFiles(directory) { tensors.merge(try self.tensors(in: SafetensorsFile(path: path))) { first, _ in first } }
        return tensors
    }

    /// Every float tensor of one file, as Float32, without the integer index buffers.
    public static func tensors(in file: SafetensorsFile) throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for name in file.names {
            let isIndexBuffer = name.hasSuffix("position_ids") || name.hasSuffix("token_type_ids")
            if isIndexBuffer, !["F32", "F16", "BF16"].contains(file.entries[name]?.dtype ?? "") { continue }
            tensors[name] = try file.tensor(name)
        }
        return tensors
    }
}
