import MegatronData
import Testing

@Suite("Mock datasets")
struct MockDatasetTests {
    @Test func sampleKDependsOnlyOnSeedAndK() throws {
        let a = MockGPTDataset(vocabSize: 100, seqLength: 8, seed: 5), b = MockGPTDataset(vocabSize: 100, seqLength: 8, seed: 5)
        #expect(try a.sample(7) == b.sample(7))
        #expect(try a.sample(7) != a.sample(8))
        #expect(try a.sample(3).allSatisfy { (0..<100).contains($0) })
    }
}
