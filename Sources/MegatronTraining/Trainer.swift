import Foundation
import MegatronCheckpoint
import MegatronData
import MegatronModels
import MegatronOptimizer
import MegatronParallel
import MegatronPipeline
import MegatronTensor

/// A training run that cannot go on.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case nonFiniteLoss(iteration: Int, loss: Float)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(i, loss):
            "lm loss is \(loss) at iteration \(i): stopping (lower --lr, raise --clip-grad protection, or check the data)"
        }
    }
}

/// Megatron's pretraining loop on one data-parallel rank: per iteration, gradient accumulation
/// over micro-batches, clipping, AdamW with the learning-rate schedule, Megatron's log line
/// every `--log-interval` and a validation pass every `--eval-interval`.
///
///     let trainer = try Trainer(setup: setup, backend: CPUBackend(), train: data, validation: valid)
///     try trainer.run { print($0) }
public final class Trainer {
    public let setup: TrainingSetup
    public let model: GPTModel
    /// AdamW over every parameter, or the distributed optimizer's shard of it.
    public let optimizer: any TrainingOptimizer
    /// The gradient reduction over the data-parallel group (nil on one rank): Megatron DDP's
    /// all-reduced buckets, or the distributed optimizer's reduce-scattered ones; overlapped with
    /// the backward under `--overlap-grad-reduce`, else run after it.
    let buckets: GradientBuckets?
    /// The distributed optimizer, whose parameter all-gathers the next forward may wait for.
    let distributedOptimizer: DistributedOptimizer?
    public let train: any GPTSampleSource
    public let validation: (any GPTSampleSource)?
    /// Megatron's sampler over `train`, assembling the next micro-batches on a background thread.
    let trainLoader: GPTBatchLoader
    let validationLoader: GPTBatchLoader?
    /// Evaluated once after training (`--test-data-path`, or the test part of `--split`).
    let testLoader: GPTBatchLoader?
    /// Validation samples used so far: like Megatron's validation iterator, each evaluation
    /// continues where the last one stopped.
    public internal(set) var consumedValidationSamples = 0
    private var prefetching = false
    public internal(set) var iteration = 0
    public internal(set) var consumedSamples = 0
    public internal(set) var skippedIterations = 0
    /// The key of every dropout stream: `--seed`, or the one a loaded checkpoint ran with.
    public internal(set) var randomSeed: UInt64
    /// fp16's loss scaler (nil in fp32 and bf16).
    public internal(set) var lossScaler: DynamicLossScaler?

    /// This rank's data-parallel group (nil: one rank).
    public let dataParallelGroup: (any ProcessGroup)?
    /// This rank's tensor-parallel group (nil: one rank).
    public let tensorParallelGroup: (any ProcessGroup)?
    /// This rank's pipeline group (nil: one stage) and, when the stages split tied embeddings,
    /// the embedding group of the first and last stage.
    public let pipelineGroup: (any ProcessGroup)?
    let embeddingGroup: (any ProcessGroup)?
    /// Every rank of the run (nil: one rank), for checkpoints.
    let worldGroup: (any ProcessGroup)?
    /// Runs the schedules of a pipeline stage (nil: one stage).
    let pipeline: PipelineRunner?
    let evaluationPipeline: PipelineRunner?

    /// `dataParallelGroup`, when given, must have `setup.dataParallelSize` members: each rank
    /// then trains on its share of every global batch (Megatron's pretraining sampler) and the
    /// gradients are averaged over the group before the optimizer step, as Megatron's DDP (in
    /// overlapped buckets with `--overlap-grad-reduce`) — or, with `--use-distributed-optimizer`,
    /// reduce-scattered to the rank's optimizer shard (ZeRO-1). `tensorParallelGroup`, when
    /// given, must have `setup.parallel.tensor` members: the model's layers are split over it.
    public init(setup: TrainingSetup, backend: any Backend, train: any GPTSampleSource, validation: (any GPTSampleSource)?,
                test: (any GPTSampleSource)? = nil,
                dataParallelGroup: (any ProcessGroup)? = nil, tensorParallelGroup: (any ProcessGroup)? = nil,
                pipelineGroup: (any ProcessGroup)? = nil, embeddingGroup: (any ProcessGroup)? = nil,
                worldGroup: (any ProcessGroup)? = nil) throws {
        let groupSize = dataParallelGroup?.size ?? 1
        if (setup.eodMaskLoss || setup.resetPositionIds || setup.resetAttentionMask) && setup.eodToken == nil {
            throw TensorError.invalidArgument(
                op: "Trainer", message: "--eod-mask-loss, --reset-position-ids and --reset-attention-mask need the tokenizer's "
                    + "end-of-document id (train on --data-path with a --tokenizer-type)")
        }
        guard groupSize == setup.dataParallelSize else {
            throw TensorError.invalidArgument(
                op: "Trainer", message: "data-parallel group of \(groupSize) ranks for a setup with data-parallel size \(setup.dataParallelSize)")
        }
        self.setup = setup
        randomSeed = setup.seed
        self.train = train
        self.validation = validation
        let (dpRank, dpSize) = (dataParallelGroup?.rank ?? 0, dataParallelGroup?.size ?? 1)
        trainLoader = GPTBatchLoader(source: train, setup: setup, dataParallelRank: dpRank, dataParallelSize: dpSize)
        validationLoader = validation.map { GPTBatchLoader(source: $0, setup: setup, dataParallelRank: dpRank, dataParallelSize: dpSize) }
        testLoader = test.map { GPTBatchLoader(source: $0, setup: setup, dataParallelRank: dpRank, dataParallelSize: dpSize) }
        self.dataParallelGroup = dataParallelGroup
        self.tensorParallelGroup = tensorParallelGroup
        self.pipelineGroup = pipelineGroup
        self.embeddingGroup = embeddingGroup
        self.worldGroup = worldGroup
        lossScaler = setup.lossScaler
        let distributed = setup.useDistributedOptimizer && groupSize > 1
        let pp = setup.parallel.pipeline
        guard (pipelineGroup?.size ?? 1) == pp else {
            throw TensorError.invalidArgument(
                op: "Trainer", message: "pipeline group of \(pipelineGroup?.size ?? 1) ranks for --pipeline-model-parallel-size \(pp)")
        }
        let stage = pipelineGroup?.rank ?? 0
        let layout = setup.pipelineLayout
        let part = ModelPart(chunks: try (0..<layout.virtualStages).map { try layout.layers(rank: stage, chunk: $0) },
                             embedding: stage == 0, output: stage == pp - 1)
        model = try GPTModel(config: setup.model, backend: backend, seed: setup.seed, computeDType: setup.computeDType,
                             padParametersToMultipleOf: distributed ? groupSize : 1, tensorParallelGroup: tensorParallelGroup,
                             part: part)
        if let pipelineGroup, pp > 1 {
            let c = setup.model
            let rows = c.sequenceParallel ? c.seqLength / c.tensorModelParallelSize : c.seqLength
            let shape: Shape = [rows, setup.microBatchSize, c.hiddenSize]
            pipeline = PipelineRunner(model: model, schedule: try setup.pipelineSchedule(rank: stage), activationShape: shape,
                                      group: pipelineGroup)
            evaluationPipeline = PipelineRunner(model: model, schedule: try setup.pipelineSchedule(rank: stage, forwardOnly: true),
                                                activationShape: shape, group: pipelineGroup)
        } else {
            pipeline = nil
            evaluationPipeline = nil
        }
        // Replicated parameters count once in the global norm: TP duplicates on tp rank 0 only,
        // and the tied output copy of a last stage not at all (the first stage counts it).
        var normRanges = (tensorParallelGroup?.size ?? 1) > 1 || pp > 1 ? model.gradientNormRanges : nil
        if let copy = model.sharedEmbeddingCopy, model.embedding == nil, let ranges = normRanges {
            let spec = model.store.layout.specs[copy.index]
            normRanges = ranges.flatMap { Self.removing(spec.offset..<spec.offset + spec.shape.count, from: $0) }
        }
        if distributed, let dataParallelGroup {
            let sharded = try DistributedOptimizer(store: model.store, hyperparameters: setup.adam, group: dataParallelGroup,
                                                   normRanges: normRanges, bucketSize: setup.bucketSize,
                                                   overlapParamGather: setup.overlapParamGather)
            distributedOptimizer = sharded
            optimizer = sharded
            buckets = sharded.buckets
        } else {
            distributedOptimizer = nil
            optimizer = try AdamW(params: model.store.values, grads: model.store.grads, decayRuns: model.store.layout.decayRuns,
                                  normRanges: normRanges, hyperparameters: setup.adam, backend: backend)
            // Without overlap, one bucket reduced after the backward.
            let grads = model.store.grads
            buckets = groupSize > 1 ? dataParallelGroup.map {
                GradientBuckets(grads: grads, group: $0, backend: backend, bucketSize: setup.overlapGradReduce ? setup.bucketSize : grads.count)
            } : nil
        }
    }

    deinit { trainLoader.stop() }

    /// A trainer on one rank of a parallel layout.
    public convenience init(setup: TrainingSetup, backend: any Backend, train: any GPTSampleSource, validation: (any GPTSampleSource)?,
                            test: (any GPTSampleSource)? = nil, groups: ParallelGroups) throws {
        try self.init(setup: setup, backend: backend, train: train, validation: validation, test: test,
                      dataParallelGroup: groups.data, tensorParallelGroup: groups.tensor,
                      pipelineGroup: groups.pipeline, embeddingGroup: groups.embedding, worldGroup: groups.world)
    }

    /// What one iteration produced.
    public struct StepResult: Sendable {
        public let loss: Float
        public let gradNorm: Double
        public let learningRate: Double
        public let skipped: Bool
    }

    /// One optimizer step over a global batch; throws on a non-finite loss.
    public func step() throws -> StepResult {
        let lr = setup.schedule.learningRate(atStep: iteration)
        iteration += 1
        try model.store.zeroGrad()
        let m = setup.microBatchesPerIteration
        let lossScale = Float(lossScaler?.scale ?? 1)
        // Losses are read after every micro-batch is queued, so the host never waits mid-step.
        var losses: [MicroBatchLoss] = []
        if !prefetching {
            trainLoader.startPrefetching(fromConsumedSamples: consumedSamples)
            prefetching = true
        }
        if let pipeline {
            // Gradients are reduced after the whole schedule (no overlap with its backwards).
            try distributedOptimizer?.waitForParameters()
            losses = try pipeline.run(batch: { _ in try self.upload(self.trainLoader.next()) },
                                      dropoutSeed: { self.dropoutSeed(iteration: self.iteration, microBatch: $0) },
                                      gradientScale: lossScale / Float(m))
            try synchronizeSharedEmbedding()
        } else {
            for micro in 0..<m {
                let batch = try upload(trainLoader.next())
                // Under --overlap-param-gather each layer waits for its bucket of the last step's all-gather.
                let state = try model.forward(batch, dropoutSeed: dropoutSeed(iteration: iteration, microBatch: micro),
                                              parametersNeeded: distributedOptimizer.map { $0.waitForParameters(below:) })
                if let loss = state.lossValue { losses.append(loss) }
                // With overlap, the last micro-batch's backward starts the buckets as it completes them.
                let overlapped = micro == m - 1 && setup.overlapGradReduce
                try model.backward(state, gradientScale: lossScale / Float(m),
                                   gradientsFinal: overlapped ? buckets.map { $0.gradientsFinal } : nil)
            }
        }
        try buckets?.finish()
        try model.reduceSequenceParallelGradients()
        let loss = try dataParallelMean(try pipelineSum(try losses.reduce(Float(0)) { $0 + (try $1.value()) } / Float(m)))
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(iteration: iteration, loss: loss) }
        // Unscaled gradients that overflowed stay non-finite, and the optimizer skips the step.
        if lossScale != 1 { try model.backend.scale(model.store.grads, by: 1 / lossScale) }
        let stats = try optimizer.step(lr: Float(lr), globalSumOfSquares: tensorParallelSum)
        let skipped = !stats.gradNorm.isFinite
        if !skipped { try optimizer.publishParameters(to: model.store) }
        lossScaler?.update(foundInf: skipped)
        if skipped { skippedIterations += 1 }
        consumedSamples += setup.globalBatchSize
        return StepResult(loss: loss, gradNorm: stats.gradNorm, learningRate: lr, skipped: skipped)
    }

    /// Under pipeline parallelism: this rank's stage, the most micro-batches whose activations
    /// it has held at once, and the schedule's bound on that number (nil: one stage).
    public var pipelineActivations: (stage: Int, peak: Int, bound: Int)? {
        pipeline.map { (stage: $0.schedule.rank, peak: $0.peakActivationsInFlight, bound: $0.schedule.maxActivationsInFlight) }
    }

    /// Waits until the parameters are current on the device everywhere: the last step's
    /// overlapped all-gathers (`--overlap-param-gather`) and all queued work. Call before reading
    /// the parameters or ending the process.
    public func synchronize() throws {
        try distributedOptimizer?.waitForParameters()
        try model.backend.synchronize()
    }

    /// Mean loss over the next `--eval-iters` validation batches, without dropout.
    public func evaluate() throws -> Double {
        guard let validationLoader, setup.evalIters > 0 else { return .nan }
        defer { consumedValidationSamples += setup.evalIters * setup.globalBatchSize }
        return try evaluate(validationLoader, from: consumedValidationSamples)
    }

    /// Mean loss over `--eval-iters` test batches (nil without a test set).
    public func evaluateTest() throws -> Double? {
        guard let testLoader, setup.evalIters > 0 else { return nil }
        return try evaluate(testLoader, from: 0)
    }

    private func evaluate(_ loader: GPTBatchLoader, from consumed: Int) throws -> Double {
        try distributedOptimizer?.waitForParameters()
        var total = 0.0
        let perIteration = setup.microBatchesPerIteration
        for i in 0..<setup.evalIters {
            let first = { (micro: Int) in loader.firstSample(consumed + i * self.setup.globalBatchSize, microBatch: micro) }
            if let evaluationPipeline {
                let losses = try evaluationPipeline.run(batch: { try self.upload(loader.batch(firstSample: first($0))) },
                                                        dropoutSeed: { _ in nil }, gradientScale: 1, keepLogits: true)
                for loss in losses { total += Double(try loss.value()) }
            } else {
                for micro in 0..<perIteration {
                    let state = try model.forward(try upload(loader.batch(firstSample: first(micro))), dropoutSeed: nil, keepLogits: true)
                    total += Double(try state.loss)
                }
            }
        }
        return Double(try dataParallelMean(try pipelineSum(Float(total / Double(setup.evalIters * perIteration)))))
    }

    /// Sums a rank's Σ g² over the model-parallel ranks, tensor then pipeline (nil on one rank).
    private var tensorParallelSum: ((Double) throws -> Double)? {
        let groups = [tensorParallelGroup, pipelineGroup].compactMap { $0 }.filter { $0.size > 1 }
        guard !groups.isEmpty else { return nil }
        let backend = model.backend
        return { local in
            let t = try backend.tensor([Float(local)], shape: [1])
            for group in groups { try group.allReduce(t, op: .sum) }
            return Double(try backend.download(t)[0])
        }
    }

    /// The sum of `value` over the pipeline group: the loss, which only the last stage has.
    private func pipelineSum(_ value: Float) throws -> Float {
        guard let group = pipelineGroup, group.size > 1 else { return value }
        let t = try model.backend.tensor([value], shape: [1])
        try group.allReduce(t, op: .sum)
        return try model.backend.download(t)[0]
    }

    /// Megatron's embedding group: the first stage's word-embedding gradient and the last
    /// stage's tied copy's are summed, so both apply the same update and stay equal.
    private func synchronizeSharedEmbedding() throws {
        guard let embeddingGroup, embeddingGroup.size > 1, let shared = model.sharedEmbeddingCopy else { return }
        try embeddingGroup.allReduce(model.store.grad(shared), op: .sum)
    }

    /// A group of this rank alone: a one-rank run's checkpoints.
    public static func soloGroup() throws -> any ProcessGroup {
        try LocalWorld(size: 1).group(ranks: [0], rank: 0, name: "world")
    }

    /// `range` without `hole`.
    static func removing(_ hole: Range<Int>, from range: Range<Int>) -> [Range<Int>] {
        guard range.overlaps(hole) else { return [range] }
        return [range.lowerBound..<hole.lowerBound, hole.upperBound..<range.upperBound].filter { !$0.isEmpty }
    }

    /// The mean of `value` over the data-parallel group (the value itself on one rank).
    private func dataParallelMean(_ value: Float) throws -> Float {
        guard let group = dataParallelGroup, group.size > 1 else { return value }
        let t = try model.backend.tensor([value], shape: [1])
        try group.allReduce(t, op: .sum)
        return try model.backend.download(t)[0] / Float(group.size)
    }

    /// Trains for `--train-iters`, reporting through `log`: resumes from `--load` first, saves
    /// into `--save` every `--save-interval` iterations and at the end, and stops early at
    /// `--exit-interval`, as Megatron's pretrain loop does.
    public func run(log: (String) -> Void) throws {
        let flops = ThroughputModel(config: setup.model).flopsPerIteration(globalBatch: setup.globalBatchSize)
        var windowLoss = 0.0, windowNorm = 0.0, windowIters = 0
        let ckpt = setup.checkpointing
        let checkpointer = TrainingCheckpointer(trainer: self, world: try worldGroup ?? Self.soloGroup(), keepLast: ckpt.keepLast)
        if let load = ckpt.load {
            let directory = URL(fileURLWithPath: load)
            if ckpt.loadOptions.iteration == nil,
               !FileManager.default.fileExists(atPath: directory.appendingPathComponent(CheckpointLayout.trackerName).path) {
                log("WARNING: could not find a checkpoint in --load \(load) (no \(CheckpointLayout.trackerName)): training from scratch")
            } else {
                let started = Date()
                let loaded = try checkpointer.load(from: directory, options: ckpt.loadOptions)
                log(String(format: "loaded checkpoint from %@ at iteration %d in %.2f s", load, loaded.iteration,
                           Date().timeIntervalSince(started)))
            }
        }
        var savedAt: Int?
        func save() throws {
            guard let directory = ckpt.save, savedAt != iteration else { return }
            let started = Date()
            try checkpointer.save(to: URL(fileURLWithPath: directory), asynchronously: ckpt.asyncSave,
                                  includeOptimizer: ckpt.saveOptimizer, arguments: Array(CommandLine.arguments.dropFirst()))
            savedAt = iteration
            log(String(format: "saved checkpoint at iteration %7d to %@ in %.2f s%@", iteration, directory,
                       Date().timeIntervalSince(started), ckpt.asyncSave ? " (writing in the background)" : ""))
        }
        var windowStart = Date()
        while iteration < setup.trainIters {
            let result = try step()
            windowLoss += Double(result.loss)
            windowNorm += result.gradNorm
            windowIters += 1
            if iteration % setup.logInterval == 0 || iteration == setup.trainIters {
                let seconds = Date().timeIntervalSince(windowStart) / Double(windowIters)
                log(IterationLog.line(.init(
                    iteration: iteration, trainIters: setup.trainIters, consumedSamples: consumedSamples,
                    millisecondsPerIteration: seconds * 1000,
                    tokensPerSecond: Double(setup.tokensPerIteration) / seconds,
                    tflopsPerDevice: flops / seconds / 1e12 / Double(setup.parallel.worldSize), learningRate: result.learningRate,
                    globalBatchSize: setup.globalBatchSize, loss: windowLoss / Double(windowIters),
                    gradNorm: windowNorm / Double(windowIters), skippedIterations: skippedIterations, nanIterations: 0,
                    lossScale: lossScaler?.scale)))
                windowLoss = 0
                windowNorm = 0
                windowIters = 0
                windowStart = Date()
            }
            if validation != nil, setup.evalIters > 0, iteration % setup.evalInterval == 0 {
                log(IterationLog.validation(at: "iteration \(iteration)", loss: try evaluate()))
                windowStart = Date()
            }
            if let interval = ckpt.saveInterval, iteration % interval == 0 {
                try save()
                windowStart = Date()
            }
            if let exit = ckpt.exitInterval, iteration % exit == 0 {
                try save()
                try checkpointer.finish()
                try synchronize()
                log("exiting program at iteration \(iteration) (--exit-interval \(exit))")
                return
            }
        }
        if iteration > 0 { try save() }
        try checkpointer.finish()
        // As Megatron's pretrain(): one more pass over each held-out set after training.
        if validation != nil, setup.evalIters > 0 {
            log(IterationLog.validation(at: "iteration \(iteration) on validation set", loss: try evaluate()))
        }
        if let loss = try evaluateTest() {
            log(IterationLog.validation(at: "iteration \(iteration) on test set", loss: loss))
        }
        try synchronize()
    }

    /// A host micro-batch on the device.
    func upload(_ host: GPTBatchLoader.HostBatch) throws -> GPTBatch {
        let shape: Shape = [setup.model.seqLength, setup.microBatchSize]
        let b = model.backend
        return GPTBatch(tokens: try b.tensor(int32: host.tokens, shape: shape), targets: try b.tensor(int32: host.targets, shape: shape),
                        lossMask: try host.lossMask.map { try b.tensor($0, shape: shape) },
                        positions: try host.positions.map { try b.tensor(int32: $0, shape: shape) },
                        segments: try host.segments.map { try b.tensor(int32: $0, shape: [shape[1], shape[0]]) })
    }

    /// A distinct dropout seed per (iteration, micro-batch), derived from `--seed`.
    private func dropoutSeed(iteration: Int, microBatch: Int) -> UInt64 {
        mixSeed(randomSeed ^ mixSeed(UInt64(iteration) << 20 | UInt64(microBatch)))
    }
}
