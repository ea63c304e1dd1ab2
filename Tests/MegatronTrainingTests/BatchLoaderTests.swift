import MegatronData
import MegatronTraining
import Testing

/// Sample k is [k, k+1, …]; samples from 1000 on are too short.
private struct Counting: GPTSampleSource {
    let seqLength = 4
    func sample(_ index: Int) throws -> [Int32] { (0..<(index < 1000 ? 5 : 3)).map { Int32(index + $0) } }
}

@Suite("Batch loader")
struct BatchLoaderTests {
    func setup(micro: Int, global: Int, dp: Int) throws -> TrainingSetup {
        try TrainingSetup(try TrainingArguments.parse([
            "--mock-data", "--num-layers", "1", "--hidden-size", "8", "--num-attention-heads", "2", "--seq-length", "4",
            "--vocab-size", "2000", "--micro-batch-size", "\(micro)", "--global-batch-size", "\(global)", "--train-iters", "1",
            "--lr", "1e-3",
        ]), worldSize: dp)
    }

    /// The first token of each sample of a batch (column j of the sequence-major tokens).
    func firsts(_ batch: GPTBatchLoader.HostBatch, _ b: Int) -> [Int32] { (0..<b).map { batch.tokens[$0] } }

    @Test func prefetchingGivesMegatronsSamplerOrderOnEveryRank() throws {
        // Global batch 8 over 2 ranks of micro-batch 2: 2 micro-batches per rank per iteration.
        let s = try setup(micro: 2, global: 8, dp: 2)
        for rank in 0..<2 {
            let loader = GPTBatchLoader(source: Counting(), setup: s, dataParallelRank: rank, dataParallelSize: 2, depth: 3)
            loader.startPrefetching(fromConsumedSamples: 16)
            let got = try (0..<6).map { _ in firsts(try loader.next(), 2) }
            // Iteration from 16: micro 0 takes 16…19 (rank 0: 16, 17; rank 1: 18, 19), micro 1 takes 20…23; then from 24.
            let want: [[Int32]] = rank == 0 ? [[16, 17], [20, 21], [24, 25], [28, 29], [32, 33], [36, 37]]
                                            : [[18, 19], [22, 23], [26, 27], [30, 31], [34, 35], [38, 39]]
            #expect(got == want, "rank \(rank)")
            // The prefetched batches equal the ones assembled on the spot.
            #expect(try loader.batch(firstSample: 24 + 2 * rank) == {
                let again = GPTBatchLoader(source: Counting(), setup: s, dataParallelRank: rank, dataParallelSize: 2)
                again.startPrefetching(fromConsumedSamples: 24)
                return try again.next()
            }())
            loader.stop()
        }
    }

    @Test func anErrorReachesTheConsumerInOrder() throws {
        let s = try setup(micro: 2, global: 2, dp: 1)
        let loader = GPTBatchLoader(source: Counting(), setup: s, dataParallelRank: 0, dataParallelSize: 1)
        loader.startPrefetching(fromConsumedSamples: 996)
        #expect(firsts(try loader.next(), 2) == [996, 997])
        #expect(firsts(try loader.next(), 2) == [998, 999])
        #expect(throws: GPTBatchLoaderError.shortSample(index: 1000, tokens: 3, needed: 5)) { try loader.next() }
        loader.stop()
        #expect(throws: GPTBatchLoaderError.notStarted) { try loader.next() }
    }
}
