import TVPTensor

/// Labelled images served a batch at a time, whether they sit in memory (`ImageClassificationSet`)
/// or are decoded from files on demand (`LabeledImageFiles`), so training and evaluation code can
/// take either.
public protocol LabeledImageBatches {
    var count: Int { get }
    var classNames: [String] { get }
    /// The images [B, C, H, W] in [0, 1] and labels at `indices`.
    func load(_ indices: [Int]) throws -> (images: Tensor, labels: [Int])
}

extension LabeledImageFiles: LabeledImageBatches {}

extension ImageClassificationSet: LabeledImageBatches {
    /// Rows `indices` of the in-memory images (a copy) and their labels.
    public func load(_ indices: [Int]) throws -> (images: Tensor, labels: [Int]) {
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw TensorError("ImageClassificationSet.load", "index \(bad) is outside 0..<\(count)")
        }
        return (try gatherRows(images, indices), indices.map { labels[$0] })
    }
}
