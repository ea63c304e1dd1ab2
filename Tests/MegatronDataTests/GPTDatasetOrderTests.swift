import Foundation
import MegatronData
import Testing

@Suite("GPTDataset order matches megatron-core 0.16.1")
struct GPTDatasetOrderTests {
    @Test(arguments: OrderFixtures.gptCases)
    func indicesAndSamples(name: String) throws {
        let c: GPTCase = try OrderFixtures.load(name)
        let corpus = SyntheticCorpus(corpus: 0, count: c.num_sequences)
        let built = try GPTDatasetBuilder.build(
            corpora: [corpus], weights: nil, split: DatasetSplit(c.split), sizes: c.sizes,
            sequenceLength: c.sequence_length, seed: c.seed,
            dropLastPartialValidationSequence: c.drop_last_partial_validation_sequence)
        #expect(built.count == c.splits.count)
        for (s, expected) in c.splits.enumerated() {
            guard let expected else {
                #expect(built[s] == nil, "\(name) split \(s)")
                continue
            }
            let dataset = try #require(built[s] as? GPTDataset, "\(name) split \(s)")
            #expect(dataset.documents == expected.indices_begin..<expected.indices_end, "\(name) split \(s)")
            #expect(dataset.documentIndex == expected.document_index, "\(name) split \(s) document index")
            #expect(dataset.sampleIndex == expected.sampleBoundaries, "\(name) split \(s) sample index")
            #expect(dataset.shuffleIndex == expected.shuffle_index, "\(name) split \(s) shuffle index")
            for (i, text) in expected.texts.enumerated() {
                #expect(try dataset.sample(i) == text, "\(name) split \(s) sample \(i)")
            }
        }
    }

    @Test func fixturesCoverTheSeparateLastEpoch() throws {
        let c: GPTCase = try OrderFixtures.load("gpt_separate_last_epoch")
        let corpus = SyntheticCorpus(corpus: 0, count: c.num_sequences)
        let train = try #require(c.splits[0])
        let d = try GPTDataset(sequences: corpus, documents: train.indices_begin..<train.indices_end,
                               sequenceLength: c.sequence_length, numSamples: train.num_samples, seed: c.seed)
        #expect(d.plan.numEpochs > 1)
        #expect(d.plan.separateFinalEpoch)
        #expect(d.shuffleIndex == train.shuffle_index)
    }

    /// Megatron would loop forever on these; here they are errors.
    @Test func splitsWithoutTokensAreRefused() throws {
        struct Empty: TokenSequences {
            let sequenceLengths: [Int32] = [0, 0, 5]
            var documentIndices: [Int] { [0, 1, 2, 3] }
            func tokens(sequence: Int, offset: Int, count: Int?) throws -> [Int32] { [] }
        }
        #expect(throws: GPTDatasetError.noTokens(0..<2)) {
            try GPTDataset(sequences: Empty(), documents: 0..<2, sequenceLength: 4, numSamples: 3, seed: 1)
        }
        #expect(throws: GPTDatasetError.emptySplit(2..<2)) {
            try GPTDataset(sequences: Empty(), documents: 2..<2, sequenceLength: 4, numSamples: 3, seed: 1)
        }
    }

    @Test func splitParsing() throws {
        let split = try DatasetSplit("969,30,1")
        #expect(split.ranges(count: 1000) == [0..<969, 969..<999, 999..<1000])
        // Python's round is half-to-even: 0.5 rounds to 0, 2.5 to 2.
        #expect(try DatasetSplit("1,1").ranges(count: 1) == [0..<0, 0..<1, nil])
        #expect(try DatasetSplit("1,1").ranges(count: 5) == [0..<2, 2..<5, nil])
        #expect(try DatasetSplit("98,2,0").ranges(count: 40) == [0..<39, 39..<40, nil])
        #expect(throws: DatasetSplitError.self) { try DatasetSplit("0,0,0") }
    }

    @Test func sampleIndexContinuesOnTheLastToken() {
        // Two documents of 5 and 7 tokens, S = 4: samples take 5 tokens and overlap by one.
        let boundaries = GPTIndices.sampleIndex(sizes: [5, 7], documentIndex: [0, 1], sequenceLength: 4,
                                                numEpochs: 1, tokensPerEpoch: 12)
        #expect(boundaries == [SampleBoundary(0, 0), SampleBoundary(0, 4), SampleBoundary(1, 3)])
    }
}

@Suite("GPTDataset over an IndexedDataset megatron-core wrote")
struct GPTDatasetIndexedTests {
    @Test func sameOrderAndTokensAsTheSyntheticCorpus() throws {
        let c: GPTCase = try OrderFixtures.load("gpt_keep_partial_valid")
        let bin = try #require(Bundle.module.url(forResource: "corpus0_50", withExtension: "bin", subdirectory: "Fixtures/order"))
        let data = try IndexedDataset(prefix: bin.deletingPathExtension().path)
        #expect(data.sequenceLengths == SyntheticCorpus(corpus: 0, count: c.num_sequences).sequenceLengths)
        let built = try GPTDatasetBuilder.build(
            corpora: [data], weights: nil, split: DatasetSplit(c.split), sizes: c.sizes,
            sequenceLength: c.sequence_length, seed: c.seed,
            dropLastPartialValidationSequence: c.drop_last_partial_validation_sequence)
        for (s, expected) in c.splits.enumerated() {
            guard let expected else { continue }
            let dataset = try #require(built[s] as? GPTDataset)
            #expect(dataset.shuffleIndex == expected.shuffle_index)
            for (i, text) in expected.texts.enumerated() {
                #expect(try dataset.sample(i) == text, "split \(s) sample \(i)")
            }
        }
    }
}
