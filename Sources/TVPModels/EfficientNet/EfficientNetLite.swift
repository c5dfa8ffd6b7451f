import TVPTensor

/// EfficientNet-Lite (Tan & Le 2019; the TF "lite" variants) in the EfficientNet-PyTorch layout
/// (`_conv_stem`, `_bn0`, `_blocks.N.{_expand_conv,_bn0,_depthwise_conv,_bn1,_project_conv,_bn2}`,
/// `_conv_head`, `_bn1`, `_fc`), checked against the reference port efficientnet_lite_pytorch 0.1.0:
///
///     stem:   conv 3x3 stride 2 → BN → ReLU6                        [B, 3, S, S] → [B, 32, S/2, S/2]
///     blocks: [1x1 expand → BN → ReLU6] → depthwise kxk (stride) → BN → ReLU6 → 1x1 project → BN
///             (+ input when stride 1 and in == out); no squeeze-excite, no activation after project
///     head:   conv 1x1 → BN → ReLU6 → global average → linear        → [B, 1280] → [B, classes]
///
/// Every convolution uses TensorFlow "SAME" padding (odd padding after), BN has eps 1e-3 and is folded
/// into the convolution at load. Dropout and drop-connect are identities at inference and absent.
/// The input is normalized like TF's lite preprocessing: see `normalize`. Weights are frozen
/// constants; gradients flow to the input image.
public struct EfficientNetLite {
    /// A bias-free convolution with its batch norm folded in, applied with TF "SAME" padding.
    public struct FoldedConv {
        /// [O, C/groups, K, K] and [O].
        public let weight: Tensor, bias: Tensor
        public let stride: Int, groups: Int

        /// x [B, C, H, W] → [B, O, ⌈H/stride⌉, ⌈W/stride⌉].
        public func callAsFunction(_ x: Tensor) throws -> Tensor {
            let k = (weight.dim(2), weight.dim(3))
            let padding = Padding2D.same(height: x.dim(2), width: x.dim(3), kernel: k, stride: (stride, stride))
            return try conv2d(x, weight, bias, stride: (stride, stride), padding: padding, groups: groups)
        }
    }

    /// One MBConv block (inverted bottleneck).
    public struct Block {
        public let spec: BlockSpec
        public let expand: FoldedConv?
        public let depthwise: FoldedConv
        public let project: FoldedConv

        /// x [B, in, H, W] → [B, out, H/stride, W/stride].
        public func callAsFunction(_ x: Tensor) throws -> Tensor {
            var y = x
            if let expand { y = relu6(try expand(y)) }
            y = relu6(try depthwise(y))
            y = try project(y)
            return spec.hasSkip ? try y + x : y
        }
    }

    /// Where `features` reads an activation.
    public enum Tap: Hashable, Sendable {
        /// After stem conv, BN and ReLU6: [B, stem, S/2, S/2].
        case stem
        /// After block `i` of all blocks in checkpoint order (`_blocks.i`).
        case block(Int)
        /// After the last block of stage `s` (0..<7 for the lite variants).
        case stage(Int)
        /// After head conv, BN and ReLU6: [B, head, S/32, S/32].
        case head
        /// The head averaged over space: [B, head].
        case pooled
        /// Classifier output: [B, classes].
        case logits
    }

    public let config: Config
    public let stem: FoldedConv
    public let blocks: [Block]
    public let head: FoldedConv
    /// The `_fc` classifier: [classes, head] and [classes].
    public let classifierWeight: Tensor, classifierBias: Tensor

    /// Pixel statistics of the lite training preprocessing (TF: (pixel − 127) / 128 for 0…255 pixels).
    public static let inputMean: Float = 127 / 255, inputStd: Float = 128 / 255

    /// Pixels in [0, 1] → the model's input: (x − 127/255) / (128/255). Differentiable.
    public static func normalize(_ pixels: Tensor) -> Tensor { (pixels - inputMean) * (1 / inputStd) }

    /// Builds the model from `weights` (keys under `prefix`), folding every batch norm into its
    /// convolution. The config is read from the weight shapes (`Config.inferred`) unless given; every
    /// tensor is then checked against it. `num_batches_tracked` counters are marked as ignored.
    /// Call `weights.finish()` afterwards to reject unused keys (or use `load(_:)`).
    public init(weights w: Weights, config given: Config? = nil, prefix p: String = "") throws {
        let c = try given ?? Config.inferred(from: w, prefix: p)
        config = c
        let eps = c.batchNormEps
        func folded(_ conv: String, _ bn: String, shape: [Int], stride: Int = 1, groups: Int = 1) throws -> FoldedConv {
            let o = shape[0]
            let f = try foldBatchNorm(convWeight: w.take(p + conv + ".weight", shape: shape), convBias: nil,
                                      bnWeight: w.take(p + bn + ".weight", shape: [o]), bnBias: w.take(p + bn + ".bias", shape: [o]),
                                      mean: w.take(p + bn + ".running_mean", shape: [o]),
                                      variance: w.take(p + bn + ".running_var", shape: [o]), eps: eps)
            return FoldedConv(weight: f.weight, bias: f.bias, stride: stride, groups: groups)
        }
        stem = try folded("_conv_stem", "_bn0", shape: [c.stemChannels, c.inputChannels, 3, 3], stride: 2)
        let specs = c.blocks
        try require(specs.first?.inChannels == c.stemChannels, "EfficientNetLite",
                    "config's first block reads \(specs.first?.inChannels ?? 0) channels but the stem makes \(c.stemChannels)")
        blocks = try specs.enumerated().map { i, s in
            let b = "_blocks.\(i)."
            let expand = s.hasExpansion ? try folded(b + "_expand_conv", b + "_bn0", shape: [s.expandedChannels, s.inChannels, 1, 1]) : nil
            if !s.hasExpansion {
                try require(!w.contains(p + b + "_expand_conv.weight"), "EfficientNetLite",
                            "\(w.source): \(p + b)_expand_conv.weight present but the config says block \(i) has expansion ratio 1")
            }
            let dw = try folded(b + "_depthwise_conv", b + "_bn1", shape: [s.expandedChannels, 1, s.kernel, s.kernel],
                                stride: s.stride, groups: s.expandedChannels)
            let project = try folded(b + "_project_conv", b + "_bn2", shape: [s.outChannels, s.expandedChannels, 1, 1])
            return Block(spec: s, expand: expand, depthwise: dw, project: project)
        }
        try require(!w.contains(p + "_blocks.\(specs.count)._depthwise_conv.weight"), "EfficientNetLite",
                    "\(w.source): the checkpoint has more than the config's \(specs.count) blocks")
        head = try folded("_conv_head", "_bn1", shape: [c.headChannels, c.stages[c.stages.count - 1].outChannels, 1, 1])
        classifierWeight = try w.take(p + "_fc.weight", shape: [c.classes, c.headChannels])
        classifierBias = try w.take(p + "_fc.bias", shape: [c.classes])
        w.ignore { $0.hasPrefix(p) && $0.hasSuffix(".num_batches_tracked") }
    }

    /// Loads a PyTorch checkpoint (e.g. efficientnet-lite0-57934424.pth) and fails on any unused key.
    public static func load(_ path: String, config: Config? = nil) throws -> EfficientNetLite {
        let weights = Weights(try TorchCheckpoint.load(path), source: path)
        let model = try EfficientNetLite(weights: weights, config: config)
        try weights.finish()
        return model
    }

    /// Logits [B, classes] for a normalized image [B, C, H, W].
    public func callAsFunction(_ image: Tensor) throws -> Tensor {
        try features(image, taps: [.logits])[0]
    }

    /// The activations at `taps`, in the order asked (a tap may repeat). The pass stops after the
    /// deepest tap, so early taps cost only the layers before them.
    public func features(_ image: Tensor, taps: [Tap]) throws -> [Tensor] {
        let op = "EfficientNetLite.features"
        try require(image.rank == 4 && image.dim(1) == config.inputChannels && image.dim(2) >= 1 && image.dim(3) >= 1, op,
                    "image \(describe(image.shape)) should be [B, \(config.inputChannels), H, W] (trained at \(config.imageSize)x\(config.imageSize))")
        // Positions along the network: 0 stem, 1 + i after block i, then head, pooled, logits.
        let n = blocks.count, ends = config.stageEnds
        let positions = try taps.map { tap -> Int in
            switch tap {
            case .stem: return 0
            case .block(let i):
                try require(i >= 0 && i < n, op, "block tap \(i) is outside 0..<\(n)")
                return 1 + i
            case .stage(let s):
                try require(s >= 0 && s < ends.count, op, "stage tap \(s) is outside 0..<\(ends.count)")
                return 1 + ends[s]
            case .head: return n + 1
            case .pooled: return n + 2
            case .logits: return n + 3
            }
        }
        guard let deepest = positions.max() else { return [] }
        var found: [Int: Tensor] = [:]
        var x = relu6(try stem(image))
        found[0] = x
        for position in stride(from: 1, through: deepest, by: 1) {
            if position <= n {
                x = try blocks[position - 1](x)
            } else if position == n + 1 {
                x = relu6(try head(x))
            } else if position == n + 2 {
                x = try adaptiveAvgPool2d(x, outputSize: (1, 1)).reshaped([x.dim(0), config.headChannels])
            } else {
                x = try linear(x, classifierWeight, classifierBias)
            }
            found[position] = x
        }
        return positions.map { found[$0]! }
    }
}
