/// What megatron-core's `BlendedMegatronDatasetBuilder` builds from `--data-path` and `--split`
/// for GPT: per split, one ``GPTDataset`` (a single unweighted corpus) or a ``BlendedDataset``
/// over one GPTDataset per corpus, with Megatron's sample-count arithmetic.
///
///     let splits = try GPTDatasetBuilder.build(
///         corpora: [web, code], weights: [0.7, 0.3], split: DatasetSplit("969,30,1"),
///         sizes: [500_000, 5_000, 100], sequenceLength: 1024, seed: 1234)
///     let train = splits[0]!
public enum GPTDatasetBuilder {
    /// Megatron's `mid_level_dataset_surplus` default: build each corpus's GPTDataset 0.5% larger
    /// than its share so the blend never runs it dry.
    public static let defaultSurplus = 0.005

    /// One source per split (train, valid, test); nil where the split is empty.
    /// - Parameters:
    ///   - weights: nil for a single corpus (which is then used directly) or for a blend
    ///     weighted by each corpus's one-epoch sample count.
    ///   - sizes: samples wanted per split (Megatron's train/valid/test sample counts).
    ///   - dropLastPartialValidationSequence: Megatron's config of the same name.
    ///   - caches: where each corpus's indices are cached (nil: built every time).
    public static func build(
        corpora: [any TokenSequences], weights: [Double]?, split: DatasetSplit, sizes: [Int],
        sequenceLength: Int, seed: UInt32, surplus: Double = defaultSurplus,
        dropLastPartialValidationSequence: Bool = true, caches: [GPTIndexCache]? = nil
    ) throws -> [(any GPTSampleSource)?] {
        precondition(sizes.count == 3, "sizes are train, valid, test")
        precondition(caches == nil || caches!.count == corpora.count, "one cache per corpus")
        let splitNames = ["train", "valid", "test"]
        func dataset(_ c: Int, _ splitIndex: Int, _ numSamples: Int?) throws -> GPTDataset? {
            let corpus = corpora[c]
            guard let range = split.ranges(count: corpus.sequenceLengths.count)[splitIndex] else { return nil }
            return try GPTDataset(
                sequences: corpus, documents: range, sequenceLength: sequenceLength,
                numSamples: numSamples, seed: seed,
                dropLastPartialSequence: splitIndex == 1 ? dropLastPartialValidationSequence : true,
                cache: caches?[c].forSplit(splitNames[splitIndex]))
        }
        guard let weights else {
            if corpora.count == 1 { return try (0..<3).map { try dataset(0, $0, sizes[$0]) } }
            // Unweighted: one epoch of each corpus, weighted by its sample count, and at most
            // the requested size (so possibly fewer samples than asked for), as Megatron does.
            return try (0..<3).map { s -> (any GPTSampleSource)? in
                var parts = [GPTDataset]()
                for c in corpora.indices {
                    guard let d = try dataset(c, s, nil) else { return nil }
                    parts.append(d)
                }
                let counts = parts.map(\.count)
                return try BlendedDataset(datasets: parts, weights: counts.map(Double.init),
                                          size: min(sizes[s], counts.reduce(0, +)), datasetSizes: counts)
            }
        }
        precondition(weights.count == corpora.count, "one weight per corpus")
        // The builder normalises once; BlendedDataset normalises the result again (as here).
        let normalized = DatasetSplit.normalize(weights)
        return try (0..<3).map { s -> (any GPTSampleSource)? in
            let shares = BlendedDataset.sizesPerDataset(normalizedWeights: normalized, targetSize: sizes[s])
            let buffers = BlendedDataset.sizesPerDataset(
                normalizedWeights: normalized, targetSize: sizes[s], surplus: surplus)
            var parts = [GPTDataset]()
            for c in corpora.indices {
                guard let d = try dataset(c, s, buffers[c]) else { return nil }
                parts.append(d)
            }
            return try BlendedDataset(datasets: parts, weights: normalized, size: shares.reduce(0, +),
                                      datasetSizes: parts.map(\.count))
        }
    }
}
