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

    @OptionGroup var tokenizer: TokenizerFlags

    func run() throws {
        try reportingErrors {
            let options = tokenizer.options
            var iterator = JSONLines(path: input, keys: [jsonKey]).makeIterator()
            var texts: [String] = []
            while let document = iterator.next() { texts.append(document.values[0]) }
            if let error = iterator.error { throw error }
            let bytes = texts.reduce(0) { $0 + $1.utf8.count }
            say(String(format: "%@: %d documents, %.2f MB", input, texts.count, Double(bytes) / 1e6))
            let cold = try TokenizerBenchmark.run(try options.make(), texts: texts, repeats: 1, warmup: false)
            let warm = try TokenizerBenchmark.run(try options.make(), texts: texts, repeats: 3)
            say(String(format: "%@: cold %.1f MB/s, warm %.1f MB/s (one thread)", tokenizer.tokenizerType, cold, warm))
        }
    }
}
