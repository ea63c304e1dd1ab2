import Foundation

/// Megatron-core's BlendedDataset: samples drawn from several datasets in proportion to weights,
/// in the deterministic order of helpers.cpp `build_blending_indices` (no randomness: sample t
/// comes from the dataset furthest behind its share).
///
///     let blend = try BlendedDataset(datasets: [web, code], weights: [0.7, 0.3], size: 1000)
///     let tokens = try blend.sample(0)
public struct BlendedDataset: GPTSampleSource {
    /// The blended sources, usually one ``GPTDataset`` per corpus.
    public let datasets: [any GPTSampleSource]
    /// Normalised weights, as Megatron stores them.
    public let weights: [Double]
    /// Which dataset each blended sample comes from (Megatron's int16 `dataset_index`).
    public let datasetIndex: [Int16]
    /// Which sample of that dataset (Megatron's `dataset_sample_index`).
    public let datasetSampleIndex: [Int]
    /// S, shared by every blended source.
    public let seqLength: Int

    /// - Parameters:
    ///   - weights: any positive weights; normalised here as Megatron does.
    ///   - size: blended samples to index.
    ///   - datasetSizes: each dataset's sample count when known; a blend that asks a dataset for
    ///     more samples than it holds is refused, as Megatron refuses it.
    public init(datasets: [any GPTSampleSource], weights: [Double], size: Int, datasetSizes: [Int]? = nil) throws {
        guard !datasets.isEmpty, datasets.count == weights.count, datasets.count < 32767,
              weights.allSatisfy({ $0 > 0 })
        else { throw BlendedDatasetError.invalidWeights(weights) }
        let seqLength = datasets[0].seqLength
        guard datasets.allSatisfy({ $0.seqLength == seqLength }) else {
            throw BlendedDatasetError.mixedSequenceLengths(datasets.map(\.seqLength))
        }
        self.datasets = datasets
        self.seqLength = seqLength
        self.weights = DatasetSplit.normalize(weights)
        (datasetIndex, datasetSampleIndex) = BlendedDataset.blendingIndices(weights: self.weights, size: size)
        if let datasetSizes {
            var used = [Int](repeating: 0, count: datasets.count)
            for d in datasetIndex { used[Int(d)] += 1 }
            for (i, n) in used.enumerated() where n > datasetSizes[i] {
                throw BlendedDatasetError.oversampled(dataset: i, requested: n, available: datasetSizes[i])
            }
        }
    }

    /// Samples in the blend.
    public var count: Int { datasetIndex.count }

    /// Blended sample `index` (wrapping past `count`).
    public func sample(_ index: Int) throws -> [Int32] {
        let t = index % count
        return try datasets[Int(datasetIndex[t])].sample(datasetSampleIndex[t])
    }

    /// helpers.cpp `build_blending_indices`: for sample t pick the dataset i maximising
    /// `w_i · max(t, 1) − taken_i` in double precision (first maximum wins on ties).
    public static func blendingIndices(weights: [Double], size: Int) -> (datasetIndex: [Int16], datasetSampleIndex: [Int]) {
        var taken = [Int](repeating: 0, count: weights.count)
        var datasetIndex = [Int16](repeating: 0, count: size)
        var sampleIndex = [Int](repeating: 0, count: size)
        for t in 0..<size {
            let scale = max(Double(t), 1.0)
            var best = 0
            var bestError = weights[0] * scale - Double(taken[0])
            for i in weights.indices.dropFirst() {
                let error = weights[i] * scale - Double(taken[i])
                if error > bestError {
                    bestError = error
                    best = i
                }
            }
            datasetIndex[t] = Int16(best)
            sampleIndex[t] = taken[best]
            taken[best] += 1
        }
        return (datasetIndex, sampleIndex)
    }

    /// `_get_size_per_split_per_dataset`: samples each dataset contributes to a blend of
    /// `targetSize`, `ceil(ceil(targetSize · w_i) · (1 + surplus))`. With surplus 0 these are the
    /// blend's shares (their sum is the blend's size); with Megatron's default surplus 0.005
    /// they are the sizes the per-dataset GPTDatasets are built with.
    public static func sizesPerDataset(normalizedWeights: [Double], targetSize: Int, surplus: Double = 0) -> [Int] {
        normalizedWeights.map { w in
            Int((((Double(targetSize) * w).rounded(.up)) * (1 + surplus)).rounded(.up))
        }
    }
}

/// A blend Megatron would also refuse.
public enum BlendedDatasetError: Error, Equatable, CustomStringConvertible {
    case invalidWeights([Double])
    case mixedSequenceLengths([Int])
    case oversampled(dataset: Int, requested: Int, available: Int)

    public var description: String {
        switch self {
        case let .invalidWeights(w): "blend weights \(w) are invalid: expected one non-negative weight per dataset, not all 0"
        case let .mixedSequenceLengths(s): "blended datasets have different sequence lengths \(s)"
        case let .oversampled(d, requested, available):
            "the blend asks dataset \(d) for \(requested) samples but it has \(available)"
        }
    }
}
