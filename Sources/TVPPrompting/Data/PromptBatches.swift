import TVPData
import TVPTensor

/// One batch for prompt training or evaluation: images with the text each model is given and the
/// answer it should produce.
public struct PromptBatch {
    /// Images [B, 3, H, W] in [0, 1], before any resizing.
    public var images: Tensor
    /// The text after the image (the classification template, or the task question).
    public var questions: [String]
    /// The index of each image's answer in its source's `classNames`.
    public var labels: [Int]
    /// The answer text of each image (its class name, or the right candidate answer).
    public var answers: [String]

    public init(images: Tensor, questions: [String], labels: [Int], answers: [String]) throws {
        try require(images.rank == 4 && images.dim(1) == 3, "PromptBatch", "images \(describe(images.shape)) should be [B, 3, H, W]")
        let b = images.dim(0)
        try require(questions.count == b && labels.count == b && answers.count == b, "PromptBatch",
                    "\(b) images with \(questions.count) questions, \(labels.count) labels and \(answers.count) answers")
        self.images = images
        self.questions = questions
        self.labels = labels
        self.answers = answers
    }

    public var count: Int { images.dim(0) }
}

/// Where prompt training and evaluation take their batches from.
public protocol PromptBatchSource {
    var count: Int { get }
    /// The answer of each label: class names for classification, the candidate answers for
    /// multiple-choice questions. Evaluation scores every one of them; TSE captions name them.
    var classNames: [String] { get }
    /// The samples at `indices`.
    func batch(_ indices: [Int]) throws -> PromptBatch
}

/// Classification as the official code trains it: every image gets the same text,
/// "This is a photo of a", and its class name as the answer.
public struct ClassificationPrompts: PromptBatchSource {
    /// The official template (`Pertubation_LLM.forward` in `transfer_cls.py`: `prompt = "This is a photo of a"`).
    public static let officialQuestion = "This is a photo of a"

    public let source: any LabeledImageBatches
    public let question: String

    public init(_ source: any LabeledImageBatches, question: String = ClassificationPrompts.officialQuestion) {
        self.source = source
        self.question = question
    }

    public var count: Int { source.count }
    public var classNames: [String] { source.classNames }

    public func batch(_ indices: [Int]) throws -> PromptBatch {
        let (images, labels) = try source.load(indices)
        return try PromptBatch(images: expandGrayToRGB(images), questions: Array(repeating: question, count: labels.count),
                               labels: labels, answers: labels.map { source.classNames[$0] })
    }
}

/// Multiple-choice questions (CLEVR counting, Hateful Memes, POPE): each sample's own question,
/// the right candidate as the answer.
public struct MultipleChoicePrompts: PromptBatchSource {
    public let questionSet: MultipleChoiceSet

    public init(_ set: MultipleChoiceSet) { questionSet = set }

    public var count: Int { questionSet.count }
    public var classNames: [String] { questionSet.candidates }

    public func batch(_ indices: [Int]) throws -> PromptBatch {
        let (images, samples) = try questionSet.load(indices)
        return try PromptBatch(images: images, questions: samples.map(\.question), labels: samples.map(\.answer),
                               answers: samples.map { questionSet.candidates[$0.answer] })
    }
}
