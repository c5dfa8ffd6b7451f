import TVPTensor

/// Where a prompt of each `PromptKind` lives on an image [3, S, S] and how it is added.
///
/// - padding, pad: a frame of F px (the learnable tensor is [3, S, S]; the centre is masked off);
/// - fixed-patch: an F×F square at the top-left ([3, S, S], masked outside the square);
/// - random-patch: an F×F square ([3, F, F]) placed in each image at a position drawn from
///   (seed, sample index), so a sample sees the same position on every pass.
///
/// Prompts are added in pixel units before the model's normalization, without clamping (as the
/// official code does).
public struct PromptLayout: Sendable, Equatable {
    public let spec: PromptSpec

    public init(_ spec: PromptSpec) { self.spec = spec }

    /// The shape of the learnable tensor.
    public var shape: [Int] {
        spec.kind == .randomPatch ? [3, spec.frame, spec.frame] : [3, spec.imageSize, spec.imageSize]
    }

    /// 1 where the prompt learns, 0 elsewhere, in `shape`.
    public func mask() -> Tensor {
        let s = shape[1], f = spec.frame
        let m = Tensor(zeros: shape)
        for c in 0..<3 { for y in 0..<s { for x in 0..<s {
            let inside: Bool
            switch spec.kind {
            case .padding, .pad: inside = y < f || y >= s - f || x < f || x >= s - f
            case .fixedPatch: inside = y < f && x < f
            case .randomPatch: inside = true
            }
            if inside { m.data[(c * s + y) * s + x] = 1 }
        } } }
        return m
    }

    /// How many values are learnable.
    public var learnableCount: Int {
        let s = spec.imageSize, f = spec.frame
        switch spec.kind {
        case .padding, .pad: return 3 * (s * s - (s - 2 * f) * (s - 2 * f))
        case .fixedPatch, .randomPatch: return 3 * f * f
        }
    }

    /// The top-left corner of sample `index`'s random patch.
    public func patchOrigin(index: Int, seed: Int) -> (y: Int, x: Int) {
        let room = spec.imageSize - spec.frame + 1
        var generator = RandomGenerator(seed: UInt64(bitPattern: Int64(seed)) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
        return (Int(generator.next() % UInt64(room)), Int(generator.next() % UInt64(room)))
    }

    /// images [B, 3, S, S] + the prompt (masked); `indices` are the samples' positions in their
    /// split (random-patch positions depend on them). Differentiable with respect to `prompt`.
    public func apply(_ prompt: Tensor, to images: Tensor, indices: [Int], seed: Int) throws -> Tensor {
        let s = spec.imageSize
        try require(images.rank == 4 && images.dim(1) == 3 && images.dim(2) == s && images.dim(3) == s && images.dim(0) == indices.count,
                    "PromptLayout.apply", "images \(describe(images.shape)) should be [\(indices.count), 3, \(s), \(s)]")
        try require(prompt.shape == shape, "PromptLayout.apply", "prompt \(describe(prompt.shape)) should be \(describe(shape))")
        guard spec.kind == .randomPatch else { return try images + prompt * mask() }
        let f = spec.frame
        let placed = try indices.map { index -> Tensor in
            let origin = patchOrigin(index: index, seed: seed)
            return try pad(prompt, padding: [(origin.y, s - f - origin.y), (origin.x, s - f - origin.x)]).reshaped([1, 3, s, s])
        }
        return try images + concat(placed, axis: 0)
    }

    /// A picture of the prompt for reports, [3, S, S] in [0, 1]: values scaled by the largest
    /// magnitude around mid-grey (0 → 0.5); a random patch is drawn at the top-left of a grey canvas.
    public func picture(_ prompt: Tensor) throws -> Tensor {
        try require(prompt.shape == shape, "PromptLayout.picture", "prompt \(describe(prompt.shape)) should be \(describe(shape))")
        let s = spec.imageSize, side = shape[1]
        var largest: Float = 0
        for i in 0..<prompt.count where prompt.data[i].isFinite { largest = max(largest, abs(prompt.data[i])) }
        let scale = largest > 0 ? 0.5 / largest : 0
        let canvas = Tensor(repeating: 0.5, shape: [3, s, s])
        for c in 0..<3 { for y in 0..<side { for x in 0..<side {
            let v = prompt.data[(c * side + y) * side + x]
            canvas.data[(c * s + y) * s + x] = v.isFinite ? 0.5 + v * scale : 0.5
        } } }
        return canvas
    }
}
