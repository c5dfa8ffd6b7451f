import Foundation
import TVPModels
import TVPTensor

/// Frozen vision features of a corpus's images, computed once per build (each a stage of the zoo
/// build, cached by the pipeline engine) and read by the connectors' and the guide's training.
public enum ZooFeatureCache {
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

    /// The tap `tapName` calls `name`, or nil.
    public static func tap(named name: String) -> EfficientNetLite.Tap? {
        let fixed: [EfficientNetLite.Tap] = [.stem, .head, .pooled, .logits]
        if let tap = fixed.first(where: { tapName($0) == name }) { return tap }
        for (prefix, make) in [("block", EfficientNetLite.Tap.block), ("stage", EfficientNetLite.Tap.stage)] where name.hasPrefix(prefix) {
            if let index = Int(name.dropFirst(prefix.count)) { return make(index) }
        }
        return nil
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
