import Foundation
import MegatronCheckpoint
import MegatronOptimizer
import MegatronParallel
import MegatronTensor
import MegatronTransformer

/// Saves a ``Trainer``'s state as a sharded checkpoint and loads one into it, under any
/// parallel layout: the fp32 master weights under Megatron's parameter names, Adam's moments as
/// `optimizer.exp_avg.NAME` and `optimizer.exp_avg_sq.NAME`, each as blocks of the global tensor
/// (flat parts of them from the distributed optimizer), written once (data-parallel rank 0, or
/// the rank whose optimizer piece it is; tensor-parallel rank 0 for replicated parameters; the
/// first stage for tied embeddings), plus ``CheckpointMetadata``.
///
///     let checkpointer = TrainingCheckpointer(trainer: trainer, world: world)
///     try checkpointer.save(to: URL(fileURLWithPath: "ckpt"), asynchronously: false)
///     try checkpointer.load(from: URL(fileURLWithPath: "ckpt"), options: .init())
public final class TrainingCheckpointer {
    public let trainer: Trainer
    /// Every rank of the run (the saves' barriers).
    public let world: any ProcessGroup
    private let keepLast: Int?
    private var asyncSaver: AsyncCheckpointSaver?

    /// What to take from a checkpoint (Megatron's `--no-load-optim`, `--no-load-rng`, `--finetune`).
    public struct LoadOptions: Sendable {
        public var iteration: Int?
        public var loadOptimizer = true
        public var loadRandomState = true
        public var finetune = false
        public init(iteration: Int? = nil, loadOptimizer: Bool = true, loadRandomState: Bool = true, finetune: Bool = false) {
            self.iteration = iteration
            self.loadOptimizer = loadOptimizer
            self.loadRandomState = loadRandomState
            self.finetune = finetune
        }
    }

    public init(trainer: Trainer, world: any ProcessGroup, keepLast: Int? = nil) {
        self.trainer = trainer
        self.world = world
        self.keepLast = keepLast
    }

    private var store: ParameterStore { trainer.model.store }

    // MARK: ownership

    /// The flat runs of the store whose optimizer state this rank holds: all of it, or the
    /// distributed optimizer's pieces.
    private var optimizerRuns: [Range<Int>] {
        guard let distributed = trainer.distributedOptimizer else { return [0..<store.layout.count] }
        return distributed.pieces.compactMap { piece in
            let upper = min(piece.upperBound, store.layout.count)
            return piece.lowerBound < upper ? piece.lowerBound..<upper : nil
        }
    }

    /// The runs this rank writes: its optimizer pieces, or everything on data-parallel rank 0.
    private var writtenRuns: [Range<Int>] {
        if trainer.distributedOptimizer != nil { return optimizerRuns }
        return (trainer.dataParallelGroup?.rank ?? 0) == 0 ? [0..<store.layout.count] : []
    }

    /// Parameters another rank writes: tensor-parallel copies off rank 0, and a last stage's
    /// copy of tied embeddings.
    private func writtenElsewhere(_ spec: ParameterSpec) -> Bool {
        if spec.shard == nil, (trainer.tensorParallelGroup?.rank ?? 0) != 0 { return true }
        if let copy = trainer.model.sharedEmbeddingCopy, trainer.model.embedding == nil,
           store.layout.specs[copy.index].name == spec.name { return true }
        return false
    }

    /// This rank's Adam moments for flat run `run` (inside one optimizer run), as device views.
    private func moments(_ run: Range<Int>) throws -> (m: Tensor, v: Tensor) {
        if let distributed = trainer.distributedOptimizer {
            for (piece, adam) in zip(distributed.pieces, distributed.adams) where piece.contains(run.lowerBound) {
                let offset = run.lowerBound - piece.lowerBound
                return (try adam.m.view(offset: offset, shape: [run.count]), try adam.v.view(offset: offset, shape: [run.count]))
            }
            throw TensorError.invalidArgument(op: "checkpoint", message: "no optimizer piece holds flat offset \(run.lowerBound)")
        }
        guard let adam = trainer.optimizer as? AdamW else {
            throw TensorError.invalidArgument(op: "checkpoint", message: "unknown optimizer \(type(of: trainer.optimizer))")
        }
        return (try adam.m.view(offset: run.lowerBound, shape: [run.count]), try adam.v.view(offset: run.lowerBound, shape: [run.count]))
    }

    private var adamSteps: Int {
        (trainer.distributedOptimizer?.adams.first ?? (trainer.optimizer as? AdamW))?.steps ?? 0
    }

    // MARK: save

    /// Saves iteration `trainer.iteration` into `directory` (collective over `world`). With
    /// `asynchronously`, the tensors are copied to host memory here and written by a background
    /// thread; the next save, ``finish()`` or the end of the run commits them.
    public func save(to directory: URL, asynchronously: Bool = false, includeOptimizer: Bool = true,
                     arguments: [String] = []) throws {
        try trainer.synchronize()
        let b = store.backend
        // A rank downloads only what it writes (nothing on data-parallel replicas of rank 0).
        let runs = writtenRuns
        var shards: [ShardData] = []
        if !runs.isEmpty {
            let values = try b.download(store.values)
            shards = CheckpointPieces.pieces(of: store.layout, within: runs, skipping: writtenElsewhere).map { piece in
                values[piece.flat].withUnsafeBytes { ShardData(piece.shard, bytes: Data($0)) }
            }
        }
        if includeOptimizer {
            // Each written run lies inside one of the rank's optimizer runs.
            for run in runs {
                let (m, v) = try moments(run)
                for (prefix, moment) in [("optimizer.exp_avg.", m), ("optimizer.exp_avg_sq.", v)] {
                    let host = try b.download(moment)
                    for piece in CheckpointPieces.pieces(of: store.layout, within: [run], prefix: prefix, skipping: writtenElsewhere) {
                        let local = (piece.flat.lowerBound - run.lowerBound)..<(piece.flat.upperBound - run.lowerBound)
                        shards.append(host[local].withUnsafeBytes { ShardData(piece.shard, bytes: Data($0)) })
                    }
                }
            }
        }
        let c = trainer.setup
        let metadata = CheckpointMetadata(
            iteration: trainer.iteration, consumedTrainSamples: trainer.consumedSamples,
            consumedValidSamples: trainer.consumedValidationSamples, skippedIterations: trainer.skippedIterations,
            optimizerSteps: adamSteps, lossScaler: trainer.lossScaler, seed: trainer.randomSeed,
            model: .init(c.model), tensorParallel: c.parallel.tensor, pipelineParallel: c.parallel.pipeline,
            dataParallel: c.parallel.dataParallel, hasOptimizerState: includeOptimizer, arguments: arguments)
        let rankState = RankState(worldRank: world.rank, tensorRank: trainer.tensorParallelGroup?.rank ?? 0,
                                  pipelineRank: trainer.pipelineGroup?.rank ?? 0, dataRank: trainer.dataParallelGroup?.rank ?? 0,
                                  seed: trainer.randomSeed)
        let options = CheckpointSaveOptions(keepLast: keepLast)
        if asynchronously {
            if asyncSaver == nil { asyncSaver = AsyncCheckpointSaver(directory: directory, group: world, options: options) }
            // Each piece's Data was copied out of the downloaded tensors: no second copy.
            try asyncSaver!.save(iteration: trainer.iteration, shards: shards, common: metadata, rankState: rankState,
                                 bytesAreSnapshots: true)
        } else {
            try finish()
            try CheckpointSaver(directory: directory, group: world, options: options)
                .save(iteration: trainer.iteration, shards: shards, common: metadata, rankState: rankState)
        }
    }

    /// Commits an asynchronous save still in flight (collective); a no-op otherwise.
    public func finish() throws {
        _ = try asyncSaver?.wait()
    }

    // MARK: load

    /// Loads `directory`'s latest checkpoint (or `options.iteration`) into the trainer, whatever
    /// layout saved it. Returns the loaded checkpoint's metadata.
    @discardableResult
    public func load(from directory: URL, options: LoadOptions = .init()) throws -> CheckpointMetadata {
        let reader = try CheckpointReader(directory: directory, iteration: options.iteration)
        guard let metadata = try reader.common(as: CheckpointMetadata.self) else {
            throw TrainingCheckpointError.noMetadata(reader.iterationDirectory.path)
        }
        guard metadata.format == CheckpointMetadata.currentFormat else {
            throw TrainingCheckpointError.format(found: metadata.format, path: reader.iterationDirectory.path)
        }
        let model = CheckpointMetadata.ModelShape(trainer.setup.model)
        if let mismatch = metadata.model.mismatch(with: model) {
            throw TrainingCheckpointError.modelMismatch(flag: mismatch.flag, checkpoint: mismatch.checkpoint, model: mismatch.model,
                                                        path: reader.iterationDirectory.path)
        }
        let b = store.backend
        // Every rank needs all of its weights, whichever rank wrote them.
        var values = [Float](repeating: 0, count: store.layout.count)
        try read(reader, CheckpointPieces.pieces(of: store.layout, within: [0..<store.layout.count]), into: &values, base: 0)
        try b.upload(values, to: store.values)
        try store.syncComputeCopy()

        let loadOptimizer = options.loadOptimizer && !options.finetune
        if loadOptimizer {
            guard metadata.hasOptimizerState else { throw TrainingCheckpointError.noOptimizerState(reader.iterationDirectory.path) }
            for run in optimizerRuns {
                let (m, v) = try moments(run)
                for (prefix, tensor) in [("optimizer.exp_avg.", m), ("optimizer.exp_avg_sq.", v)] {
                    var host = [Float](repeating: 0, count: run.count)
                    try read(reader, CheckpointPieces.pieces(of: store.layout, within: [run], prefix: prefix), into: &host, base: run.lowerBound)
                    try b.upload(host, to: tensor)
                }
            }
            for adam in trainer.distributedOptimizer?.adams ?? [trainer.optimizer as? AdamW].compactMap({ $0 }) {
                adam.resume(afterSteps: metadata.optimizerSteps)
            }
        }
        if !options.finetune {
            trainer.iteration = metadata.iteration
            trainer.consumedSamples = metadata.consumedTrainSamples
            trainer.consumedValidationSamples = metadata.consumedValidSamples
            trainer.skippedIterations = metadata.skippedIterations
            if loadOptimizer, let scaler = metadata.lossScaler, trainer.lossScaler != nil { trainer.lossScaler = scaler }
            if options.loadRandomState { trainer.randomSeed = metadata.seed }
        }
        return metadata
    }

    /// Reads every piece into `host`, whose element 0 is flat offset `base`; of a vocabulary
    /// table padded otherwise, the rows both have (``CheckpointPieces/clipped(_:toSaved:)``),
    /// the rest staying zero.
    private func read(_ reader: CheckpointReader, _ pieces: [CheckpointPieces.Piece], into host: inout [Float], base: Int) throws {
        try host.withUnsafeMutableBytes { raw in
            for piece in pieces {
                guard let (shard, count) = CheckpointPieces.clipped(piece.shard, toSaved: try reader.record(piece.shard.name).shape)
                else { continue }
                let start = (piece.flat.lowerBound - base) * 4
                try reader.read(shard, into: UnsafeMutableRawBufferPointer(rebasing: raw[start..<start + count * 4]))
            }
        }
    }

    /// A rank's own record in the checkpoint: its coordinates and the key of its random streams
    /// (counter-based, so the key and the iteration are the whole state).
    struct RankState: Codable {
        let worldRank: Int
        let tensorRank: Int
        let pipelineRank: Int
        let dataRank: Int
        let seed: UInt64
    }
}

/// A checkpoint this run cannot use.
public enum TrainingCheckpointError: Error, CustomStringConvertible, Equatable {
    case noMetadata(String)
    case format(found: String, path: String)
    case modelMismatch(flag: String, checkpoint: String, model: String, path: String)
    case noOptimizerState(String)

    public var description: String {
        switch self {
        case let .noMetadata(path): "\(path): no common.json (not a swift-megatron training checkpoint)"
        case let .format(found, path): "\(path): checkpoint format \"\(found)\", expected \"\(CheckpointMetadata.currentFormat)\""
        case let .modelMismatch(flag, checkpoint, model, path):
            "\(path) holds another model: \(flag) is \(checkpoint) there but \(model) here"
        case let .noOptimizerState(path): "\(path) was saved without optimizer state (--no-save-optim): load it with --no-load-optim or --finetune"
        }
    }
}
