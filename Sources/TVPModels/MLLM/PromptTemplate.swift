import Foundation
import TVPTensor

/// How a composed MLLM lays out one sample's text around the visual tokens:
///
///     [BOS] beforeImage ‖ visual tokens ‖ afterImage (with {question} filled in) ‖ answer [+ answerSuffix]
///
/// Each text piece is tokenized on its own without added special tokens (as MiniGPT-4 and the
/// official TVP code tokenize the prompt pieces and the answer separately), so special-token strings
/// inside the pieces (`<|im_start|>`) still become their single ids.
public struct PromptTemplate: Equatable, Sendable {
    /// Text before the visual tokens; may hold `{question}` too.
    public var beforeImage: String
    /// Text after the visual tokens, normally the question and the answer prefix ("… ASSISTANT:").
    public var afterImage: String
    /// Appended to each teacher-forced answer in `loss` only (MiniGPT-4's `end_sym`, e.g. "###" or
    /// "<|im_end|>"); candidates in `logLikelihood` are scored without it.
    public var answerSuffix: String
    /// Whether the tokenizer's BOS id (when it has one) opens the sequence.
    public var prependsBOS: Bool

    /// The placeholder the question replaces.
    public static let questionPlaceholder = "{question}"

    public init(beforeImage: String, afterImage: String, answerSuffix: String = "", prependsBOS: Bool = false) {
        self.beforeImage = beforeImage
        self.afterImage = afterImage
        self.answerSuffix = answerSuffix
        self.prependsBOS = prependsBOS
    }

    /// SmolLM2's chat format, the image opening the user turn:
    /// "<|im_start|>user\n" IMAGE "\n{question}<|im_end|>\n<|im_start|>assistant\n" answer.
    public static let smolLM2Chat = PromptTemplate(beforeImage: "<|im_start|>user\n",
                                                   afterImage: "\n{question}<|im_end|>\n<|im_start|>assistant\n")

    /// LLaVA-1.5's conversation format: "<s>USER: <image>\n{question} ASSISTANT:" answer.
    public static let llava15 = PromptTemplate(beforeImage: "USER: ", afterImage: "\n{question} ASSISTANT:", prependsBOS: true)

    /// The two text pieces with `question` filled in.
    public func filled(question: String) -> (beforeImage: String, afterImage: String) {
        (beforeImage.replacingOccurrences(of: Self.questionPlaceholder, with: question),
         afterImage.replacingOccurrences(of: Self.questionPlaceholder, with: question))
    }
}

/// One sample's prompt as token ids on either side of the visual tokens.
public struct PromptTokens: Equatable, Sendable {
    public var beforeImage: [Int]
    public var afterImage: [Int]

    public init(beforeImage: [Int], afterImage: [Int]) {
        self.beforeImage = beforeImage
        self.afterImage = afterImage
    }

    /// Splits HF-style input ids at the image placeholder: exactly one contiguous run of
    /// `imageTokenID` (one `<image>` before the processor expands it, or the T copies after), which
    /// the model replaces by the T visual tokens (LLaVA's `masked_scatter` of the image features).
    public init(ids: [Int], imageTokenID: Int) throws {
        let positions = ids.indices.filter { ids[$0] == imageTokenID }
        guard let first = positions.first, let last = positions.last, last - first + 1 == positions.count else {
            throw TensorError("PromptTokens", "expected one contiguous run of image token \(imageTokenID) in \(ids), found it at \(positions)")
        }
        beforeImage = Array(ids[..<first])
        afterImage = Array(ids[(last + 1)...])
    }
}
