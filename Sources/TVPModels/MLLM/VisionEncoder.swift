import TVPTensor

/// The image side of a composed MLLM: normalized images [B, 3, S, S] → features [B, T, C]
/// (T feature tokens of width C), which a `Connector` turns into LLM-input tokens.
///
/// The encoder is frozen: its weights never require grad, so backward yields only the image gradient.
public protocol VisionEncoder {
    /// S, the side of the square images the encoder takes.
    var inputSize: Int { get }
    /// The normalization the tower was trained with (a composed model applies it; the encoder does not).
    var normalization: ImageNormalization { get }
    /// C, the width of one feature token.
    var featureWidth: Int { get }
    /// T, the number of feature tokens per image.
    var tokenCount: Int { get }

    /// Features [B, T, C] of already-normalized images [B, 3, S, S]. Differentiable w.r.t. the images.
    func features(_ images: Tensor) throws -> Tensor
}

/// A CLIP ViT tapped inside (LLaVA's vision tower): all tokens after block `layer` (HF
/// `hidden_states[layer]`: 0 is the embedding after ln_pre, negative counts from the end), without
/// ln_post or projection, with or without the class token. LLaVA: layer −2, class token dropped
/// (`vision_feature_select_strategy = "default"`; "full" keeps it).
public struct CLIPVisionEncoder: VisionEncoder {
    public let tower: VisionTransformer
    /// The hidden state taken, as HF indexes `hidden_states` (−2: the penultimate block's output).
    public let layer: Int
    /// Whether the class token stays in front of the patch tokens.
    public let keepsClassToken: Bool
    public let normalization: ImageNormalization

    /// Throws when `layer` is outside −(L+1)…L for a tower of L blocks.
    public init(tower: VisionTransformer, layer: Int = -2, keepsClassToken: Bool = false,
                normalization: ImageNormalization = .clip) throws {
        let count = tower.blocks.count
        try require(layer >= -(count + 1) && layer <= count, "CLIPVisionEncoder",
                    "layer \(layer) is outside -\(count + 1)...\(count) for a tower of \(count) blocks")
        self.tower = tower
        self.layer = layer
        self.keepsClassToken = keepsClassToken
        self.normalization = normalization
    }

    public var inputSize: Int { tower.config.imageSize }
    public var featureWidth: Int { tower.config.width }
    public var tokenCount: Int { tower.config.tokens - (keepsClassToken ? 0 : 1) }

    /// [B, 3, S, S] → hidden state [B, 1 + g², D] → [B, g², D] without the class token.
    public func features(_ images: Tensor) throws -> Tensor {
        let hidden = try tower.hiddenState(images, layer: layer)
        if keepsClassToken { return hidden }
        return try slice(hidden, axis: 1, range: 1..<hidden.dim(1))
    }
}

/// An EfficientNet-Lite tapped at one activation: a feature map [B, C, H, W] becomes H·W tokens
/// [B, H·W, C] (row-major over the grid); the pooled vector or the logits [B, C] become one token.
public struct EfficientNetVisionEncoder: VisionEncoder {
    public let network: EfficientNetLite
    public let tap: EfficientNetLite.Tap
    public let inputSize: Int
    public let normalization: ImageNormalization
    public let featureWidth: Int
    public let tokenCount: Int

    /// The lite preprocessing as an `ImageNormalization`: (x − 127/255) / (128/255) per channel.
    public static let liteNormalization = ImageNormalization(
        mean: Array(repeating: EfficientNetLite.inputMean, count: 3), std: Array(repeating: EfficientNetLite.inputStd, count: 3))

    /// `inputSize` defaults to the resolution the variant was trained at. Throws when the tap does
    /// not exist in this network.
    public init(network: EfficientNetLite, tap: EfficientNetLite.Tap = .head, inputSize: Int? = nil,
                normalization: ImageNormalization = EfficientNetVisionEncoder.liteNormalization) throws {
        let op = "EfficientNetVisionEncoder"
        let c = network.config, specs = c.blocks, size = inputSize ?? c.imageSize
        try require(size > 0, op, "input size \(size) must be positive")
        // The last block the tap runs (−1: stem only; specs.count − 1: every block) and its width.
        let lastBlock: Int, channels: Int, spatial: Bool
        switch tap {
        case .stem: (lastBlock, channels, spatial) = (-1, c.stemChannels, true)
        case .block(let i):
            try require(i >= 0 && i < specs.count, op, "block tap \(i) is outside 0..<\(specs.count)")
            (lastBlock, channels, spatial) = (i, specs[i].outChannels, true)
        case .stage(let s):
            try require(s >= 0 && s < c.stageEnds.count, op, "stage tap \(s) is outside 0..<\(c.stageEnds.count)")
            (lastBlock, channels, spatial) = (c.stageEnds[s], specs[c.stageEnds[s]].outChannels, true)
        case .head: (lastBlock, channels, spatial) = (specs.count - 1, c.headChannels, true)
        case .pooled: (lastBlock, channels, spatial) = (specs.count - 1, c.headChannels, false)
        case .logits: (lastBlock, channels, spatial) = (specs.count - 1, c.classes, false)
        }
        // TF "SAME" convolutions: each stride s maps a side n to ⌈n / s⌉ (the stem has stride 2).
        var side = (size + 1) / 2
        if lastBlock >= 0 { for spec in specs[0...lastBlock] { side = (side + spec.stride - 1) / spec.stride } }
        self.network = network
        self.tap = tap
        self.inputSize = size
        self.normalization = normalization
        featureWidth = channels
        tokenCount = spatial ? side * side : 1
    }

    /// [B, 3, S, S] → tap [B, C, H, W] → [B, H·W, C] (or [B, C] → [B, 1, C]).
    public func features(_ images: Tensor) throws -> Tensor {
        try require(images.rank == 4 && images.dim(2) == inputSize && images.dim(3) == inputSize, "EfficientNetVisionEncoder",
                    "images \(describe(images.shape)) should be [B, 3, \(inputSize), \(inputSize)]")
        let map = try network.features(images, taps: [tap])[0]
        let b = map.dim(0)
        if map.rank == 2 { return try map.reshaped([b, 1, map.dim(1)]) }
        return try map.reshaped([b, map.dim(1), map.dim(2) * map.dim(3)]).transposed(1, 2)
    }
}
