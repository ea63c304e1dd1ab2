import MegatronCPU
import MegatronData
@testable import MegatronTraining
import Testing

/// Samples whose end-of-document tokens (id 0) sit at known places.
private struct Documents: GPTSampleSource {
    let seqLength = 6
    func sample(_ index: Int) throws -> [Int32] { index % 2 == 0 ? [5, 6, 0, 7, 8, 0, 9] : [1, 2, 3, 4, 5, 6, 7] }
}

@Suite("End-of-document handling")
struct EndOfDocumentTests {
    func trainer(_ extra: [String], eod: Int?) throws -> Trainer {
        var setup = try TrainingSetup(try TrainingArguments.parse([
            "--mock-data", "--num-layers", "1", "--hidden-size", "8", "--num-attention-heads", "2", "--seq-length", "6",
            "--vocab-size", "16", "--micro-batch-size", "2", "--train-iters", "1", "--lr", "1e-3",
        ] + extra))
        setup.eodToken = eod
        return try Trainer(setup: setup, backend: CPUBackend(), train: Documents(), validation: nil)
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
        #expect(batch.lossMask == nil && batch.positions == nil)
    }

    @Test func theOptionsNeedAnEndOfDocumentId() {
        #expect(throws: Error.self) { _ = try trainer(["--eod-mask-loss"], eod: nil) }
        do {
            _ = try trainer(["--reset-attention-mask"], eod: 0)
            Issue.record("--reset-attention-mask accepted")
        } catch {
            #expect("\(error)".hasPrefix("--reset-attention-mask is not implemented yet"))
        }
    }
}
