import TVPData
import TVPTensor

/// Pictures of prompts, as the paper's figures show them.
public enum PromptImage {
    /// The prompt alone [3, S, S] in [0, 1]: the values it adds, mapped linearly so the smallest
    /// value over the covered pixels (all channels) is 0 and the largest 1; pixels it does not
    /// cover are white. A constant prompt maps to mid-grey.
    public static func frame(_ prompt: any VisualPrompt, draw: Int = 0) throws -> Tensor {
        let (values, covered) = try prompt.canvas(draw: draw)
        let v = values.data, c = covered.data
        var low = Float.infinity, high = -Float.infinity
        for i in 0..<values.count where c[i] != 0 { low = min(low, v[i]); high = max(high, v[i]) }
        let out = Tensor(repeating: 1, shape: values.shape)
        let span = high - low
        for i in 0..<values.count where c[i] != 0 { out.data[i] = span > 0 ? (v[i] - low) / span : 0.5 }
        return out
    }

    /// The prompt applied to one image [3, H, W] in [0, 1], as the surrogate sees it before its
    /// normalization (the official test pipeline, then the prompt), clamped to [0, 1] for display.
    public static func applied(_ prompt: any VisualPrompt, to image: Tensor, draw: Int = 0) throws -> Tensor {
        try require(image.rank == 3 && image.dim(0) == 3, "PromptImage.applied", "image \(describe(image.shape)) should be [3, H, W]")
        let batch = try ImagePipeline.tvpTest(imageSize: prompt.inputSize).apply(image.reshaped([1, 3, image.dim(1), image.dim(2)]), seed: 0)
        let prompted = try withoutGrad { try prompt.apply(to: batch, draw: draw) }
        return try prompted.reshaped([3, prompt.imageSize, prompt.imageSize]).clamp(min: 0, max: 1)
    }

    /// Images [3, H, W] of one height side by side with `gap` white columns between them.
    public static func sideBySide(_ images: [Tensor], gap: Int = 8) throws -> Tensor {
        try require(!images.isEmpty && images.allSatisfy { $0.rank == 3 && $0.dim(0) == 3 && $0.dim(1) == images[0].dim(1) },
                    "PromptImage.sideBySide", "needs images [3, H, W] of one height, got \(images.map { describe($0.shape) })")
        var parts: [Tensor] = []
        for (i, image) in images.enumerated() {
            if i > 0 { parts.append(Tensor(repeating: 1, shape: [3, image.dim(1), gap])) }
            parts.append(image.detached())
        }
        return try concat(parts, axis: 2)
    }

    /// Writes the prompt alone, or (with a sample image) the prompt and the prompted sample side
    /// by side, as an 8-bit RGB PNG.
    public static func writePNG(_ prompt: any VisualPrompt, sample: Tensor? = nil, to path: String) throws {
        var picture = try frame(prompt)
        if let sample { picture = try sideBySide([picture, applied(prompt, to: sample)]) }
        try PNGCodec.write(picture, to: path)
    }
}
