/// Megatron-core's GPTDataset index builders as pure functions, bit-identical to 0.16.1.
/// "Documents" here are what GPTDataset splits: sequences of the IndexedDataset.
///
///     var rng = NumpyRandomState(seed: 1234)
///     let docs = GPTIndices.documentIndex(documents: Array(0..<100), numEpochs: 2,
///                                         separateFinalEpoch: false, rng: &rng)
///     let samples = GPTIndices.sampleIndex(sizes: lengths, documentIndex: docs, sequenceLength: 1024,
///                                          numEpochs: 2, tokensPerEpoch: total)
///     let shuffle = GPTIndices.shuffleIndex(numSamples: samples.count - 1,
///                                           totalSize: samples.count - 1, rng: &rng)
public enum GPTIndices {
    /// `_build_document_index`: the split's documents tiled `numEpochs` times and shuffled with
    /// one `shuffle` call; with `separateFinalEpoch` the first E − 1 epochs and the last one
    /// are shuffled separately (in that order) and concatenated.
    public static func documentIndex(
        documents: [Int32], numEpochs: Int, separateFinalEpoch: Bool, rng: inout NumpyRandomState
    ) -> [Int32] {
        if !separateFinalEpoch || numEpochs == 1 {
            var index = [Int32]()
            index.reserveCapacity(documents.count * numEpochs)
            for _ in 0..<numEpochs { index.append(contentsOf: documents) }
            rng.shuffle(&index)
            return index
        }
        let first = documentIndex(documents: documents, numEpochs: numEpochs - 1,
                                  separateFinalEpoch: false, rng: &rng)
        let last = documentIndex(documents: documents, numEpochs: 1, separateFinalEpoch: false, rng: &rng)
        return first + last
    }

    /// helpers.cpp `build_sample_idx`: walks the document index cutting samples of
    /// `sequenceLength + addExtraToken` tokens; each next sample starts on the last token of the
    /// previous one when the extra token is added. Returns `numSamples + 1` boundaries.
    ///
    /// With `dropLastPartialSequence` false the count is `ceil` of a single-precision float
    /// division (as the C++ does), and the last sample may stop short at the end of the data.
    public static func sampleIndex(
        sizes: [Int32], documentIndex: [Int32], sequenceLength: Int, numEpochs: Int,
        tokensPerEpoch: Int, dropLastPartialSequence: Bool = true, addExtraToken: Int = 1
    ) -> [SampleBoundary] {
        let totalTokens = numEpochs * tokensPerEpoch - addExtraToken
        let numSamples: Int
        if dropLastPartialSequence {
            numSamples = totalTokens / sequenceLength
        } else {
            // C++: ceil(float(num_epochs * tokens_per_epoch - extra) / seq_length), in float32.
            numSamples = Int((Float(totalTokens) / Float(sequenceLength)).rounded(.up))
        }
        var result = [SampleBoundary]()
        result.reserveCapacity(numSamples + 1)
        var position = 0
        var offset = 0
        result.append(SampleBoundary(0, 0))
        while result.count <= numSamples {
            var remaining = sequenceLength + addExtraToken
            while remaining != 0 {
                let documentLength = Int(sizes[Int(documentIndex[position])]) - offset
                remaining -= documentLength
                if remaining <= 0 {
                    // The sample ends inside this document; the next starts on its last token.
                    offset += remaining + documentLength - addExtraToken
                    remaining = 0
                } else if position == documentIndex.count - 1 {
                    // Out of documents: only the partial last sample can get here.
                    offset = Int(sizes[Int(documentIndex[position])]) - addExtraToken
                    break
                } else {
                    position += 1
                    offset = 0
                }
            }
            result.append(SampleBoundary(position, offset))
        }
        return result
    }

    /// `_build_shuffle_index`: `0..<numSamples` shuffled, then (when `totalSize` is larger)
    /// `numSamples..<totalSize` shuffled separately and appended.
    public static func shuffleIndex(numSamples: Int, totalSize: Int, rng: inout NumpyRandomState) -> [Int] {
        var first = Array(0..<numSamples)
        rng.shuffle(&first)
        if numSamples == totalSize { return first }
        var last = Array(numSamples..<totalSize)
        rng.shuffle(&last)
        return first + last
    }

    /// The three indices of one GPTDataset, built in Megatron's order from one
    /// `RandomState(seed)` stream: document index, sample index, shuffle index.
    ///
    ///     let built = GPTIndices.build(sizes: lengths, documents: Array(0..<581),
    ///                                  sequenceLength: 16, numSamples: 40, seed: 1234)
    public static func build(
        sizes: [Int32], documents: [Int32], sequenceLength: Int, numSamples: Int?, seed: UInt32,
        dropLastPartialSequence: Bool = true, addExtraToken: Int = 1
    ) -> Built {
        let tokensPerEpoch = documents.reduce(0) { $0 + Int(sizes[Int($1)]) }
        let plan = GPTEpochPlan(tokensPerEpoch: tokensPerEpoch, sequenceLength: sequenceLength,
                                numSamples: numSamples, addExtraToken: addExtraToken)
        var rng = NumpyRandomState(seed: seed)
        let documentIndex = documentIndex(documents: documents, numEpochs: plan.numEpochs,
                                          separateFinalEpoch: plan.separateFinalEpoch, rng: &rng)
        let sampleIndex = sampleIndex(
            sizes: sizes, documentIndex: documentIndex, sequenceLength: sequenceLength,
            numEpochs: plan.numEpochs, tokensPerEpoch: tokensPerEpoch,
            dropLastPartialSequence: dropLastPartialSequence, addExtraToken: addExtraToken)
        let count = sampleIndex.count - 1
        let shuffleIndex = shuffleIndex(
            numSamples: plan.separateFinalEpoch ? plan.numSamplesSansFinalEpoch : count,
            totalSize: count, rng: &rng)
        return Built(plan: plan, documentIndex: documentIndex, sampleIndex: sampleIndex, shuffleIndex: shuffleIndex)
    }

    /// One GPTDataset's indices.
    public struct Built: Equatable, Sendable {
        public var plan: GPTEpochPlan
        public var documentIndex: [Int32]
        public var sampleIndex: [SampleBoundary]
        public var shuffleIndex: [Int]
    }
}
