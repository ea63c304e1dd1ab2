import Foundation
import MegatronCPU
import MegatronCheckpoint
import MegatronData
import MegatronParallel
import MegatronTensor
import MegatronTraining
import MegatronTransformer
import Synchronization
import Testing

/// Saving and loading training state: an interrupted run continues exactly, and a checkpoint
/// loads under any other parallel layout.
@Suite("Training checkpoints")
struct CheckpointTests {
    static let flags = ParallelEquivalenceTests.flags + ["--num-layers", "4"]

    private func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
    }

    /// Trains `iterations` steps on `tp × pp × dp` thread ranks, after loading `load` (when
    /// given) and saving into `save` at the end; returns rank 0's losses and gradient norms and
    /// every parameter by name, put together from the ranks.
    static func run(tp: Int = 1, pp: Int = 1, dp: Int = 1, extra: [String] = [], iterations: Int,
                    load: URL? = nil, loadOptions: TrainingCheckpointer.LoadOptions = .init(), save: URL? = nil,
                    asynchronously: Bool = false) throws -> ParallelEquivalenceTests.Run {
        let world = tp * pp * dp
        let setup = try TrainingSetup(try TrainingArguments.parse(flags + [
            "--tensor-model-parallel-size", "\(tp)", "--pipeline-model-parallel-size", "\(pp)"] + extra), worldSize: world)
        let data = MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 3)
        let results = Mutex<[Int: (losses: [Float], specs: [ParameterSpec], values: [Float], dpRank: Int)]>([:])
        try ParallelEquivalenceTests.onThreadRanks(setup, data: data) { rank, trainer, groups in
            let backend = trainer.model.backend
            let checkpointer = TrainingCheckpointer(
                trainer: trainer, world: try groups.world ?? LocalWorld(size: 1).group(ranks: [0], rank: 0, name: "world"))
            if let load { try checkpointer.load(from: load, options: loadOptions) }
            let losses = try (0..<iterations).flatMap { _ in
                let step = try trainer.step()
                return [step.loss, Float(step.gradNorm)]
            }
            if let save {
                try checkpointer.save(to: save, asynchronously: asynchronously)
                try checkpointer.finish()
            }
            let values = try backend.download(trainer.model.store.values)
            results.withLock { $0[rank] = (losses, trainer.model.store.layout.specs, values, groups.data?.rank ?? 0) }
        }
        let all = results.withLock { $0 }
        var parameters: [String: [Float]] = [:]
        for rank in 0..<world where all[rank]!.dpRank == 0 {
            ParallelEquivalenceTests.addWhole(all[rank]!.specs, all[rank]!.values, to: &parameters)
        }
        return ParallelEquivalenceTests.Run(losses: all[0]!.losses, parameters: parameters)
    }

    @Test(arguments: [
        [String](), ["--hidden-dropout", "0.2", "--attention-dropout", "0.1"],
    ])
    func anInterruptedRunContinuesBitForBit(extra: [String]) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let straight = try Self.run(extra: extra, iterations: 6)
        let first = try Self.run(extra: extra, iterations: 3, save: directory)
        let second = try Self.run(extra: extra, iterations: 3, load: directory)
        #expect(first.losses + second.losses == straight.losses)
        #expect(second.parameters == straight.parameters, "parameters after resuming differ")
        // The tracker names the checkpoint, Megatron's way.
        let tracker = try String(contentsOf: directory.appendingPathComponent("latest_checkpointed_iteration.txt"), encoding: .utf8)
        #expect(tracker.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("iter_0000003").path))
    }

    @Test func theDistributedOptimizerResumesFromItsShardsAndAsyncSavesAreTheSame() throws {
        let directory = temporaryDirectory(), asyncDirectory = temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: directory)
            try? FileManager.default.removeItem(at: asyncDirectory)
        }
        let extra = ["--use-distributed-optimizer"]
        let straight = try Self.run(dp: 2, extra: extra, iterations: 4)
        _ = try Self.run(dp: 2, extra: extra, iterations: 2, save: directory)
        _ = try Self.run(dp: 2, extra: extra, iterations: 2, save: asyncDirectory, asynchronously: true)
        let second = try Self.run(dp: 2, extra: extra, iterations: 2, load: directory)
        #expect(second.parameters == straight.parameters)
        #expect(Array(straight.losses.suffix(4)) == second.losses)
        let iteration = directory.appendingPathComponent("iter_0000002"), asyncIteration = asyncDirectory.appendingPathComponent("iter_0000002")
        for file in try FileManager.default.contentsOfDirectory(atPath: iteration.path) where file.hasSuffix(".safetensors") {
            #expect(try Data(contentsOf: iteration.appendingPathComponent(file)) == Data(contentsOf: asyncIteration.appendingPathComponent(file)),
                    "\(file) differs between the synchronous and the asynchronous save")
        }
    }

    /// Saved at TP2×PP2×DP2 with the distributed optimizer, loaded by other layouts: each goes
    /// on as the saving layout does.
    @Test(arguments: [(1, 1, 1, [String]()), (4, 1, 1, []), (1, 1, 4, ["--use-distributed-optimizer"]), (1, 4, 1, []),
                      (2, 1, 2, ["--sequence-parallel"])])
    func aCheckpointLoadsUnderAnyLayout(tp: Int, pp: Int, dp: Int, extra: [String]) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let saving = ["--use-distributed-optimizer", "--sequence-parallel"]
        _ = try Self.run(tp: 2, pp: 2, dp: 2, extra: saving, iterations: 3, save: directory)
        let unresharded = try Self.run(tp: 2, pp: 2, dp: 2, extra: saving, iterations: 2, load: directory)
        let resharded = try Self.run(tp: tp, pp: pp, dp: dp, extra: extra, iterations: 2, load: directory)
        ParallelEquivalenceTests.expectClose(resharded, unresharded, "tp \(tp) pp \(pp) dp \(dp) from tp 2 pp 2 dp 2")
    }

    /// The vocabulary is padded to a multiple of 128 × tp: a checkpoint of one TP size loads
    /// under another even when the padding differs (the rows both hold are taken).
    @Test func otherVocabularyPaddingLoads() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let padding = ["--make-vocab-size-divisible-by", "128"]
        let saved = try Self.run(extra: padding, iterations: 2, save: directory)                  // 128 rows
        let loaded = try Self.run(tp: 2, extra: padding, iterations: 0, load: directory)          // 256 rows
        let name = "embedding.word_embeddings.weight", width = 32
        let savedTable = try #require(saved.parameters[name]), loadedTable = try #require(loaded.parameters[name])
        #expect(loadedTable.count == 256 * width && savedTable.count == 128 * width)
        #expect(Array(loadedTable.prefix(128 * width)) == savedTable)
        #expect(loadedTable.dropFirst(128 * width).allSatisfy { $0 == 0 })
        // And back: the larger table's first 128 rows.
        let again = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: again) }
        _ = try Self.run(tp: 2, extra: padding, iterations: 0, load: directory, save: again)
        let narrowed = try Self.run(extra: padding, iterations: 0, load: again)
        #expect(narrowed.parameters[name] == savedTable)
        // One rank whose table has more rows than the checkpoint's (192 against 128).
        let wider = try Self.run(extra: ["--make-vocab-size-divisible-by", "96"], iterations: 0, load: directory)
        let widerTable = try #require(wider.parameters[name])
        #expect(widerTable.count == 192 * width)
        #expect(Array(widerTable.prefix(128 * width)) == savedTable)
        #expect(widerTable.dropFirst(128 * width).allSatisfy { $0 == 0 })
    }

    @Test func finetuneTakesTheWeightsOnlyAndMismatchesAreNamed() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let saved = try Self.run(iterations: 2, save: directory)
        let tuned = try Self.run(iterations: 0, load: directory, loadOptions: .init(finetune: true))
        #expect(tuned.parameters == saved.parameters)
        do {
            _ = try Self.run(extra: ["--hidden-size", "64"], iterations: 0, load: directory)
            Issue.record("a checkpoint of another model loaded")
        } catch let error as TrainingCheckpointError {
            #expect("\(error)".contains("--hidden-size is 32 there but 64 here"), "\(error)")
        }
        // A damaged shard names its file and tensor.
        let iteration = directory.appendingPathComponent("iter_0000002")
        let file = iteration.appendingPathComponent("rank_00000.safetensors")
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count - 5] ^= 0xFF
        try bytes.write(to: file)
        #expect(throws: CheckpointError.self) { _ = try Self.run(iterations: 0, load: directory) }
    }
}
