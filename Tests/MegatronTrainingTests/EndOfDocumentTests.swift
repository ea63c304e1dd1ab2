import Foundation
import MegatronCPU
import MegatronData
import MegatronModels
import MegatronTensor
@testable import MegatronTraining
import Testing

/// Samples whose end-of-document tokens (id 0) sit at known places.
private struct Documents: GPTSampleSource {
    let seqLength = 6
    func sample(_ index: Int) throws -> [Int32] { index % 2 == 0 ? [5, 6, 0, 7, 8, 0, 9] : [1, 2, 3, 4, 5, 6, 7] }
}

/// Samples of `seqLength + 1` tokens from a fixed seed, about one in four the end-of-document
/// id 0 (runs of them, and at the first and last input positions, included).
private struct RandomDocuments: GPTSampleSource {
    let seqLength: Int
    func sample(_ index: Int) throws -> [Int32] {
        let rng = Philox(seed: 17)
        var tokens = (0...seqLength).map { t -> Int32 in
            let u = rng.uniform(UInt64(t), subsequence: UInt64(index))
            return u < 0.25 ? 0 : 1 + Int32(u * 14)
        }
        if index % 3 == 0 { tokens[0] = 0 }
        if index % 3 == 1 { tokens[seqLength - 1] = 0 }
        return tokens
    }
}

@Suite("End-of-document handling")
struct EndOfDocumentTests {
    func trainer(_ extra: [String], eod: Int?, seqLength: Int = 6, source: (any GPTSampleSource)? = nil) throws -> Trainer {
        var setup = try TrainingSetup(try TrainingArguments.parse([
            "--mock-data", "--num-layers", "1", "--hidden-size", "8", "--num-attention-heads", "2", "--seq-length", "\(seqLength)",
            "--vocab-size", "16", "--micro-batch-size", "2", "--train-iters", "1", "--lr", "1e-3",
        ] + extra))
        setup.eodToken = eod
        return try Trainer(setup: setup, backend: CPUBackend(), train: source ?? Documents(), validation: nil)
    }

    @Test func maskAndPositionsFollowMegatron() throws {
        let t = try trainer(["--eod-mask-loss", "--reset-position-ids"], eod: 0)
        let batch = try t.trainLoader.batch(firstSample: 0)
        // Sequence-major [s, b]: column 0 is sample 0 (documents end at t = 2 and 5), column 1 sample 1.
        let mask = try #require(batch.lossMask)
        #expect(stride(from: 0, to: 12, by: 2).map { mask[$0] } == [1, 1, 0, 1, 1, 0])
        #expect(stride(from: 1, to: 12, by: 2).map { mask[$0] } == [1, 1, 1, 1, 1, 1])
        let positions = try #require(batch.positions).map(Int.init)
        #expect(stride(from: 0, to: 12, by: 2).map { positions[$0] } == [0, 1, 2, 0, 1, 2])
        #expect(stride(from: 1, to: 12, by: 2).map { positions[$0] } == [0, 1, 2, 3, 4, 5])
        #expect(try t.step().loss.isFinite)
    }

    @Test func withoutTheOptionsNothingIsMasked() throws {
        let batch = try trainer([], eod: 0).trainLoader.batch(firstSample: 0)
        #expect(batch.lossMask == nil && batch.positions == nil && batch.segments == nil)
    }

    @Test func theOptionsNeedAnEndOfDocumentId() throws {
        #expect(throws: Error.self) { _ = try trainer(["--eod-mask-loss"], eod: nil) }
        #expect(throws: Error.self) { _ = try trainer(["--reset-attention-mask"], eod: nil) }
        let t = try trainer(["--reset-attention-mask"], eod: 0)
        #expect(t.setup.resetAttentionMask)
        #expect(try t.step().loss.isFinite)
    }

    @Test func segmentsFollowMegatron() throws {
        let batch = try trainer(["--reset-attention-mask"], eod: 0).trainLoader.batch(firstSample: 0)
        #expect(batch.lossMask == nil && batch.positions == nil)
        // Batch-major [b, s]. Sample 0's inputs 5 6 0 7 8 0: documents end at t = 2 and t = 5 (the
        // last input: nothing follows it in the sample); sample 1 has no end-of-document token.
        #expect(batch.segments == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    }

    /// Megatron's `_get_ltor_masks_and_position_ids` literally (a lower-triangular mask, then
    /// `mask[i + 1:, :i + 1] = 0` for every end-of-document input token i) against "attend iff
    /// k ≤ q and same segment", on random samples.
    @Test func segmentsGiveMegatronsMask() throws {
        let s = 24
        let t = try trainer(["--reset-attention-mask", "--reset-position-ids", "--eod-mask-loss"], eod: 0, seqLength: s,
                            source: RandomDocuments(seqLength: s))
        for first in stride(from: 0, to: 12, by: 2) {
            let batch = try t.trainLoader.batch(firstSample: first)
            let segments = try #require(batch.segments)
            for j in 0..<2 {
                let tokens = (0..<s).map { batch.tokens[$0 * 2 + j] }
                var megatron = (0..<s).map { q in (0..<s).map { k in k <= q } }
                for i in 0..<s where tokens[i] == 0 {
                    for q in (i + 1)..<s { for k in 0...i { megatron[q][k] = false } }
                }
                let ids = Array(segments[(j * s)..<((j + 1) * s)])
                for q in 0..<s {
                    for k in 0..<s where megatron[q][k] != (k <= q && ids[k] == ids[q]) {
                        Issue.record("sample \(first + j): query \(q), key \(k): Megatron \(megatron[q][k]), segments \(ids)")
                    }
                }
                #expect(tokens.contains(0))
            }
        }
    }

    /// Host log-softmax losses of `logits [rows, V]` at `targets`.
    func losses(_ logits: [Float], vocab: Int, targets: [Int32]) -> [Double] {
        targets.enumerated().map { row, target in
            let r = logits[(row * vocab)..<((row + 1) * vocab)].map(Double.init)
            let m = r.max()!
            return m + Foundation.log(r.map { Foundation.exp($0 - m) }.reduce(0, +)) - r[Int(target)]
        }
    }

    /// A packed sample of two documents gives each token the logits and loss it has when its
    /// document is fed alone; the packed sample's gradient is the two documents' (learned and
    /// rotary positions: RoPE scores depend only on distances, so offsets cancel).
    @Test(arguments: ["learned_absolute", "rope"])
    func packedDocumentsMatchSeparateOnes(positionType: String) throws {
        let t = try trainer(["--reset-attention-mask", "--reset-position-ids", "--position-embedding-type", positionType,
                             "--attention-dropout", "0", "--hidden-dropout", "0"], eod: 0)
        let model = t.model, b = model.backend
        let vocab = model.config.paddedVocabSize
        func logits(_ batch: GPTBatch) throws -> [Float] {
            try b.download(try #require(try model.forward(batch, dropoutSeed: nil, keepLogits: true).logits))
        }
        // Sample 0 of the loader: inputs 5 6 0 | 7 8 0, targets 6 0 7 | 8 0 9 (column 0 of [s, 2]).
        let host = try t.trainLoader.batch(firstSample: 0)
        let packed = try logits(try t.upload(host))
        let packedLosses = losses(packed, vocab: vocab, targets: host.targets)
        func alone(_ tokens: [Int32], _ targets: [Int32]) throws -> GPTBatch {
            GPTBatch(tokens: try b.tensor(int32: tokens, shape: [tokens.count, 1]), targets: try b.tensor(int32: targets, shape: [tokens.count, 1]),
                     positions: try b.tensor(int32: (0..<tokens.count).map(Int32.init), shape: [tokens.count, 1]))
        }
        let documents = [(tokens: [Int32]([5, 6, 0]), targets: [Int32]([6, 0, 7])), (tokens: [7, 8, 0], targets: [8, 0, 9])]
        for (n, doc) in documents.enumerated() {
            let own = try logits(try alone(doc.tokens, doc.targets))
            let rows = (0..<3).map { (3 * n + $0) * 2 }   // packed rows t·b + 0
            let mine = rows.flatMap { packed[($0 * vocab)..<(($0 + 1) * vocab)] }
            #expect(relativeError(mine, own) < 1e-5, "logits of document \(n)")
            let ownLosses = losses(own, vocab: vocab, targets: doc.targets)
            for (k, row) in rows.enumerated() {
                #expect(abs(packedLosses[row] - ownLosses[k]) < 1e-5, "loss of token \(k) of document \(n)")
            }
        }
        // Without the mask, the second document sees the first: its logits differ.
        let open = try trainer(["--reset-position-ids", "--position-embedding-type", positionType,
                                "--attention-dropout", "0", "--hidden-dropout", "0"], eod: 0)
        let unmasked = try b.download(try #require(try open.model.forward(try open.upload(open.trainLoader.batch(firstSample: 0)),
                                                                         dropoutSeed: nil, keepLogits: true).logits))
        #expect(relativeError(Array(unmasked[(6 * vocab)..<(7 * vocab)]), Array(packed[(6 * vocab)..<(7 * vocab)])) > 1e-4)

        // Gradients: the packed sample's mean loss over 6 tokens = ½ (mean over document 1 + mean over document 2).
        let segments = try b.tensor(int32: [0, 0, 0, 1, 1, 1], shape: [1, 6])
        let one = GPTBatch(tokens: try b.tensor(int32: [5, 6, 0, 7, 8, 0], shape: [6, 1]), targets: try b.tensor(int32: [6, 0, 7, 8, 0, 9], shape: [6, 1]),
                           positions: try b.tensor(int32: [0, 1, 2, 0, 1, 2], shape: [6, 1]), segments: segments)
        try model.store.zeroGrad()
        try model.backward(try model.forward(one, dropoutSeed: nil), gradientScale: 1)
        let packedGrads = try b.download(model.store.grads)
        try model.store.zeroGrad()
        for doc in documents { try model.backward(try model.forward(try alone(doc.tokens, doc.targets), dropoutSeed: nil), gradientScale: 0.5) }
        let separateGrads = try b.download(model.store.grads)
        #expect(relativeError(packedGrads, separateGrads) < 1e-5)
        #expect(packedGrads.contains { $0 != 0 })
    }
}
