import MegatronData
import Testing

@Suite("BlendedDataset order matches megatron-core 0.16.1")
struct BlendedDatasetOrderTests {
    @Test(arguments: OrderFixtures.blendCases)
    func blendIndicesAndSamples(name: String) throws {
        let c: BlendCase = try OrderFixtures.load(name)
        let corpora = c.num_sequences.enumerated().map { SyntheticCorpus(corpus: $0.offset, count: $0.element) }
        let built = try GPTDatasetBuilder.build(
            corpora: corpora, weights: c.weights, split: DatasetSplit(c.split), sizes: c.sizes,
            sequenceLength: c.sequence_length, seed: c.seed)
        for (s, expected) in c.splits.enumerated() {
            guard let expected else {
                #expect(built[s] == nil, "\(name) split \(s)")
                continue
            }
            let blend = try #require(built[s] as? BlendedDataset, "\(name) split \(s)")
            #expect(blend.weights == expected.weights, "\(name) split \(s) weights")
            #expect(blend.count == expected.size)
            #expect(blend.datasetIndex == expected.dataset_index, "\(name) split \(s) dataset index")
            #expect(blend.datasetSampleIndex == expected.dataset_sample_index, "\(name) split \(s)")
            for (d, record) in expected.datasets.enumerated() {
                let part = try #require(blend.datasets[d] as? GPTDataset)
                #expect(part.numSamples == record.num_samples, "\(name) split \(s) dataset \(d) size")
                #expect(part.documents == record.indices_begin..<record.indices_end)
                #expect(part.documentIndex == record.document_index, "\(name) split \(s) dataset \(d)")
                #expect(part.sampleIndex == record.sampleBoundaries, "\(name) split \(s) dataset \(d)")
                #expect(part.shuffleIndex == record.shuffle_index, "\(name) split \(s) dataset \(d)")
            }
            for (i, text) in expected.texts.enumerated() {
                #expect(try blend.sample(i) == text, "\(name) split \(s) sample \(i)")
            }
        }
    }

    @Test func tiesGoToTheLowestDataset() {
        let (index, sample) = BlendedDataset.blendingIndices(weights: [0.5, 0.5], size: 4)
        #expect(index == [0, 1, 0, 1])
        #expect(sample == [0, 0, 1, 1])
    }

    @Test func perDatasetSizesWithMargin() {
        #expect(BlendedDataset.sizesPerDataset(normalizedWeights: [0.3, 0.7], targetSize: 1000) == [300, 700])
        #expect(BlendedDataset.sizesPerDataset(normalizedWeights: [0.3, 0.7], targetSize: 1000, surplus: 0.005)
            == [302, 704])
    }
}
