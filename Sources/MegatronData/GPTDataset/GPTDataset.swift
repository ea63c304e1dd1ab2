/// Megatron-core's GPTDataset over any ``TokenSequences``: the same document, sample and shuffle
/// indices (so the same samples in the same order) as megatron-core 0.16.1 for the same seed,
/// split, sequence length and sample count. Samples hold S + 1 tokens (inputs and shifted
/// labels), concatenated across document boundaries as Megatron does.
///
///     let split = try DatasetSplit("969,30,1").ranges(count: corpus.sequenceLengths.count)
///     let train = try GPTDataset(sequences: corpus, documents: split[0]!, sequenceLength: 1024,
///                                numSamples: 500_000, seed: 1234)
///     let tokens = try train.sample(0)    // 1025 ids
///
/// The EOD-dependent options (`--eod-mask-loss`, `--reset-position-ids`) change masks and
/// position ids, not the sample order: the training loader applies them.
public struct GPTDataset: GPTSampleSource {
    /// The tokenised corpus (Megatron's IndexedDataset).
    public let sequences: any TokenSequences
    /// The split's documents (sequence indices of `sequences`), Megatron's `indices`.
    public let documents: Range<Int>
    /// S: each sample holds S + 1 tokens.
    public let seqLength: Int
    /// Samples requested; the dataset may hold a few more (`count`), as in Megatron.
    public let numSamples: Int?
    /// `--seed`: Megatron's `random_seed`, the RandomState seed of every index shuffle.
    public let seed: UInt32
    /// Fills a sample that runs past the end of the data (only when partial sequences are kept);
    /// Megatron's `_PAD_TOKEN_ID` is -1 unless the tokenizer has a pad token.
    public let padTokenID: Int32
    /// Epoch count and whether the last epoch is shuffled separately.
    public let plan: GPTEpochPlan
    /// Document ids, the split tiled per epoch and shuffled (Megatron's `document_index`).
    public let documentIndex: [Int32]
    /// `count + 1` sample boundaries (Megatron's `sample_index`).
    public let sampleIndex: [SampleBoundary]
    /// Sample order (Megatron's `shuffle_index`): sample i is unshuffled sample `shuffleIndex[i]`.
    public let shuffleIndex: [Int]

    /// Builds the indices, or reads them from `cache` when it holds them.
    /// - Parameter dropLastPartialSequence: Megatron always drops it for train and test; for
    ///   valid it follows the config's `drop_last_partial_validation_sequence` (default true).
    public init(
        sequences: any TokenSequences, documents: Range<Int>, sequenceLength: Int, numSamples: Int?,
        seed: UInt32, dropLastPartialSequence: Bool = true, padTokenID: Int32 = -1, cache: GPTIndexCache? = nil
    ) throws {
        let sizes = sequences.sequenceLengths
        guard documents.lowerBound >= 0, documents.upperBound <= sizes.count, !documents.isEmpty else {
            throw GPTDatasetError.emptySplit(documents)
        }
        guard sequenceLength > 1 else { throw GPTDatasetError.sequenceLengthTooShort(sequenceLength) }
        guard documents.contains(where: { sizes[$0] > 0 }) else { throw GPTDatasetError.noTokens(documents) }
        self.sequences = sequences
        self.documents = documents
        self.seqLength = sequenceLength
        self.numSamples = numSamples
        self.seed = seed
        self.padTokenID = padTokenID
        func build() -> GPTIndices.Built {
            GPTIndices.build(
                sizes: sizes, documents: documents.map { Int32($0) }, sequenceLength: sequenceLength,
                numSamples: numSamples, seed: seed, dropLastPartialSequence: dropLastPartialSequence)
        }
        let built: GPTIndices.Built
        if let cache {
            let tokens = documents.reduce(0) { $0 + Int(sizes[$1]) }
            let key = GPTIndexCache.Key(
                sequenceLengths: sizes, documents: documents, sequenceLength: sequenceLength, numSamples: numSamples,
                seed: seed, dropLastPartialSequence: dropLastPartialSequence,
                plan: GPTEpochPlan(tokensPerEpoch: tokens, sequenceLength: sequenceLength, numSamples: numSamples))
            built = cache.indices(key, build: build)
        } else {
            built = build()
        }
        plan = built.plan
        documentIndex = built.documentIndex
        sampleIndex = built.sampleIndex
        shuffleIndex = built.shuffleIndex
    }

    /// Samples in the dataset (Megatron's `len(dataset)`), at least `numSamples`.
    public var count: Int { shuffleIndex.count }

    /// The S + 1 tokens of sample `index` (wrapping past `count`), as Megatron's
    /// `_query_document_sample_shuffle_indices` returns them.
    public func sample(_ index: Int) throws -> [Int32] {
        let i = shuffleIndex[index % count]
        let begin = sampleIndex[i], end = sampleIndex[i + 1]
        let extra = 1
        var tokens = [Int32]()
        tokens.reserveCapacity(seqLength + extra)
        if begin.documentIndexPosition == end.documentIndexPosition {
            let document = Int(documentIndex[begin.documentIndexPosition])
            tokens = try sequences.tokens(sequence: document, offset: begin.offset,
                                          count: end.offset - begin.offset + extra)
        } else {
            for position in begin.documentIndexPosition...end.documentIndexPosition {
                let document = Int(documentIndex[position])
                let offset = position == begin.documentIndexPosition ? begin.offset : 0
                // Middle and first documents are taken to their end.
                let count: Int? = position < end.documentIndexPosition ? nil : end.offset + extra
                tokens += try sequences.tokens(sequence: document, offset: offset, count: count)
            }
        }
        if tokens.count < seqLength + extra {
            tokens += Array(repeating: padTokenID, count: seqLength + extra - tokens.count)
        }
        return tokens
    }
}

/// A GPTDataset that Megatron would also refuse to build.
public enum GPTDatasetError: Error, Equatable, CustomStringConvertible {
    case emptySplit(Range<Int>)
    case sequenceLengthTooShort(Int)
    /// Every document of the split is empty.
    case noTokens(Range<Int>)

    public var description: String {
        switch self {
        case let .noTokens(range): "the split's documents \(range) hold no tokens (empty documents only)"
        case let .emptySplit(range): "the split's document range \(range) is empty or outside the dataset (check --split)"
        case let .sequenceLengthTooShort(s): "--seq-length \(s) is too short for a GPT dataset (at least 2)"
        }
    }
}
