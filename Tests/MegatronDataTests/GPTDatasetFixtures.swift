import Foundation
import MegatronData

/// The synthetic corpus scripts/fixtures/make_order_fixtures.py writes as an IndexedDataset:
/// sequence i of corpus c has an irregular length and computable tokens, so Megatron's samples
/// can be rebuilt here without shipping the .bin files.
struct SyntheticCorpus: TokenSequences {
    let corpus: Int
    let sequenceLengths: [Int32]
    var documentIndices: [Int] { Array(0...sequenceLengths.count) }

    init(corpus: Int, count: Int) {
        self.corpus = corpus
        sequenceLengths = (0..<count).map { i in Int32(2 + ((i * 37 + corpus * 11) * 7919 + 13) % 47) }
    }

    func token(_ i: Int, _ k: Int) -> Int32 { Int32((corpus * 100_003 + i * 1009 + k * 7) % 50000 + 1) }

    func tokens(sequence: Int, offset: Int, count: Int?) throws -> [Int32] {
        let end = count.map { offset + $0 } ?? Int(sequenceLengths[sequence])
        precondition(end <= Int(sequenceLengths[sequence]), "read past the sequence")
        return (offset..<end).map { token(sequence, $0) }
    }
}

/// One GPTDataset's indices as megatron-core built them.
struct GPTRecord: Decodable {
    let indices_begin: Int
    let indices_end: Int
    let num_samples: Int?
    let document_index: [Int32]
    let sample_index: [[Int]]
    let shuffle_index: [Int]
    let texts: [[Int32]]

    var sampleBoundaries: [SampleBoundary] { sample_index.map { SampleBoundary($0[0], $0[1]) } }
}

struct GPTCase: Decodable {
    let name: String
    let num_sequences: Int
    let split: String
    let seed: UInt32
    let sequence_length: Int
    let sizes: [Int]
    let drop_last_partial_validation_sequence: Bool
    let splits: [GPTRecord?]
}

struct BlendSplit: Decodable {
    let weights: [Double]
    let size: Int
    let dataset_index: [Int16]
    let dataset_sample_index: [Int]
    let datasets: [GPTRecord]
    let texts: [[Int32]]
}

struct BlendCase: Decodable {
    let name: String
    let num_sequences: [Int]
    /// nil: an unweighted blend (Megatron weights each corpus by its sample count).
    let weights: [Double]?
    let split: String
    let seed: UInt32
    let sequence_length: Int
    let sizes: [Int]
    let splits: [BlendSplit?]
}

struct NumpyShuffle: Decodable {
    let n: Int
    let dtype: String
    let head: [Int]
    let sum_ix: Int
}

struct NumpyCase: Decodable {
    let seed: UInt32
    let raw: [UInt32]
    let shuffles: [NumpyShuffle]
    let wide_max: UInt64
    let wide: [UInt64]
}

enum OrderFixtures {
    static func load<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures/order") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/order/\(name).json"])
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static let gptCases = ["gpt_one_epoch", "gpt_separate_last_epoch", "gpt_multi_epoch", "gpt_keep_partial_valid"]
    static let blendCases = ["blend_three", "blend_two", "blend_unweighted"]
}
