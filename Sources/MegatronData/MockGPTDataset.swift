import MegatronTensor

/// A source of fixed-length training samples: `seqLength + 1` token ids each (inputs and the
/// shifted targets overlap by all but one token).
public protocol GPTSampleSource: Sendable {
    var seqLength: Int { get }
    /// Sample `index` (any non-negative integer; sources wrap or generate as they need).
    func sample(_ index: Int) throws -> [Int32]
}

/// Synthetic random tokens, uniform over the vocabulary, drawn from Philox by (seed, sample
/// index): the embedded default (`--mock-data`) that needs no files. Like Megatron's mock
/// dataset it exercises the full training path; its loss cannot fall below log(vocab).
///
///     let data = MockGPTDataset(vocabSize: 50257, seqLength: 1024, seed: 1234)
///     let tokens = try data.sample(0)    // 1025 ids
public struct MockGPTDataset: GPTSampleSource {
    public let vocabSize: Int
    public let seqLength: Int
    public let seed: UInt64

    public init(vocabSize: Int, seqLength: Int, seed: UInt64) {
        self.vocabSize = vocabSize
        self.seqLength = seqLength
        self.seed = seed
    }

    public func sample(_ index: Int) throws -> [Int32] {
        let rng = Philox(seed: seed)
        let n = seqLength + 1
        return (0..<n).map { Int32(rng.uniform(UInt64($0), subsequence: UInt64(index)) * Float(vocabSize)) }
    }
}
