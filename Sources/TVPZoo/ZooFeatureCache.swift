import Foundation
import TVPModels
import TVPTensor

/// Frozen vision features computed once and kept on disk as safetensors, keyed by a fingerprint
/// (what tower, which tap, which images): a file whose fingerprint differs is recomputed.
public enum ZooFeatureCache {
    /// The features stored at `path` under `fingerprint`, or nil when the file is absent or was
    /// made for another fingerprint.
    public static func read(path: String, fingerprint: String) throws -> [String: Tensor]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard file.metadata["fingerprint"] == fingerprint else { return nil }
        return try file.tensors()
    }

    /// Writes `features` to `path` (F32) with `fingerprint`, creating the folder.
    public static func write(_ features: [String: Tensor], path: String, fingerprint: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Safetensors.write(features, metadata: ["fingerprint": fingerprint], to: path)
    }

    /// The cached features, or `compute()`'s, written to the cache first.
    public static func readOrCompute(path: String, fingerprint: String, log: (String) -> Void = { print($0) },
                                     compute: () throws -> [String: Tensor]) throws -> [String: Tensor] {
        if let cached = try read(path: path, fingerprint: fingerprint) {
            log("  features: cached \(path)")
            return cached
        }
        let start = Date()
        let features = try withoutGrad { try compute() }
        try write(features, path: path, fingerprint: fingerprint)
        log(String(format: "  features: computed %@ in %.1f s", path, Date().timeIntervalSince(start)))
        return features
    }

    /// EfficientNet features of a corpus's images (framed as the zoo frames them) through the lite
    /// normalization: every tap in one pass, tokens [N, T, C] (named by `tapName`).
    public static func efficientNet(_ network: EfficientNetLite, corpus: ZooCorpus, taps: [EfficientNetLite.Tap],
                                    batchSize: Int = 32) throws -> [String: Tensor] {
        try corpus.encoded(batchSize: batchSize) { framed in
            let maps = try network.features(EfficientNetVisionEncoder.liteNormalization(framed), taps: taps)
            var out: [String: Tensor] = [:]
            for (tap, map) in zip(taps, maps) {
                let b = map.dim(0)
                out[tapName(tap)] = map.rank == 2 ? try map.reshaped([b, 1, map.dim(1)])
                    : try map.reshaped([b, map.dim(1), map.dim(2) * map.dim(3)]).transposed(1, 2)
            }
            return out
        }
    }

    /// Features [N, T, C] of a corpus's framed images through any encoder (normalization included).
    public static func encoder(_ encoder: any VisionEncoder, corpus: ZooCorpus, batchSize: Int = 32) throws -> Tensor {
        try corpus.encoded(batchSize: batchSize) { framed in
            ["features": try encoder.features(encoder.normalization(framed))]
        }["features"]!
    }

    /// A stable name of a tap ("head", "stage4", "pooled", …).
    public static func tapName(_ tap: EfficientNetLite.Tap) -> String {
        switch tap {
        case .stem: return "stem"
        case .block(let i): return "block\(i)"
        case .stage(let s): return "stage\(s)"
        case .head: return "head"
        case .pooled: return "pooled"
        case .logits: return "logits"
        }
    }
}
