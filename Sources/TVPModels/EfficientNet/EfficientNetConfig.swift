import TVPTensor

// The shape of an EfficientNet-Lite: a fixed 32-channel stem, seven stages of MBConv blocks scaled
// by a width and a depth multiplier, a fixed 1280-channel head. The rules below follow the
// reference port (PyPI efficientnet_lite_pytorch 0.1.0, `utils.efficientnet_lite`, `round_filters`,
// `round_repeats`, and `EfficientNet.__init__` with fix_head_stem = True):
//   - stage channels: round_filters(c) = max(8, ⌊c·w + 4⌋ / 8 · 8), plus 8 if that lost more than 10%;
//   - stage repeats: ⌈d · r⌉, except the first and the last stage, which keep their base repeats;
//   - the stem (32), the first stage's input (32) and the head (1280) are never scaled.

extension EfficientNetLite {
    /// One stage: `repeats` MBConv blocks with the same kernel and expansion; the first block has
    /// `stride` and maps `inChannels` → `outChannels`, the others have stride 1 and keep `outChannels`.
    public struct Stage: Equatable, Sendable {
        public var repeats: Int, kernel: Int, stride: Int, expandRatio: Int, inChannels: Int, outChannels: Int

        public init(repeats: Int, kernel: Int, stride: Int, expandRatio: Int, inChannels: Int, outChannels: Int) {
            (self.repeats, self.kernel, self.stride, self.expandRatio, self.inChannels, self.outChannels) =
                (repeats, kernel, stride, expandRatio, inChannels, outChannels)
        }
    }

    /// One block as built: where it sits and what it maps.
    public struct BlockSpec: Equatable, Sendable {
        public var stage: Int, kernel: Int, stride: Int, inChannels: Int, expandedChannels: Int, outChannels: Int
        /// The reference adds the block's input back when the block keeps the size (stride 1, in == out).
        public var hasSkip: Bool { stride == 1 && inChannels == outChannels }
        /// False for expansion ratio 1: the block then has no `_expand_conv`.
        public var hasExpansion: Bool { expandedChannels != inChannels }
    }

    public struct Config: Equatable, Sendable {
        public var inputChannels: Int = 3
        public var stemChannels: Int
        public var stages: [Stage]
        public var headChannels: Int
        public var classes: Int
        /// The resolution the variant was trained at. The model accepts any size (TF "SAME" padding is
        /// computed from the actual input, which equals the reference's static padding at this size).
        public var imageSize: Int
        /// BatchNorm epsilon of every layer (TF's 1e-3, not PyTorch's 1e-5).
        public var batchNormEps: Float = 1e-3

        public init(stemChannels: Int, stages: [Stage], headChannels: Int, classes: Int, imageSize: Int) {
            (self.stemChannels, self.stages, self.headChannels, self.classes, self.imageSize) =
                (stemChannels, stages, headChannels, classes, imageSize)
        }

        /// The unscaled EfficientNet-Lite stage table (EfficientNet-B0's, without squeeze-excite):
        /// r1_k3_s1_e1_32→16, r2_k3_s2_e6_16→24, r2_k5_s2_e6_24→40, r3_k3_s2_e6_40→80,
        /// r3_k5_s1_e6_80→112, r4_k5_s2_e6_112→192, r1_k3_s1_e6_192→320.
        public static let baseStages: [Stage] = [
            Stage(repeats: 1, kernel: 3, stride: 1, expandRatio: 1, inChannels: 32, outChannels: 16),
            Stage(repeats: 2, kernel: 3, stride: 2, expandRatio: 6, inChannels: 16, outChannels: 24),
            Stage(repeats: 2, kernel: 5, stride: 2, expandRatio: 6, inChannels: 24, outChannels: 40),
            Stage(repeats: 3, kernel: 3, stride: 2, expandRatio: 6, inChannels: 40, outChannels: 80),
            Stage(repeats: 3, kernel: 5, stride: 1, expandRatio: 6, inChannels: 80, outChannels: 112),
            Stage(repeats: 4, kernel: 5, stride: 2, expandRatio: 6, inChannels: 112, outChannels: 192),
            Stage(repeats: 1, kernel: 3, stride: 1, expandRatio: 6, inChannels: 192, outChannels: 320),
        ]

        /// `round_filters`: channels scaled by `width` and rounded to a multiple of `divisor`
        /// (nearest, at least `divisor`, never more than 10% below the scaled value).
        public static func roundFilters(_ filters: Int, width: Double, divisor: Int = 8) -> Int {
            let scaled = Double(filters) * width
            var rounded = max(divisor, Int(scaled + Double(divisor) / 2) / divisor * divisor)
            if Double(rounded) < 0.9 * scaled { rounded += divisor }
            return rounded
        }

        /// `round_repeats`: ⌈depth · repeats⌉.
        public static func roundRepeats(_ repeats: Int, depth: Double) -> Int {
            Int((depth * Double(repeats)).rounded(.up))
        }

        /// An EfficientNet-Lite scaled by `width` and `depth` from `baseStages`, with the stem, the
        /// first stage's input, the head and the first and last stages' repeats left unscaled.
        public static func lite(width: Double, depth: Double, imageSize: Int, classes: Int = 1000) -> Config {
            let last = baseStages.count - 1
            let stages = baseStages.enumerated().map { i, s -> Stage in
                var t = s
                t.inChannels = i == 0 ? 32 : roundFilters(s.inChannels, width: width)
                t.outChannels = roundFilters(s.outChannels, width: width)
                t.repeats = i == 0 || i == last ? s.repeats : roundRepeats(s.repeats, depth: depth)
                return t
            }
            return Config(stemChannels: 32, stages: stages, headChannels: 1280, classes: classes, imageSize: imageSize)
        }

        /// The five variants as (width, depth, resolution): lite0 (1.0, 1.0, 224), lite1 (1.0, 1.1, 240),
        /// lite2 (1.1, 1.2, 260), lite3 (1.2, 1.4, 280), lite4 (1.4, 1.8, 300).
        public static let lite0 = lite(width: 1.0, depth: 1.0, imageSize: 224)
        public static let lite1 = lite(width: 1.0, depth: 1.1, imageSize: 240)
        public static let lite2 = lite(width: 1.1, depth: 1.2, imageSize: 260)
        public static let lite3 = lite(width: 1.2, depth: 1.4, imageSize: 280)
        public static let lite4 = lite(width: 1.4, depth: 1.8, imageSize: 300)
        public static let family: [Config] = [lite0, lite1, lite2, lite3, lite4]

        /// Every block in checkpoint order (`_blocks.0`, `_blocks.1`, …).
        public var blocks: [BlockSpec] {
            stages.enumerated().flatMap { s, stage in
                (0..<stage.repeats).map { r in
                    let input = r == 0 ? stage.inChannels : stage.outChannels
                    return BlockSpec(stage: s, kernel: stage.kernel, stride: r == 0 ? stage.stride : 1, inChannels: input,
                                     expandedChannels: input * stage.expandRatio, outChannels: stage.outChannels)
                }
            }
        }

        /// Index in `blocks` of each stage's last block.
        public var stageEnds: [Int] {
            var total = 0
            return stages.map { total += $0.repeats; return total - 1 }
        }

        /// Multiply-adds ×2 of one image's forward pass at `size` (convolutions and classifier).
        public func forwardFLOPs(size: Int? = nil) -> Double {
            var side = ((size ?? imageSize) + 1) / 2
            var macs = Double(side * side * stemChannels * inputChannels * 9)
            for b in blocks {
                let before = Double(side * side)
                side = (side + b.stride - 1) / b.stride
                let after = Double(side * side)
                if b.hasExpansion { macs += before * Double(b.inChannels * b.expandedChannels) }
                macs += after * Double(b.expandedChannels * b.kernel * b.kernel + b.expandedChannels * b.outChannels)
            }
            macs += Double(side * side * (stages.last?.outChannels ?? 0) * headChannels) + Double(headChannels * classes)
            return 2 * macs
        }
    }
}
