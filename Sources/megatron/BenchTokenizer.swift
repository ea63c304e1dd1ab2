import ArgumentParser
import Foundation
import MegatronData

/// `megatron bench-tokenizer`: single-thread encoding throughput of a `--tokenizer-type` on the
/// documents of a jsonl file, with a cold word cache (the first pass) and a warm one (best of 3).
struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-tokenizer",
        abstract: "Single-thread tokenizer throughput (MB/s) on a jsonl corpus, cold and warm.")

    @Option(help: "Input jsonl file.")
    var input: String

    @Option(help: "The JSON key holding the text.")
    var jsonKey = "text"

    @Option(help: "One of \(TokenizerOptions.types.joined(separator: ", ")).")
    var tokenizerType: String

    @Option(help: "GPT-2 vocab.json.")
    var vocabFile: String?

    @Option(help: "GPT-2 merges.txt.")
    var mergeFile: String?

    @Option(help: "SentencePiece model, HF tokenizer.json or tiktoken rank file.")
    var tokenizerModel: String?

    @Option(help: "TikTokenizer's pre-tokenizer: v1 (Megatron's), gpt2 or cl100k.")
    var tiktokenPattern: String?

    func run() throws {
        try reportingErrors {
            let options = TokenizerOptions(type: tokenizerType, vocabFile: vocabFile, mergeFile: mergeFile, tokenizerModel: tokenizerModel,
                                           tiktokenPattern: tiktokenPattern)
            var iterator = JSONLines(path: input, keys: [jsonKey]).makeIterator()
            var texts: [String] = []
            while let document = iterator.next() { texts.append(document.values[0]) }
            if let error = iterator.error { throw error }
            let bytes = texts.reduce(0) { $0 + $1.utf8.count }
            say(String(format: "%@: %d documents, %.2f MB", input, texts.count, Double(bytes) / 1e6))
            let cold = TokenizerBenchmark.run(try options.make(), texts: texts, repeats: 1, warmup: false)
            let warm = TokenizerBenchmark.run(try options.make(), texts: texts, repeats: 3)
            say(String(format: "%@: cold %.1f MB/s, warm %.1f MB/s (one thread)", tokenizerType, cold, warm))
        }
    }
}
