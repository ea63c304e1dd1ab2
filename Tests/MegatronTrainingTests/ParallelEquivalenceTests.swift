import MegatronCPU
import MegatronData
import MegatronModels
import MegatronParallel
import MegatronTensor
import MegatronTraining
import MegatronTransformer
import Synchronization
import Testing

/// Mock samples with documents: ids below 15 become the end-of-document id 0 (about one token in
/// seven), for `--reset-attention-mask`.
private struct MockDocuments: GPTSampleSource {
    let mock: MockGPTDataset
    var seqLength: Int { mock.seqLength }
    func sample(_ index: Int) throws -> [Int32] { try mock.sample(index).map { $0 < 15 ? 0 : $0 } }
}

@Suite("Tensor and data parallelism are exactly one rank's training")
struct ParallelEquivalenceTests {
    /// Vocabulary 100 pads to 128 with every tensor-parallel size up to 4 (32 × tp divides 128),
    /// so every layout trains the same model.
    static let flags = [
        "--mock-data", "--num-layers", "2", "--hidden-size", "32", "--num-attention-heads", "4",
        "--seq-length", "16", "--max-position-embeddings", "16", "--vocab-size", "100", "--make-vocab-size-divisible-by", "32",
        "--micro-batch-size", "2", "--global-batch-size", "8", "--train-iters", "5", "--lr", "3e-3",
        "--hidden-dropout", "0", "--attention-dropout", "0", "--seed", "11",
    ]
    static let llama = [
        "--swiglu", "--normalization", "RMSNorm", "--position-embedding-type", "rope", "--disable-bias-linear",
        "--untie-embeddings-and-output-weights", "--group-query-attention", "--num-query-groups", "2", "--ffn-hidden-size", "48",
    ]

    /// One run: losses and gradient norms of 5 iterations, and every parameter after them by
    /// name, whole (put together from the tensor-parallel ranks of data-parallel rank 0).
    struct Run {
        var losses: [Float]
        var parameters: [String: [Float]]

        /// Every parameter's values in name order, one flat list.
        var flat: [Float] { parameters.keys.sorted().flatMap { parameters[$0]! } }
    }

    /// Trains on `tp × pp × dp` thread ranks laid out as Megatron's (tensor-parallel ranks
    /// adjacent). Every data-parallel replica and every copy of a replicated parameter (tensor-
    /// parallel copies, the last stage's tied embeddings) must end up identical.
    static func train(tp: Int = 1, pp: Int = 1, dp: Int, extra: [String] = []) throws -> Run {
        let world = tp * pp * dp
        var configured = try TrainingSetup(try TrainingArguments.parse(flags + ["--tensor-model-parallel-size", "\(tp)",
                                                                                "--pipeline-model-parallel-size", "\(pp)"] + extra),
                                           worldSize: world)
        let layout = try RankGenerator(tp: tp, cp: 1, ep: 1, dp: dp, pp: pp)
        let mock = MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 3)
        let data: any GPTSampleSource = configured.resetAttentionMask ? MockDocuments(mock: mock) : mock
        if configured.resetAttentionMask { configured.eodToken = 0 }
        let setup = configured
        let results = Mutex<[Int: (losses: [Float], specs: [ParameterSpec], values: [Float])]>([:])
        try onThreadRanks(setup, data: data) { rank, trainer, _ in
            let backend = trainer.model.backend
            let losses = try (0..<5).flatMap { _ in
                let step = try trainer.step()
                return [step.loss, Float(step.gradNorm)]
            }
            // Every layout counts the whole model's parameters (bench's figure).
            #expect(try Benchmark.modelParameters(trainer) == Self.oneRankParameters(setup.model), "rank \(rank)")
            if let held = trainer.pipelineActivations {
                // The schedule keeps exactly as many micro-batches' activations as 1F1B needs.
                #expect(held.peak == held.bound, "stage \(held.stage) held \(held.peak) micro-batches, bound \(held.bound)")
            }
            let values = try backend.download(trainer.model.store.values)
            results.withLock { $0[rank] = (losses, trainer.model.store.layout.specs, values) }
        }
        let all = results.withLock { $0 }
        var parameters: [String: [Float]] = [:]
        for rank in 0..<world {
            #expect(all[rank]!.losses == all[0]!.losses, "rank \(rank) saw other losses than rank 0")
            let replica = layout.group([.dp], containing: rank)[0]
            guard replica == rank else {
                #expect(all[rank]!.values == all[replica]!.values, "rank \(rank) diverged from its data-parallel peer \(replica)")
                continue
            }
            let (_, specs, values) = all[rank]!
            addWhole(specs, values, to: &parameters)
        }
        for (name, values) in parameters { #expect(!values.contains { $0.isNaN }, "\(name) has elements no rank holds") }
        return Run(losses: all[0]!.losses, parameters: parameters)
    }

    /// Runs `body` on one thread rank per rank of `setup`'s layout, each with its CPU trainer
    /// and its groups (Megatron's layout, over one ``LocalWorld``).
    static func onThreadRanks(_ setup: TrainingSetup, data: any GPTSampleSource,
                              _ body: @escaping @Sendable (_ rank: Int, Trainer, ParallelGroups) throws -> Void) throws {
        let threads = LocalWorld(size: setup.parallel.worldSize, timeout: 60)
        try threads.run { rank in
            let groups = try ParallelGroups(setup.parallel, rank: rank) { request in
                try request.members.map { try threads.group(ranks: $0, rank: rank, name: request.name) }
            }
            try body(rank, try Trainer(setup: setup, backend: CPUBackend(), train: data, validation: nil, groups: groups), groups)
        }
    }

    /// Puts a rank's parameters (`specs` over its flat `values`) into the whole tensors by name;
    /// a copy another rank already gave (replicated parameters, tied embeddings) must agree.
    static func addWhole(_ specs: [ParameterSpec], _ values: [Float], to parameters: inout [String: [Float]]) {
        for spec in specs {
            let local = Array(values[spec.offset..<spec.offset + spec.shape.count])
            guard let shard = spec.shard else {
                if let copy = parameters[spec.name], copy != local { Issue.record("copies of \(spec.name) differ") }
                parameters[spec.name] = local
                continue
            }
            var full = parameters[spec.name] ?? [Float](repeating: .nan, count: shard.fullShape.count)
            for (k, value) in local.enumerated() {
                let i = shard.fullIndex(ofLocal: k)
                if !full[i].isNaN, full[i] != value { Issue.record("copies of \(spec.name) differ at \(i)") }
                full[i] = value
            }
            parameters[spec.name] = full
        }
    }

    /// Parameters of the whole model `config` describes, as one rank builds it.
    static func oneRankParameters(_ config: TransformerConfig) throws -> Int {
        var c = config
        c.tensorModelParallelSize = 1
        c.sequenceParallel = false
        return try GPTModel(config: c, backend: CPUBackend(), seed: 0).store.layout.count
    }

    static func expectClose(_ got: Run, _ want: Run, _ what: String) {
        #expect(relativeError(got.losses, want.losses) < 1e-5, "\(what): losses and gradient norms \(got.losses) vs \(want.losses)")
        #expect(got.parameters.keys.sorted() == want.parameters.keys.sorted(), "\(what): other parameters")
        let err = relativeError(got.flat, want.flat)
        #expect(err < 1e-5, "\(what): parameters differ by \(err) relative")
    }

    /// Compares a layout with one rank on the same flags, after checking that training moved the
    /// parameters (so the comparison is not between two copies of the initialisation).
    static func expectMatchesOneRank(tp: Int, pp: Int = 1, dp: Int, _ extra: [String]) throws {
        // The one-rank run has no pipeline: drop the pipeline-only flags and their values.
        var oneRank = extra
        for flag in ["--num-virtual-stages-per-pipeline-rank", "--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers"] {
            if let i = oneRank.firstIndex(of: flag) { oneRank.removeSubrange(i...i + 1) }
        }
        let reference = try train(dp: 1, extra: oneRank)
        let initial = try train(dp: 1, extra: oneRank + ["--lr", "0"])
        #expect(relativeError(reference.flat, initial.flat) > 1e-3)
        expectClose(try train(tp: tp, pp: pp, dp: dp, extra: extra), reference, "tp \(tp) pp \(pp) dp \(dp) \(extra)")
    }

    /// Layer counts that split over 2 and 4 stages, and 2 stages of 2 chunks.
    static let pipelineFlags = ["--num-layers", "4"]

    @Test(arguments: [
        (1, 2, 1, [String]()), (1, 4, 1, []),
        (1, 2, 1, ["--num-virtual-stages-per-pipeline-rank", "2"]),
        (1, 2, 1, ["--untie-embeddings-and-output-weights", "--hidden-dropout", "0.2"]),
        (1, 2, 1, ["--reset-attention-mask", "--reset-position-ids"]),
        // Uneven stages: 1 layer first, 3 last.
        (1, 2, 1, ["--decoder-first-pipeline-num-layers", "1", "--decoder-last-pipeline-num-layers", "3"]),
        (1, 2, 2, ["--use-distributed-optimizer"]),
        (2, 2, 2, ["--sequence-parallel"]),
        (2, 2, 2, llama + ["--use-distributed-optimizer"]),
        // Issue 8's second 8-GPU layout.
        (4, 2, 1, ["--sequence-parallel", "--use-distributed-optimizer"]),
    ])
    func pipelineParallelMatchesOneRank(tp: Int, pp: Int, dp: Int, extra: [String]) throws {
        try Self.expectMatchesOneRank(tp: tp, pp: pp, dp: dp, Self.pipelineFlags + extra)
    }

    @Test(arguments: [
        (2, [String]()), (4, []), (2, ["--use-distributed-optimizer"]), (4, ["--use-distributed-optimizer"]),
        (2, ["--overlap-grad-reduce"]),
        // Small buckets: many reduce-scatters and all-gathers, pieces that cut parameters apart.
        (2, ["--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather", "--ddp-bucket-size", "1000"]),
        (4, ["--use-distributed-optimizer", "--ddp-bucket-size", "777"]),
        (2, ["--overlap-grad-reduce", "--ddp-bucket-size", "1000"]),
    ])
    func dataParallelMatchesOneRank(dp: Int, extra: [String]) throws {
        try Self.expectMatchesOneRank(tp: 1, dp: dp, extra)
    }

    @Test(arguments: [
        (2, 1, [String]()), (4, 1, []), (2, 1, ["--sequence-parallel"]), (4, 1, ["--sequence-parallel"]),
        (2, 2, []), (2, 2, ["--sequence-parallel", "--use-distributed-optimizer"]),
        (2, 2, ["--sequence-parallel", "--use-distributed-optimizer", "--overlap-grad-reduce", "--ddp-bucket-size", "500"]),
        // Hidden dropout masks are slices of one rank's masks, so dropout keeps the equivalence.
        (2, 1, ["--hidden-dropout", "0.2"]), (2, 1, ["--sequence-parallel", "--hidden-dropout", "0.2"]),
        (2, 1, llama), (2, 1, llama + ["--sequence-parallel"]), (2, 2, llama + ["--sequence-parallel", "--overlap-grad-reduce"]),
        // Attention within documents: every rank attends over the whole sequence with the same segments.
        (2, 1, ["--sequence-parallel", "--reset-attention-mask", "--reset-position-ids"]),
        (2, 2, llama + ["--sequence-parallel", "--reset-attention-mask"]),
    ])
    func tensorParallelMatchesOneRank(tp: Int, dp: Int, extra: [String]) throws {
        try Self.expectMatchesOneRank(tp: tp, dp: dp, extra)
    }

    @Test func unsupportedLayoutsAreRefusedByName() throws {
        do {
            _ = try TrainingSetup(try TrainingArguments.parse(Self.flags + ["--context-parallel-size", "2"]), worldSize: 4)
            Issue.record("context parallelism accepted")
        } catch {
            #expect("\(error)".hasPrefix("--context-parallel-size 2: only tensor, pipeline and data parallelism run across ranks so far"))
        }
        do {
            _ = try TrainingSetup(try TrainingArguments.parse(Self.flags + ["--tensor-model-parallel-size", "8"]), worldSize: 8)
            Issue.record("8 tensor-parallel ranks for 4 heads accepted")
        } catch {
            #expect("\(error)" == "--num-attention-heads 4 is not divisible by --tensor-model-parallel-size 8")
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
