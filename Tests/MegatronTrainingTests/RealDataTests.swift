import Foundation
import MegatronCPU
import MegatronData
import MegatronTraining
import Testing

/// `megatron preprocess` then `megatron train` on a real corpus, read in place from the shared
/// data folder (`../shared/data` next to the repository).
@Suite("Training on a preprocessed corpus")
struct RealDataTests {
    static let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data").standardized

    static func file(_ path: String) throws -> String {
        let url = shared.appendingPathComponent(path)
        try #require(FileManager.default.fileExists(atPath: url.path), "the shared data file \(url.path) is missing")
        return url.path
    }

    @Test func kingJamesBibleThroughGPT2BPEAndFiftyIterations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kjv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tokenizerFlags = ["--tokenizer-type", "GPT2BPETokenizer", "--vocab-file", try Self.file("tokenizers/gpt2/vocab.json"),
                              "--merge-file", try Self.file("tokenizers/gpt2/merges.txt")]
        let tokenizer = try TokenizerOptions(type: "GPT2BPETokenizer", vocabFile: tokenizerFlags[3], mergeFile: tokenizerFlags[5]).make()
        let options = Preprocessor.Options(input: try Self.file("corpora/kjv.jsonl"), outputPrefix: dir.appendingPathComponent("kjv").path,
                                           appendEOD: true, workers: 2)
        let totals = try Preprocessor.run(options, tokenizer: tokenizer)
        #expect(totals.documents == 1189)
        let corpus = try IndexedDataset(prefix: options.prefix(for: "text"))
        #expect(corpus.documentCount == 1189)
        #expect(try corpus.tokens(sequence: 0, offset: 0, count: 3) == tokenizer.encode("In the beginning").prefix(3).map(Int32.init))

        // A tiny GPT (small enough for a debug build): 16 tokens per step over the full vocabulary.
        let args = try TrainingArguments.parse(tokenizerFlags + [
            "--data-path", options.prefix(for: "text"), "--split", "98,2,0",
            "--num-layers", "1", "--hidden-size", "16", "--num-attention-heads", "2", "--seq-length", "16",
            "--max-position-embeddings", "16", "--micro-batch-size", "1", "--global-batch-size", "1", "--train-iters", "50",
            "--lr", "1e-2", "--eval-interval", "50", "--eval-iters", "1", "--eod-mask-loss", "--hidden-dropout", "0",
            "--attention-dropout", "0",
        ])
        let (resolved, loaded) = try TrainingData.loadTokenizer(args)
        #expect(resolved.vocabSize == 50257)
        var setup = try TrainingSetup(resolved)
        setup.eodToken = loaded?.eod
        #expect(setup.eodToken == 50256)
        let data = try TrainingData(resolved, setup: setup, tokenizer: loaded)
        let trainer = try Trainer(setup: setup, backend: CPUBackend(), train: data.train, validation: data.validation)
        let losses = try (0..<50).map { _ in try trainer.step().loss }
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        #expect(first > 10 && last < first - 1, "loss \(first) → \(last)")
        #expect(try trainer.evaluate().isFinite)
    }

    @Test func missingDataOrTokenizerIsNamed() throws {
        let flags = ["--num-layers", "1", "--hidden-size", "16", "--num-attention-heads", "2", "--seq-length", "16",
                     "--micro-batch-size", "1", "--train-iters", "1", "--lr", "1e-3", "--vocab-size", "100"]
        let setup = try TrainingSetup(try TrainingArguments.parse(flags))
        #expect(throws: TrainingDataError.noData) { try TrainingData(try TrainingArguments.parse(flags), setup: setup, tokenizer: nil) }
        #expect(throws: TrainingDataError.noTokenizer) {
            try TrainingData(try TrainingArguments.parse(flags + ["--data-path", "/nonexistent/x"]), setup: setup, tokenizer: nil)
        }
        #expect(throws: TokenizerOptionsError.missing(flag: "--merge-file", type: "GPT2BPETokenizer")) {
            try TrainingData.loadTokenizer(try TrainingArguments.parse(flags + ["--tokenizer-type", "GPT2BPETokenizer", "--vocab-file", "v.json"]))
        }
        #expect(throws: (any Error).self) {
            try TrainingData(try TrainingArguments.parse(flags + ["--data-path", "0.5", "/nonexistent/a", "x", "/b"]), setup: setup,
                             tokenizer: NullTokenizer(vocabSize: 100))
        }
    }
}

/// `--data-path` with several unweighted prefixes, a test split and `--data-cache-path`, on
/// small corpora written here.
@Suite("Data flags")
struct DataFlagTests {
    private func corpus(_ directory: URL, _ name: String, documents: Int, seed: Int) throws -> String {
        let prefix = directory.appendingPathComponent(name).path
        let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: .uint16)
        for d in 0..<documents {
            try builder.add(sequence: (0..<(20 + (d * 7 + seed) % 30)).map { ($0 * 13 + d + seed) % 99 })
            builder.endDocument()
        }
        try builder.finish()
        return prefix
    }

    private func args(_ extra: [String]) throws -> TrainingArguments {
        try TrainingArguments.parse([
            "--num-layers", "1", "--hidden-size", "16", "--num-attention-heads", "2", "--seq-length", "16",
            "--micro-batch-size", "1", "--global-batch-size", "2", "--lr", "1e-3", "--vocab-size", "100",
            "--eval-interval", "2", "--eval-iters", "1", "--split", "80,10,10",
        ] + extra)
    }

    @Test func unweightedPrefixesBlendByTheirSampleCountsAndTheTestSplitIsEvaluated() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blend-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let a = try corpus(directory, "a", documents: 40, seed: 1), b = try corpus(directory, "b", documents: 90, seed: 2)
        let cacheDirectory = directory.appendingPathComponent("cache").path
        let parsed = try args(["--data-path", a, b, "--train-iters", "4", "--data-cache-path", cacheDirectory])
        let setup = try TrainingSetup(parsed)
        let data = try TrainingData(parsed, setup: setup, tokenizer: NullTokenizer(vocabSize: 100))
        let train = try #require(data.train as? BlendedDataset)
        let parts = train.datasets.compactMap { $0 as? GPTDataset }
        #expect(parts.count == 2 && parts.allSatisfy { $0.numSamples == nil })
        let counts = parts.map { Double($0.count) }
        #expect(train.weights == counts.map { $0 / counts.reduce(0, +) })
        #expect(train.count == setup.trainIters * setup.globalBatchSize)
        #expect(data.test != nil)
        // One description per corpus and split, in the cache directory.
        let cached = try FileManager.default.contentsOfDirectory(atPath: cacheDirectory).filter { $0.hasSuffix("description.txt") }
        #expect(cached.count == 6)

        let trainer = try Trainer(setup: setup, backend: CPUBackend(), train: data.train, validation: data.validation, test: data.test)
        var lines: [String] = []
        try trainer.run { lines.append($0) }
        #expect(lines.contains { $0.contains("validation loss at iteration 4 on test set | lm loss value: ") })
    }

    @Test func anUnweightedBlendTooSmallForTheRunIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blend-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let a = try corpus(directory, "a", documents: 10, seed: 1), b = try corpus(directory, "b", documents: 10, seed: 2)
        let parsed = try args(["--data-path", a, b, "--train-iters", "500"])
        #expect(throws: TrainingDataError.self) {
            try TrainingData(parsed, setup: try TrainingSetup(parsed), tokenizer: NullTokenizer(vocabSize: 100))
        }
        // Weights at some weight positions only is neither form (an odd count would be all prefixes).
        let mixed = try args(["--data-path", "0.5", a, b, a, "--train-iters", "1"])
        #expect(throws: TrainingDataError.badBlend(flag: "--data-path", values: ["0.5", a, b, a])) {
            try TrainingData(mixed, setup: try TrainingSetup(mixed), tokenizer: NullTokenizer(vocabSize: 100))
        }
    }
}
