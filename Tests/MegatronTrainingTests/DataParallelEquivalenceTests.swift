import MegatronCPU
import MegatronData
import MegatronParallel
import MegatronTensor
import MegatronTraining
import Synchronization
import Testing

@Suite("Data parallelism is exactly one rank's training")
struct DataParallelEquivalenceTests {
    static let flags = [
        "--mock-data", "--num-layers", "2", "--hidden-size", "32", "--num-attention-heads", "4",
        "--seq-length", "16", "--max-position-embeddings", "16", "--vocab-size", "100",
        "--micro-batch-size", "2", "--global-batch-size", "8", "--train-iters", "5", "--lr", "3e-3",
        "--hidden-dropout", "0", "--attention-dropout", "0", "--seed", "11",
    ]

    /// Losses and gradient norms of 5 iterations and the parameters after them, on `dp` thread
    /// ranks (rank 0's; every rank must hold the same parameters). The gradient norm is in the
    /// comparison because Adam's update barely changes when every gradient is scaled alike.
    static func train(dp: Int, extra: [String] = []) throws -> (losses: [Float], parameters: [Float]) {
        let setup = try TrainingSetup(try TrainingArguments.parse(flags + extra), worldSize: dp)
        let data = MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 3)
        let results = Mutex<[Int: (losses: [Float], parameters: [Float])]>([:])
        let world = LocalWorld(size: dp, timeout: 60)
        try world.run { rank in
            let group = dp > 1 ? try world.group(ranks: Array(0..<dp), rank: rank, name: "dp") : nil
            let backend = CPUBackend()
            let trainer = try Trainer(setup: setup, backend: backend, train: data, validation: nil, dataParallelGroup: group)
            let losses = try (0..<5).flatMap { _ in
                let step = try trainer.step()
                return [step.loss, Float(step.gradNorm)]
            }
            let parameters = try backend.download(trainer.model.store.values)
            results.withLock { $0[rank] = (losses, parameters) }
        }
        let all = results.withLock { $0 }
        for rank in 1..<dp { #expect(all[rank]!.parameters == all[0]!.parameters, "rank \(rank) diverged from rank 0") }
        return all[0]!
    }

    static func expectClose(_ got: (losses: [Float], parameters: [Float]), _ want: (losses: [Float], parameters: [Float]), _ what: String) {
        #expect(relativeError(got.losses, want.losses) < 1e-5, "\(what): losses and gradient norms \(got.losses) vs \(want.losses)")
        let err = relativeError(got.parameters, want.parameters)
        #expect(err < 1e-5, "\(what): parameters differ by \(err) relative")
    }

    @Test(arguments: [
        (2, [String]()), (4, []), (2, ["--use-distributed-optimizer"]), (4, ["--use-distributed-optimizer"]),
        (2, ["--overlap-grad-reduce"]),
    ])
    func matchesOneRank(dp: Int, extra: [String]) throws {
        let reference = try Self.train(dp: 1, extra: extra)
        // The parameters moved: the comparison is not between two copies of the initialisation.
        let initial = try Self.train(dp: 1, extra: extra + ["--lr", "0"]).parameters
        #expect(relativeError(reference.parameters, initial) > 1e-3)
        Self.expectClose(try Self.train(dp: dp, extra: extra), reference, "dp \(dp) \(extra)")
    }

    @Test func modelParallelLayoutsAreRefusedByName() throws {
        do {
            _ = try TrainingSetup(try TrainingArguments.parse(Self.flags + ["--tensor-model-parallel-size", "2"]), worldSize: 4)
            Issue.record("tensor parallelism accepted")
        } catch {
            #expect("\(error)".hasPrefix("--tensor-model-parallel-size 2: only data parallelism runs across ranks so far"))
        }
        do {
            _ = try TrainingSetup(try TrainingArguments.parse(Self.flags + ["--pipeline-model-parallel-size", "3"]), worldSize: 4)
            Issue.record("an indivisible layout accepted")
        } catch {
            #expect("\(error)".hasPrefix("4 ranks are not divisible by 3"))
        }
        #expect(try TrainingSetup(try TrainingArguments.parse(Self.flags), worldSize: 4).dataParallelSize == 4)
    }

    @Test func theGroupMustMatchTheSetup() throws {
        let setup = try TrainingSetup(try TrainingArguments.parse(Self.flags), worldSize: 2)
        #expect(throws: TensorError.self) {
            _ = try Trainer(setup: setup, backend: CPUBackend(), train: MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 3), validation: nil)
        }
    }
}
