import ArgumentParser
import MegatronData

/// Megatron's tokenizer flags, shared by `preprocess` and `bench-tokenizer`.
struct TokenizerFlags: ParsableArguments {
    @Option(help: "One of \(TokenizerOptions.types.joined(separator: ", ")).")
    var tokenizerType: String

    @Option(help: "GPT-2 vocab.json (GPT2BPETokenizer).")
    var vocabFile: String?

    @Option(help: "GPT-2 merges.txt (GPT2BPETokenizer).")
    var mergeFile: String?

    @Option(help: "SentencePiece model, HF tokenizer.json or tiktoken rank file.")
    var tokenizerModel: String?

    @Option(help: "TikTokenizer's pre-tokenizer: v1 (Megatron's), gpt2 or cl100k.")
    var tiktokenPattern: String?

    @Option(help: "Vocabulary size (NullTokenizer; TikTokenizer optionally).")
    var vocabSize: Int?

    var options: TokenizerOptions {
        TokenizerOptions(type: tokenizerType, vocabFile: vocabFile, mergeFile: mergeFile, tokenizerModel: tokenizerModel,
                         tiktokenPattern: tiktokenPattern, vocabSize: vocabSize)
    }
}
