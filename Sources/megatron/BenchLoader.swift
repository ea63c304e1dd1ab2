import ArgumentParser
import Foundation
import MegatronTraining

/// `megatron bench-loader`: how many micro-batches per second the data loader assembles (the
/// sampler, the GPT dataset's sample order, EOD masks) from a training flag set's data, to set
/// against a training step's time.
struct BenchLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-loader",
        abstract: "Micro-batches per second the data loader delivers for a training flag set (e.g. --data-path …).",
        helpNames: [])

    @Argument(parsing: .allUnrecognized, help: "Megatron-LM training flags, plus --bench-iters (micro-batches timed)")
    var arguments: [String] = []

    func run() throws {
        let args = try parseTrainingArguments(arguments, command: "megatron bench-loader")
        try reportingErrors {
            let (setup, data) = try prepareTraining(args, worldSize: 1)
            let loader = GPTBatchLoader(source: data.train, setup: setup, dataParallelRank: 0, dataParallelSize: 1)
            let count = max(args.benchIters, 1) * setup.microBatchesPerIteration
            loader.startPrefetching(fromConsumedSamples: 0)
            _ = try loader.next()  // the thread is running
            let start = Date()
            for _ in 0..<count { _ = try loader.next() }
            let seconds = Date().timeIntervalSince(start)
            loader.stop()
            let tokens = Double(count * setup.microBatchSize * setup.model.seqLength)
            say(String(format: "loader: %d micro-batches of %d × %d tokens in %.3f s: %.1f micro-batches/s, %.0f tokens/s (one thread)",
                       count, setup.microBatchSize, setup.model.seqLength, seconds, Double(count) / seconds, tokens / seconds))
        }
    }
}
