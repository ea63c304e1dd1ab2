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

    @OptionGroup var tokenizer: TokenizerFlags

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
            let loaded = try tokenizer.options.make()
            let options = Preprocessor.Options(input: input, jsonKeys: jsonKeys, outputPrefix: outputPrefix, appendEOD: appendEod,
                                               workers: workers, logInterval: logInterval)
            say("tokenizer: \(tokenizer.tokenizerType), \(loaded.vocabSize) ids; writing \(jsonKeys.map { options.prefix(for: $0) }.joined(separator: ", "))")
            try Preprocessor.run(options, tokenizer: loaded) { say($0.description) }
        }
    }
}
