/// Megatron-LM's `--tokenizer-type` and its file flags, turned into a ``Tokenizer``.
///
///     let tokenizer = try TokenizerOptions(type: "GPT2BPETokenizer", vocabFile: "vocab.json", mergeFile: "merges.txt").make()
public struct TokenizerOptions: Sendable {
    public var type: String
    public var vocabFile: String?
    public var mergeFile: String?
    public var tokenizerModel: String?
    public var tiktokenPattern: String?
    /// `--vocab-size`: NullTokenizer's vocabulary, TikTokenizer's (optional).
    public var vocabSize: Int?

    /// The types this library implements (Megatron's names).
    public static let types = ["GPT2BPETokenizer", "TikTokenizer", "HuggingFaceTokenizer", "SentencePieceTokenizer", "NullTokenizer"]

    public init(type: String, vocabFile: String? = nil, mergeFile: String? = nil, tokenizerModel: String? = nil,
                tiktokenPattern: String? = nil, vocabSize: Int? = nil) {
        self.type = type
        self.vocabFile = vocabFile
        self.mergeFile = mergeFile
        self.tokenizerModel = tokenizerModel
        self.tiktokenPattern = tiktokenPattern
        self.vocabSize = vocabSize
    }

    /// Loads the tokenizer; a missing flag or an unknown type throws ``TokenizerOptionsError``.
    public func make() throws -> any Tokenizer {
        func required(_ value: String?, _ flag: String) throws -> String {
            guard let value else { throw TokenizerOptionsError.missing(flag: flag, type: type) }
            return value
        }
        switch type {
        case "GPT2BPETokenizer":
            return try GPT2BPETokenizer(vocabFile: required(vocabFile, "--vocab-file"), mergeFile: required(mergeFile, "--merge-file"))
        case "TikTokenizer":
            // Megatron's v1 (its Tekken-style pattern); gpt2 and cl100k name tiktoken's own.
            let pattern: PreTokenizer
            switch tiktokenPattern ?? "v1" {
            case "v1": pattern = .megatronV1
            case "gpt2": pattern = .gpt2
            case "cl100k": pattern = .cl100k
            case let other:
                throw TokenizerOptionsError.invalid(flag: "--tiktoken-pattern", value: other,
                                                    expected: "v1, gpt2 or cl100k (Megatron's v2 is not implemented)")
            }
            return try TikTokenizer(rankFile: required(tokenizerModel ?? vocabFile, "--tokenizer-model"), pattern: pattern, vocabSize: vocabSize)
        case "HuggingFaceTokenizer":
            return try HuggingFaceTokenizer(tokenizerJSON: required(tokenizerModel ?? vocabFile, "--tokenizer-model"))
        case "SentencePieceTokenizer":
            return try SentencePieceTokenizer(modelFile: required(tokenizerModel, "--tokenizer-model"))
        case "NullTokenizer":
            guard let vocabSize else { throw TokenizerOptionsError.missing(flag: "--vocab-size", type: type) }
            return NullTokenizer(vocabSize: vocabSize)
        default:
            throw TokenizerOptionsError.invalid(flag: "--tokenizer-type", value: type, expected: "one of " + Self.types.joined(separator: ", "))
        }
    }
}

/// Tokenizer flags that do not name a usable tokenizer.
public enum TokenizerOptionsError: Error, Equatable, CustomStringConvertible {
    case missing(flag: String, type: String)
    case invalid(flag: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .missing(flag, type): "--tokenizer-type \(type) needs \(flag)"
        case let .invalid(flag, value, expected): "\(flag) \(value) is invalid: expected \(expected)"
        }
    }
}
