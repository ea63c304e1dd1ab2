import MegatronCPU
import MegatronTensor
import Testing

/// The vocabulary-parallel ops, split over shards, against the whole-vocabulary ops.
@Suite("Vocabulary shards add up to the whole vocabulary")
struct VocabularyShardTests {
    let b = CPUBackend()

    /// Columns `range` of a row-major `[rows, columns]` matrix.
    func columns(_ values: [Float], rows: Int, columns: Int, _ range: Range<Int>) -> [Float] {
        (0..<rows).flatMap { r in values[r * columns + range.lowerBound..<r * columns + range.upperBound] }
    }

    @Test(arguments: [1, 2, 4])
    func crossEntropyOverShards(shards: Int) throws {
        let (n, vocab) = (6, 40)
        let values = randomValues(n * vocab, seed: 7, scale: 3)
        let logits = try b.tensor(values, shape: [n, vocab])
        // Targets in every shard, including the first and last column.
        let targets = try b.tensor(int32: [0, 39, 11, 20, 29, 5], shape: [n])
        let weights = try b.tensor([0.5, 1, 2, 0, 1, 0.25], shape: [n])
        let losses = try b.empty([n], dtype: .fp32), gradient = try b.tensor(values, shape: [n, vocab])
        try b.crossEntropy(logits, targets: targets, losses: losses)
        try b.crossEntropyBackward(gradient, targets: targets, dloss: weights, into: gradient)

        let width = vocab / shards
        let slices = try (0..<shards).map { k in
            try b.tensor(columns(values, rows: n, columns: vocab, k * width..<(k + 1) * width), shape: [n, width])
        }
        let partials = try b.empty([shards, n, 3], dtype: .fp32)
        for (k, slice) in slices.enumerated() {
            try b.crossEntropyPartials(slice, targets: targets, vocabStart: k * width, vocabSize: vocab,
                                       into: partials.view(offset: k * n * 3, shape: [n, 3]))
        }
        let lse = try b.empty([n], dtype: .fp32), shardLosses = try b.empty([n], dtype: .fp32)
        try b.crossEntropyCombine(partials, lse: lse, losses: shardLosses)
        #expect(relativeError(try b.download(shardLosses), try b.download(losses)) < 1e-6)

        let want = try b.download(gradient)
        for (k, slice) in slices.enumerated() {
            try b.crossEntropyShardBackward(slice, targets: targets, vocabStart: k * width, lse: lse, weights: weights, into: slice)
            let got = try b.download(slice)
            #expect(relativeError(got, columns(want, rows: n, columns: vocab, k * width..<(k + 1) * width)) < 1e-5, "shard \(k)")
        }
    }

    @Test func embeddingOverShards() throws {
        let (vocab, h) = (12, 4)
        let table = randomValues(vocab * h, seed: 3)
        let ids = try b.tensor(int32: [0, 11, 5, 6, 5, 2], shape: [2, 3])
        let dout = try b.tensor(randomValues(6 * h, seed: 4), shape: [6, h])
        let full = try b.empty([6, h], dtype: .fp32), dfull = try b.zeros([vocab, h])
        try b.embedding(ids, table: try b.tensor(table, shape: [vocab, h]), into: full)
        try b.embeddingBackward(ids, dout: dout, into: dfull)

        let sum = try b.zeros([6, h])
        var dtable: [Float] = []
        for start in stride(from: 0, to: vocab, by: 6) {
            let part = try b.empty([6, h], dtype: .fp32), dpart = try b.zeros([6, h])
            try b.embedding(ids, table: try b.tensor(Array(table[start * h..<(start + 6) * h]), shape: [6, h]),
                            vocabStart: start, vocabSize: vocab, into: part)
            try b.add(sum, part, into: sum)
            try b.embeddingBackward(ids, dout: dout, vocabStart: start, vocabSize: vocab, into: dpart)
            dtable += try b.download(dpart)
        }
        #expect(try b.download(sum) == b.download(full))
        #expect(dtable == (try b.download(dfull)))
    }

    @Test func idsOutsideTheWholeVocabularyThrow() throws {
        let ids = try b.tensor(int32: [3, 12], shape: [2])
        #expect(throws: TensorError.self) {
            try b.embedding(ids, table: try b.zeros([6, 4]), vocabStart: 6, vocabSize: 12, into: try b.empty([2, 4], dtype: .fp32))
        }
        #expect(throws: TensorError.self) {
            try b.crossEntropyPartials(try b.zeros([2, 6]), targets: ids, vocabStart: 6, vocabSize: 12, into: try b.empty([2, 3], dtype: .fp32))
        }
        #expect(throws: TensorError.self) {
            try b.embedding(try b.tensor(int32: [1], shape: [1]), table: try b.zeros([6, 4]), vocabStart: 8, vocabSize: 12,
                            into: try b.empty([1, 4], dtype: .fp32))
        }
    }
}
