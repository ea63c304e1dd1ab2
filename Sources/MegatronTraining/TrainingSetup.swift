import MegatronOptimizer
import MegatronParallel
import MegatronPipeline
import MegatronTensor
import MegatronTransformer

/// Everything a run needs, derived from ``TrainingArguments`` and checked for consistency
/// before anything is allocated.
///
///     let setup = try TrainingSetup(try TrainingArguments.parse(CommandLine.arguments.dropFirst(2).map { $0 }))
public struct TrainingSetup: Sendable {
    public let model: TransformerConfig
    public let microBatchSize: Int
    public let globalBatchSize: Int
    /// Data-parallel ranks: the world size over the model-parallel sizes.
    public var dataParallelSize: Int { parallel.dataParallel }
    public let trainIters: Int
    public let schedule: LearningRateSchedule
    public let adam: AdamW.Hyperparameters
    public let seed: UInt64
    /// The dtype of weights and activations: fp32, or bf16/fp16 with fp32 masters.
    public let computeDType: DType
    /// Dynamic (or, with `--loss-scale`, static) loss scaling for fp16; nil otherwise.
    public let lossScaler: DynamicLossScaler?
    /// `--use-distributed-optimizer` (takes effect with more than one data-parallel rank).
    public let useDistributedOptimizer: Bool
    /// `--overlap-grad-reduce` (takes effect with more than one data-parallel rank).
    public let overlapGradReduce: Bool
    /// `--overlap-param-gather` (with the distributed optimizer).
    public let overlapParamGather: Bool
    /// `--ddp-bucket-size` (nil: Megatron's default).
    public let bucketSize: Int?
    /// `--eod-mask-loss`: end-of-document tokens (``eodToken``) are left out of the loss.
    public let eodMaskLoss: Bool
    /// `--reset-position-ids`: learned positions restart after each end-of-document token.
    public let resetPositionIds: Bool
    /// `--reset-attention-mask`: attention stays within documents (a token attends only to
    /// earlier tokens after the last end-of-document token before it).
    public let resetAttentionMask: Bool
    /// The tokenizer's end-of-document id, which the three options above need; set once the
    /// tokenizer is loaded (nil with mock data).
    public var eodToken: Int?
    public let logInterval: Int
    public let evalInterval: Int
    public let evalIters: Int
    /// `--save`, `--load` and the other checkpointing flags.
    public let checkpointing: CheckpointSettings

    /// The checkpointing flags, checked.
    public struct CheckpointSettings: Sendable {
        public var save: String?
        public var saveInterval: Int?
        public var load: String?
        public var loadOptions = TrainingCheckpointer.LoadOptions()
        public var saveOptimizer = true
        public var asyncSave = false
        public var exitInterval: Int?
        public var keepLast: Int?
        public init() {}
    }

    /// Micro-batches accumulated per iteration on each data-parallel rank.
    public var microBatchesPerIteration: Int { globalBatchSize / (microBatchSize * dataParallelSize) }
    public var tokensPerIteration: Int { globalBatchSize * model.seqLength }

    /// The parallel layout (`--tensor-model-parallel-size` … over `worldSize` ranks).
    public let parallel: ParallelConfig
    /// Which layers each pipeline rank and model chunk holds.
    public let pipelineLayout: PipelineLayout
    /// `--microbatch-group-size-per-virtual-pipeline-stage` (nil: the pipeline size).
    public let microbatchGroupSize: Int?

    /// Pipeline rank `rank`'s schedule for one global batch (or one evaluation batch, `forwardOnly`).
    public func pipelineSchedule(rank: Int, forwardOnly: Bool = false) throws(PipelineError) -> PipelineSchedule {
        try PipelineSchedule(pipelineSize: parallel.pipeline, rank: rank, microbatches: microBatchesPerIteration,
                             chunks: pipelineLayout.virtualStages, microbatchGroupSize: microbatchGroupSize,
                             forwardOnly: forwardOnly)
    }

    /// `worldSize` is the number of ranks of the run (1 without a launcher); the data-parallel
    /// size follows from it and the model-parallel flags.
    public init(_ args: TrainingArguments, worldSize: Int = 1) throws(SetupError) {
        func required<T>(_ value: T?, _ flag: String) throws(SetupError) -> T {
            guard let value else { throw .missing(flag) }
            return value
        }
        var c = TransformerConfig(
            numLayers: try required(args.numLayers, "--num-layers"),
            hiddenSize: try required(args.hiddenSize, "--hidden-size"),
            numAttentionHeads: try required(args.numAttentionHeads, "--num-attention-heads"),
            vocabSize: try required(args.vocabSize, "--vocab-size"),
            seqLength: try required(args.seqLength, "--seq-length"))
        // Megatron reads --num-query-groups only with --group-query-attention.
        c.numQueryGroups = args.groupQueryAttention ? (args.numQueryGroups ?? 1) : nil
        c.ffnHiddenSize = args.ffnHiddenSize
        c.kvChannels = args.kvChannels
        c.maxPositionEmbeddings = args.maxPositionEmbeddings
        c.normalization = Normalization(rawValue: args.normalization) ?? .layerNorm
        c.layernormEpsilon = Float(args.normEpsilon)
        if args.swiglu && args.openaiGelu { throw .conflict("--swiglu", "--openai-gelu") }
        c.activation = args.swiglu ? .swiglu : args.openaiGelu ? .geluTanh : .gelu
        c.addBiasLinear = !args.disableBiasLinear
        c.positionEmbeddingType = PositionEmbeddingType(rawValue: args.positionEmbeddingType) ?? .learnedAbsolute
        c.rotaryBase = Float(args.rotaryBase)
        c.hiddenDropout = Float(args.hiddenDropout)
        c.attentionDropout = Float(args.attentionDropout)
        c.initMethodStd = Float(args.initMethodStd)
        c.makeVocabSizeDivisibleBy = args.makeVocabSizeDivisibleBy
        c.shareEmbeddingsAndOutputWeights = !args.untieEmbeddingsAndOutputWeights
        c.recomputeGranularity = RecomputeGranularity(rawValue: args.recomputeGranularity)
        do {
            parallel = try ParallelConfig(worldSize: worldSize, tensor: args.tensorModelParallelSize,
                                          pipeline: args.pipelineModelParallelSize, context: args.contextParallelSize,
                                          expert: args.expertModelParallelSize, sequenceParallel: args.sequenceParallel)
        } catch { throw .parallel(error) }
        for (flag, size) in [("--context-parallel-size", parallel.context), ("--expert-model-parallel-size", parallel.expert)]
        where size > 1 {
            throw .unsupported("\(flag) \(size): only tensor, pipeline and data parallelism run across ranks so far (context "
                + "and expert parallelism are not implemented yet); use 1")
        }
        do {
            pipelineLayout = try PipelineLayout(
                numLayers: c.numLayers, pipelineSize: parallel.pipeline,
                layersPerVirtualStage: args.numLayersPerVirtualPipelineStage,
                virtualStagesPerRank: args.numVirtualStagesPerPipelineRank,
                firstStageLayers: args.decoderFirstPipelineNumLayers, lastStageLayers: args.decoderLastPipelineNumLayers)
        } catch { throw .pipeline(error) }
        microbatchGroupSize = args.microbatchGroupSizePerVirtualPipelineStage
        c.tensorModelParallelSize = parallel.tensor
        c.sequenceParallel = parallel.sequenceParallel
        do { model = try c.validated() } catch { throw .model(error) }

        microBatchSize = try required(args.microBatchSize, "--micro-batch-size")
        let dataParallelSize = parallel.dataParallel
        globalBatchSize = args.globalBatchSize ?? microBatchSize * dataParallelSize
        guard globalBatchSize % (microBatchSize * dataParallelSize) == 0 else {
            throw .batch(global: globalBatchSize, micro: microBatchSize, dataParallel: dataParallelSize)
        }
        trainIters = try required(args.trainIters, "--train-iters")
        let lr = try required(args.lr, "--lr")
        let decayIters = args.lrDecayIters ?? trainIters
        if args.lrWarmupFraction != nil && args.lrWarmupIters != 0 {
            throw .conflict("--lr-warmup-fraction", "--lr-warmup-iters")
        }
        let warmup = args.lrWarmupFraction.map { Int($0 * Double(decayIters)) } ?? args.lrWarmupIters
        do {
            schedule = try LearningRateSchedule(
                maxLR: lr, minLR: args.minLr, warmupSteps: warmup, decaySteps: max(decayIters, 1),
                style: LRDecayStyle(rawValue: args.lrDecayStyle) ?? .linear,
                wsdDecaySteps: args.lrWsdDecayIters, wsdStyle: WSDDecayStyle(rawValue: args.lrWsdDecayStyle) ?? .exponential)
        } catch { throw .schedule(error) }
        var adam = AdamW.Hyperparameters()
        adam.beta1 = Float(args.adamBeta1)
        adam.beta2 = Float(args.adamBeta2)
        adam.epsilon = Float(args.adamEps)
        adam.weightDecay = Float(args.weightDecay)
        adam.clipGrad = Float(args.clipGrad)
        self.adam = adam
        seed = UInt64(args.seed)
        if args.bf16 && args.fp16 { throw .conflict("--bf16", "--fp16") }
        computeDType = args.bf16 ? .bf16 : args.fp16 ? .fp16 : .fp32
        lossScaler = !args.fp16 ? nil : args.lossScale.map {
            // A static scale never changes: no growth, no back-off.
            DynamicLossScaler(initialScale: $0, minScale: $0, growthFactor: 1, backoffFactor: 1, growthInterval: .max, hysteresis: .max)
        } ?? DynamicLossScaler(initialScale: args.initialLossScale, minScale: args.minLossScale,
                               growthInterval: args.lossScaleWindow, hysteresis: args.hysteresis)
        useDistributedOptimizer = args.useDistributedOptimizer
        overlapGradReduce = args.overlapGradReduce
        if args.overlapParamGather && !args.useDistributedOptimizer {
            throw .requires("--overlap-param-gather", "--use-distributed-optimizer")
        }
        overlapParamGather = args.overlapParamGather
        bucketSize = args.ddpBucketSize
        eodMaskLoss = args.eodMaskLoss
        resetPositionIds = args.resetPositionIds
        resetAttentionMask = args.resetAttentionMask
        logInterval = args.logInterval
        evalInterval = args.evalInterval
        evalIters = args.evalIters
        var checkpointing = CheckpointSettings()
        checkpointing.save = args.save
        checkpointing.saveInterval = args.saveInterval
        checkpointing.load = args.load
        checkpointing.loadOptions = .init(iteration: args.ckptStep, loadOptimizer: !args.noLoadOptim,
                                          loadRandomState: !args.noLoadRng, finetune: args.finetune)
        checkpointing.saveOptimizer = !args.noSaveOptim
        checkpointing.asyncSave = args.asyncSave
        checkpointing.exitInterval = args.exitInterval
        checkpointing.keepLast = args.keepLastCheckpoints
        if args.saveInterval != nil && args.save == nil { throw .requires("--save-interval", "--save") }
        if args.asyncSave && args.save == nil { throw .requires("--async-save", "--save") }
        if args.keepLastCheckpoints != nil && args.save == nil { throw .requires("--keep-last-checkpoints", "--save") }
        if (args.ckptStep != nil || args.finetune || args.noLoadOptim || args.noLoadRng) && args.load == nil {
            throw .requires(args.ckptStep != nil ? "--ckpt-step" : args.finetune ? "--finetune" : args.noLoadOptim ? "--no-load-optim" : "--no-load-rng",
                            "--load")
        }
        self.checkpointing = checkpointing
        // The interleaved schedule's micro-batch constraints, named now rather than at step 1.
        do { _ = try pipelineSchedule(rank: 0) } catch { throw .pipeline(error) }
    }
}

/// An inconsistent or incomplete set of training flags.
public enum SetupError: Error, CustomStringConvertible {
    case missing(String)
    case conflict(String, String)
    case batch(global: Int, micro: Int, dataParallel: Int)
    case model(ConfigError)
    case schedule(ScheduleError)
    case parallel(ParallelConfigError)
    case unsupported(String)
    case requires(String, String)
    case pipeline(PipelineError)

    public var description: String {
        switch self {
        case let .missing(flag): "\(flag) is required"
        case let .conflict(a, b): "\(a) and \(b) cannot be used together"
        case let .batch(g, m, dp):
            "--global-batch-size \(g) is not divisible by --micro-batch-size \(m) × data-parallel size \(dp)"
        case let .model(e): e.description
        case let .schedule(e): e.description
        case let .parallel(e): e.description
        case let .unsupported(message): message
        case let .requires(a, b): "\(a) requires \(b)"
        case let .pipeline(e): e.description
        }
    }
}
