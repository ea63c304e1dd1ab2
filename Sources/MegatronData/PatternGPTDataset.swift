import MegatronTensor

/// Synthetic sequences a model can learn: each sample is an arithmetic progression modulo the
/// vocabulary, `token[t] = (start + stride · t) mod V`, with `start` and `stride ∈ 1...maxStride`
/// drawn from Philox by (seed, sample index). The first token is unpredictable, the second
/// reveals the stride, so a model's loss falls from log(V) towards log(V)/(seq + 1) as it learns
/// to copy the step — a falling loss curve with no data files (the GPU loss-curve check uses it).
///
///     let data = PatternGPTDataset(vocabSize: 512, seqLength: 64, seed: 7)
///     let tokens = try data.sample(3)    // 65 ids
public struct PatternGPTDataset: GPTSampleSource {
    public let vocabSize: Int
    public let seqLength: Int
    public let seed: UInt64
    public let maxStride: Int

    public init(vocabSize: Int, seqLength: Int, seed: UInt64, maxStride: Int = 8) {
        precondition(vocabSize > 0 && maxStride > 0, "PatternGPTDataset needs a positive vocabulary and stride bound")
        self.vocabSize = vocabSize
        self.seqLength = seqLength
        self.seed = seed
        self.maxStride = maxStride
    }

    public func sample(_ index: Int) throws -> [Int32] {
        let rng = Philox(seed: seed)
        let start = Int(rng.uniform(0, subsequence: UInt64(index)) * Float(vocabSize)) % vocabSize
        let stride = 1 + Int(rng.uniform(1, subsequence: UInt64(index)) * Float(maxStride)) % maxStride
        return (0...seqLength).map { Int32((start + stride * $0) % vocabSize) }
    }
}
