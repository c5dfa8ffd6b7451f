// The common face of every tokenizer in tvp: text → ids (with or without the model's special
// tokens) and ids → text. Loading errors are `FormatError`s naming the file; encoding never fails
// (characters a vocabulary lacks become byte-fallback or unknown tokens, as the reference does).

/// A text tokenizer. Implementations are immutable after loading (their per-word caches are
/// internally locked), so one instance may be shared across threads.
public protocol Tokenizer: AnyObject, Sendable {
    /// The token ↔ id table: the model vocabulary and the added tokens.
    var vocab: Vocabulary { get }
    /// Beginning-of-sequence id, if the vocabulary has one.
    var bosTokenID: Int? { get }
    /// End-of-sequence id, if the vocabulary has one.
    var eosTokenID: Int? { get }
    /// Padding id, if the vocabulary has one.
    var padTokenID: Int? { get }
    /// Unknown-token id, if the vocabulary has one.
    var unkTokenID: Int? { get }

    /// The ids of `text` without any special tokens added around it (special-token strings that
    /// appear inside the text, like `<|im_start|>`, are still recognized as their single ids).
    func encode(_ text: String) -> [Int]
    /// The ids of `text` as the model expects its input: `encode(text)` framed by the tokenizer's
    /// template (e.g. `[CLS] … [SEP]` for BERT, `<s> …` for LLaMA; nothing for SmolLM2).
    func encodeWithSpecials(_ text: String) -> [Int]
    /// The text of `ids`; with `skipSpecialTokens`, special tokens (bos/eos/pad/control) are left out.
    /// Ids outside the vocabulary are skipped.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
}

extension Tokenizer {
    /// The number of token ids (largest id + 1).
    public var vocabularySize: Int { vocab.count }
    /// The vocabulary string of `id` (in the tokenizer's internal alphabet, e.g. "Ġthe" or "##ing").
    public func token(forID id: Int) -> String? { vocab.token(id) }
    /// The id of a vocabulary string, if present.
    public func id(forToken token: String) -> Int? { vocab.ids[token] }
    /// The text of `ids`, special tokens included.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }
}

/// Ids placed before and after a sequence by `encodeWithSpecials` (a single-sequence template).
public struct SpecialTokenTemplate: Equatable, Sendable {
    public var prefix: [Int]
    public var suffix: [Int]

    public init(prefix: [Int] = [], suffix: [Int] = []) {
        self.prefix = prefix
        self.suffix = suffix
    }

    /// `prefix + ids + suffix`.
    public func apply(_ ids: [Int]) -> [Int] { prefix + ids + suffix }
}
