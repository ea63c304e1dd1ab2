import ArgumentParser
import Foundation
import MegatronData

/// `megatron preprocess`: Megatron-LM's `tools/preprocess_data.py` — jsonl documents to
/// tokenised `{output-prefix}_{key}_document.{bin,idx}` datasets, with the same flags.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenise jsonl documents into Megatron .bin/.idx datasets (tools/preprocess_data.py's flags).")

    @Option(help: "Input jsonl file (one JSON object per line; .gz compressed too).")
    var input: String

    @Option(parsing: .upToNextOption, help: "Keys of the JSON objects to tokenise (one dataset each).")
    var jsonKeys: [String] = ["text"]

    @Option(help: "Path prefix of the output datasets: {prefix}_{key}_document.bin/.idx.")
    var outputPrefix: String

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

    @ArgumentParser.Flag(help: "Append the end-of-document token to every document.")
    var appendEod = false

    @Option(help: "Threads that tokenise (the output bytes are the same for any number).")
    var workers = 1

    @Option(help: "Documents between progress lines.")
    var logInterval = 1000

    @ArgumentParser.Flag(help: "Split documents into sentences (not implemented: refused).")
    var splitSentences = false

    func run() throws {
        try reportingErrors {
            if splitSentences {
                throw ValidationError("--split-sentences is not implemented (it needs an NLTK-compatible sentence splitter)")
            }
            let tokenizer = try TokenizerOptions(type: tokenizerType, vocabFile: vocabFile, mergeFile: mergeFile, tokenizerModel: tokenizerModel,
                                                 tiktokenPattern: tiktokenPattern, vocabSize: vocabSize).make()
            let options = Preprocessor.Options(input: input, jsonKeys: jsonKeys, outputPrefix: outputPrefix, appendEOD: appendEod,
                                               workers: workers, logInterval: logInterval)
            say("tokenizer: \(tokenizerType), \(tokenizer.vocabSize) ids; writing \(jsonKeys.map { options.prefix(for: $0) }.joined(separator: ", "))")
            try Preprocessor.run(options, tokenizer: tokenizer) { say($0.description) }
        }
    }
}
