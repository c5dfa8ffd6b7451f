import TVPTensor

/// A learnable pixel-space prompt added to a surrogate's input images.
///
/// Every prompt keeps its learnable values in one leaf tensor (`values`, requires grad) and a
/// `mask` of the same shape (1 where an update may change a value, 0 where it stays). `apply`
/// returns pixel images (before the model's own normalization, which every `MultimodalModel`
/// applies inside), differentiable with respect to `values`.
///
/// Kinds: `PaddingPrompt` (the official TVP prompt: shrink, zero-pad, add a frame), `PadPrompt`
/// (Bahng et al.'s pad prompter on the full image), `FixedPatchPrompt` and `RandomPatchPrompt`
/// (Bahng et al.'s patch prompters).
public protocol VisualPrompt {
    /// The kind written to prompt files: "padding", "pad", "fixed-patch" or "random-patch".
    var kind: String { get }
    /// The side of the square images `apply` returns (the surrogate's input size).
    var imageSize: Int { get }
    /// The side of the square images `apply` takes: `imageSize`, except for the official padding
    /// prompt, which takes the shrunk image (`imageSize − 2·frame`).
    var inputSize: Int { get }
    /// The learnable values, a leaf that requires grad ([3, S, S] or [3, P, P] for patches).
    var values: Tensor { get }
    /// 1 where the update may change `values`, 0 where it stays; the shape of `values`.
    var mask: Tensor { get }
    /// Whether prompted images are clamped to [0, 1] (off in the official code and in Bahng et al.).
    var clampToUnitRange: Bool { get }
    /// Prompt-file metadata that rebuilds this prompt's geometry (besides `kind`).
    var geometry: [String: String] { get }

    /// The clean counterpart of `apply` — the same geometry without the prompt: images
    /// [B, 3, inputSize, inputSize] → [B, 3, imageSize, imageSize]. FCA compares against it.
    func clean(_ images: Tensor) throws -> Tensor

    /// Prompted pixel images [B, 3, imageSize, imageSize] from images [B, 3, inputSize, inputSize].
    /// `draw` picks the random draw of prompts with a random part (the random patch's position; the
    /// trainer passes the global step, the evaluator the batch index); other kinds ignore it.
    func apply(to images: Tensor, draw: Int) throws -> Tensor

    /// What `apply` adds, as a full-size canvas: `values` [3, S, S] (zero where the prompt does not
    /// reach) and `covered` [3, S, S] (1 where it does). For drawing and for the official export.
    func canvas(draw: Int) throws -> (values: Tensor, covered: Tensor)
}

extension VisualPrompt {
    /// How many values an update may change.
    public var learnableValueCount: Int {
        var n = 0
        let m = mask.data
        for i in 0..<mask.count where m[i] != 0 { n += 1 }
        return n
    }

    /// Copies `newValues` (the same shape) into `values` in place, e.g. when resuming.
    public func load(values newValues: Tensor) throws {
        try require(newValues.shape == values.shape, "VisualPrompt.load",
                    "values \(describe(newValues.shape)) do not fit this \(kind) prompt's \(describe(values.shape))")
        values.data.update(from: newValues.data, count: values.count)
    }

    /// Clamps prompted images to [0, 1] when the prompt asks for it.
    func finish(_ prompted: Tensor) -> Tensor {
        clampToUnitRange ? prompted.clamp(min: 0, max: 1) : prompted
    }

    /// Checks images [B, 3, inputSize, inputSize].
    func requireInput(_ images: Tensor, _ op: String) throws {
        try require(images.rank == 4 && images.dim(1) == 3 && images.dim(2) == inputSize && images.dim(3) == inputSize,
                    op, "images \(describe(images.shape)) should be [B, 3, \(inputSize), \(inputSize)]")
    }
}

/// The side S of a frame prompt's `[3, S, S]` values, after checking their shape and that a
/// `frame`-pixel frame fits inside them (errors name `op`, and the values as `name`).
func frameSide(of values: Tensor, named name: String, frame: Int, _ op: String) throws -> Int {
    try require(values.rank == 3 && values.dim(0) == 3 && values.dim(1) == values.dim(2), op,
                "\(name) \(describe(values.shape)) should be [3, S, S]")
    let size = values.dim(1)
    try require(frame > 0 && 2 * frame < size, op, "frame \(frame) does not fit an image of \(size) px")
    return size
}

/// A [3, S, S] tensor that is 1 in the border of width `frame` and 0 inside.
func frameMask(size: Int, frame: Int) -> Tensor {
    let m = Tensor(repeating: 1, shape: [3, size, size])
    for c in 0..<3 { for y in frame..<(size - frame) {
        (m.data + (c * size + y) * size + frame).update(repeating: 0, count: size - 2 * frame)
    } }
    return m
}

/// SplitMix64 of several words: one well-mixed seed per (seed, purpose, epoch, step, …), so every
/// random draw can be recomputed from its coordinates (a resumed run redraws exactly).
public func mixSeed(_ parts: UInt64...) -> UInt64 {
    var h: UInt64 = 0x243F_6A88_85A3_08D3
    for p in parts {
        h ^= p
        h &+= 0x9E37_79B9_7F4A_7C15
        var z = h
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        h = z ^ (z >> 31)
    }
    return h
}

extension RandomGenerator {
    /// Uniform in 0..<n (n > 0) by Lemire's multiply-high, the same on every platform.
    public mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }
}
