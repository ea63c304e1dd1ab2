/// A text tokenizer, as Megatron-LM's `--tokenizer-type` selects one. Ids are the model's
/// vocabulary before padding; the special ids are Megatron's for that type (nil where the type
/// has none).
///
///     let tokenizer = try GPT2BPETokenizer(vocabFile: "vocab.json", mergeFile: "merges.txt")
///     let ids = tokenizer.encode("Hello world")      // [15496, 995]
///     let text = try tokenizer.decode(ids)
public protocol Tokenizer: Sendable {
    /// Number of ids (Megatron's `tokenizer.vocab_size`, before `--make-vocab-size-divisible-by`).
    var vocabSize: Int { get }
    /// End of document: what `--append-eod` appends (Megatron's `tokenizer.eod`).
    var eod: Int? { get }
    var bos: Int? { get }
    var pad: Int? { get }
    /// The ids of `text` (no special tokens added). Throws only where the type cannot read the
    /// text (``NullTokenizer`` on a piece that is not an integer).
    func encode(_ text: String) throws -> [Int]
    /// The text of `ids`; byte sequences that are not valid UTF-8 become U+FFFD. An id outside
    /// the vocabulary throws.
    func decode(_ ids: [Int]) throws -> String
}

/// A tokenizer file that cannot be used, or an id it does not know.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read or does not have the expected form (`message` says what was
    /// expected and, where known, at which line or offset).
    case file(path: String, message: String)
    case idOutOfRange(id: Int, vocabSize: Int)
    /// ``NullTokenizer``'s text holds a piece that is not a decimal id.
    case notAnID(String)

    public var description: String {
        switch self {
        case let .file(path, message): "tokenizer file \(path): \(message)"
        case let .idOutOfRange(id, size): "token id \(id) is outside the vocabulary 0..<\(size)"
        case let .notAnID(piece): "NullTokenizer text must be decimal ids separated by spaces; \"\(piece)\" is not one"
        }
    }
}
