import TVPTensor

// Reading an EfficientNet-Lite's configuration from its checkpoint (EfficientNet-PyTorch names):
// channels, kernels and expansion ratios come from the weight shapes; strides are not stored, so
// they come from a stride table (the lite table's by default).

extension EfficientNetLite.Config {
    /// The configuration of the checkpoint in `weights` (keys under `prefix`).
    ///
    /// Blocks are grouped into stages by their channels: a block whose input and output widths differ
    /// starts a stage, one that keeps its width continues the current stage. That holds for every
    /// lite variant; a custom model whose stage starts without changing width needs an explicit config.
    /// `strides` gives each stage's first stride (default: `baseStages`' strides). `imageSize`
    /// defaults to the matching lite variant's resolution, or 224 when none matches.
    public static func inferred(from weights: Weights, prefix p: String = "", strides: [Int]? = nil,
                                imageSize: Int? = nil) throws -> EfficientNetLite.Config {
        let op = "EfficientNetLite"
        let stem = try weights.take(p + "_conv_stem.weight", shape: [-1, -1, 3, 3])
        var blocks: [EfficientNetLite.BlockSpec] = []
        while weights.contains(p + "_blocks.\(blocks.count)._depthwise_conv.weight") {
            let b = p + "_blocks.\(blocks.count)."
            let depthwise = try weights.take(b + "_depthwise_conv.weight", shape: [-1, 1, -1, -1])
            let expanded = depthwise.dim(0), kernel = depthwise.dim(2)
            try require(depthwise.dim(3) == kernel, op, "\(weights.source): \(b)_depthwise_conv.weight \(describe(depthwise.shape)) is not square")
            let project = try weights.take(b + "_project_conv.weight", shape: [-1, expanded, 1, 1])
            let input = try weights.takeIfPresent(b + "_expand_conv.weight", shape: [expanded, -1, 1, 1])?.dim(1) ?? expanded
            try require(expanded % input == 0, op, "\(weights.source): \(b)_expand_conv widens \(input) to \(expanded) channels, not a whole ratio")
            let stage = blocks.isEmpty ? 0 : (input != project.dim(0) ? blocks[blocks.count - 1].stage + 1 : blocks[blocks.count - 1].stage)
            blocks.append(EfficientNetLite.BlockSpec(stage: stage, kernel: kernel, stride: 1, inChannels: input,
                                                    expandedChannels: expanded, outChannels: project.dim(0)))
        }
        try require(!blocks.isEmpty, op, "\(weights.source): no '\(p)_blocks.0._depthwise_conv.weight'; not an EfficientNet-PyTorch checkpoint")
        let stageCount = blocks[blocks.count - 1].stage + 1
        let strideTable = strides ?? baseStages.map(\.stride)
        try require(strideTable.count >= stageCount, op,
                    "\(weights.source): \(stageCount) stages found but only \(strideTable.count) strides known; pass strides: or an explicit config")
        var stages: [EfficientNetLite.Stage] = []
        for s in 0..<stageCount {
            let members = blocks.filter { $0.stage == s }
            let first = members[0]
            for m in members.dropFirst() {
                try require(m.kernel == first.kernel && m.expandedChannels == m.inChannels * (first.expandedChannels / first.inChannels), op,
                            "\(weights.source): stage \(s) mixes kernels or expansion ratios; pass an explicit config")
            }
            stages.append(EfficientNetLite.Stage(repeats: members.count, kernel: first.kernel, stride: strideTable[s],
                                                 expandRatio: first.expandedChannels / first.inChannels,
                                                 inChannels: first.inChannels, outChannels: first.outChannels))
        }
        let head = try weights.take(p + "_conv_head.weight", shape: [-1, stages[stages.count - 1].outChannels, 1, 1])
        let fc = try weights.take(p + "_fc.weight", shape: [-1, head.dim(0)])
        var config = EfficientNetLite.Config(stemChannels: stem.dim(0), stages: stages, headChannels: head.dim(0),
                                             classes: fc.dim(0), imageSize: 224)
        config.inputChannels = stem.dim(1)
        if let imageSize {
            config.imageSize = imageSize
        } else if let known = family.first(where: { $0.stages == stages && $0.stemChannels == config.stemChannels && $0.headChannels == config.headChannels }) {
            config.imageSize = known.imageSize
        }
        return config
    }
}
