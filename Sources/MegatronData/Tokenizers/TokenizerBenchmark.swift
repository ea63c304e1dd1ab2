/// Encoding throughput of a tokenizer, for comparing against tiktoken on the same machine
/// (build with `-c release`; tests never time anything).
///
///     let mbps = TokenizerBenchmark.run(tokenizer, texts: documents, repeats: 3)
public enum TokenizerBenchmark {
    /// Encodes every text `repeats` times on the calling thread and returns the best run's
    /// throughput in MB/s (10^6 bytes of UTF-8 per second). The first run warms the word cache,
    /// as a long preprocessing job's would be warm; `warmup: false` times a cold cache too.
    public static func run(_ tokenizer: some Tokenizer, texts: [String], repeats: Int = 3, warmup: Bool = true) throws -> Double {
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        var best = Double.infinity
        var sink = 0
        if warmup { for t in texts { sink &+= try tokenizer.encode(t).count } }
        for _ in 0..<max(1, repeats) {
            let clock = ContinuousClock()
            let start = clock.now
            for t in texts { sink &+= try tokenizer.encode(t).count }
            let d = clock.now - start
            let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            best = min(best, seconds)
        }
        withExtendedLifetime(sink) {}  // the encodings' results stay live, so none is optimised away
        return Double(bytes) / best / 1e6
    }
}
