/// Every value `megatron train` (and `megatron bench`) reads from its command line or
/// `--config` file, with Megatron-LM's defaults.
///
/// Field names are the camelCase form of Megatron-LM's `pretrain_gpt.py` flags
/// (`--num-layers` → ``numLayers``). Optional fields have no default in Megatron-LM
/// either (`None`); which of them are required is decided when the arguments are
/// validated, not here.
///
/// Usage:
/// ```swift
/// let args = try TrainingArguments.parse(["--num-layers", "12", "--swiglu", "--config", "gpt.yaml"])
/// print(args.numLayers ?? 0, args.swiglu)
/// ```
///
/// The flags, their kinds, help text and range checks live in ``FlagTable/standard``.
public struct TrainingArguments: Sendable, Equatable {
    // MARK: Model

    /// `--num-layers`: number of transformer layers.
    public var numLayers: Int? = nil
    /// `--hidden-size`: transformer hidden size.
    public var hiddenSize: Int? = nil
    /// `--num-attention-heads`: number of attention heads.
    public var numAttentionHeads: Int? = nil
    /// `--group-query-attention`: use grouped-query attention.
    public var groupQueryAttention: Bool = false
    /// `--num-query-groups`: number of key/value groups with grouped-query attention.
    public var numQueryGroups: Int? = nil
    /// `--ffn-hidden-size`: MLP hidden size (4 × hidden size when unset).
    public var ffnHiddenSize: Int? = nil
    /// `--kv-channels`: per-head projection size (hidden size / heads when unset).
    public var kvChannels: Int? = nil
    /// `--seq-length`: training sequence length.
    public var seqLength: Int? = nil
    /// `--max-position-embeddings`: size of the position-embedding table.
    public var maxPositionEmbeddings: Int? = nil
    /// `--normalization`: `LayerNorm` or `RMSNorm`.
    public var normalization: String = "LayerNorm"
    /// `--norm-epsilon`: epsilon of the normalization layers.
    public var normEpsilon: Double = 1e-5
    /// `--swiglu`: gated SiLU MLP instead of GeLU.
    public var swiglu: Bool = false
    /// `--openai-gelu`: OpenAI's tanh approximation of GeLU.
    public var openaiGelu: Bool = false
    /// `--position-embedding-type`: `learned_absolute`, `rope` or `none`.
    public var positionEmbeddingType: String = "learned_absolute"
    /// `--rotary-base`: base of the rotary embedding frequencies.
    public var rotaryBase: Int = 10000
    /// `--make-vocab-size-divisible-by`: pad the vocabulary to a multiple of this.
    public var makeVocabSizeDivisibleBy: Int = 128
    /// `--untie-embeddings-and-output-weights`: separate input embedding and output layer weights.
    public var untieEmbeddingsAndOutputWeights: Bool = false
    /// `--disable-bias-linear`: no bias in the linear layers.
    public var disableBiasLinear: Bool = false
    /// `--hidden-dropout`: dropout probability after attention and MLP.
    public var hiddenDropout: Double = 0.1
    /// `--attention-dropout`: dropout probability on attention weights.
    public var attentionDropout: Double = 0.1
    /// `--init-method-std`: standard deviation of the weight initialisation.
    public var initMethodStd: Double = 0.02
    /// `--vocab-size`: vocabulary size (before padding).
    public var vocabSize: Int? = nil

    // MARK: Training

    /// `--micro-batch-size`: batch size of one forward/backward pass.
    public var microBatchSize: Int? = nil
    /// `--global-batch-size`: batch size of one optimizer step.
    public var globalBatchSize: Int? = nil
    /// `--train-iters`: number of optimizer steps.
    public var trainIters: Int? = nil
    /// `--lr`: peak learning rate.
    public var lr: Double? = nil
    /// `--min-lr`: learning rate floor of the decay.
    public var minLr: Double = 0.0
    /// `--lr-decay-style`: `constant`, `linear`, `cosine`, `inverse-square-root` or `WSD`.
    public var lrDecayStyle: String = "linear"
    /// `--lr-warmup-iters`: iterations of linear warmup.
    public var lrWarmupIters: Int = 0
    /// `--lr-warmup-fraction`: warmup as a fraction of the decay iterations.
    public var lrWarmupFraction: Double? = nil
    /// `--lr-decay-iters`: iterations to decay over (train iterations when unset).
    public var lrDecayIters: Int? = nil
    /// `--lr-wsd-decay-style`: `exponential`, `linear`, `cosine` or `minus_sqrt`.
    public var lrWsdDecayStyle: String = "exponential"
    /// `--lr-wsd-decay-iters`: iterations of the WSD decay phase.
    public var lrWsdDecayIters: Int? = nil
    /// `--weight-decay`: decoupled weight decay coefficient.
    public var weightDecay: Double = 0.01
    /// `--clip-grad`: global gradient-norm clipping threshold (0 disables).
    public var clipGrad: Double = 1.0
    /// `--adam-beta1`: Adam's first-moment coefficient.
    public var adamBeta1: Double = 0.9
    /// `--adam-beta2`: Adam's second-moment coefficient.
    public var adamBeta2: Double = 0.999
    /// `--adam-eps`: Adam's denominator epsilon.
    public var adamEps: Double = 1e-8
    /// `--optimizer`: `adam`.
    public var optimizer: String = "adam"
    /// `--seed`: random seed.
    public var seed: Int = 1234
    /// `--log-interval`: iterations between log lines.
    public var logInterval: Int = 100
    /// `--eval-interval`: iterations between evaluations.
    public var evalInterval: Int = 1000
    /// `--eval-iters`: iterations per evaluation.
    public var evalIters: Int = 100
    /// `--mock-data`: train on synthetic tokens instead of a dataset.
    public var mockData: Bool = false
    /// `--data-path`: dataset prefixes, optionally each preceded by its weight (Megatron's blend).
    public var dataPath: [String] = []
    /// `--split`: train/validation/test proportions of `--data-path`'s documents.
    public var split: String = "969, 30, 1"
    /// `--train-data-path`, `--valid-data-path`, `--test-data-path`: separate blends per split.
    public var trainDataPath: [String] = []
    public var validDataPath: [String] = []
    public var testDataPath: [String] = []
    /// `--data-cache-path`: where the index arrays are cached (next to the data when nil).
    public var dataCachePath: String? = nil
    /// Checkpointing: `--save`, `--save-interval`, `--load`, `--ckpt-step`, `--no-load-optim`,
    /// `--no-load-rng`, `--no-save-optim`, `--finetune`, `--async-save`, `--exit-interval`,
    /// `--keep-last-checkpoints`.
    public var save: String?
    public var saveInterval: Int?
    public var load: String?
    public var ckptStep: Int?
    public var noLoadOptim = false
    public var noLoadRng = false
    public var noSaveOptim = false
    public var finetune = false
    public var asyncSave = false
    public var exitInterval: Int?
    public var keepLastCheckpoints: Int?
    /// `--tokenizer-type` and its files.
    public var tokenizerType: String? = nil
    public var vocabFile: String? = nil
    public var mergeFile: String? = nil
    public var tokenizerModel: String? = nil
    public var tiktokenPattern: String? = nil
    /// `--eod-mask-loss`, `--reset-position-ids`, `--reset-attention-mask`.
    public var eodMaskLoss: Bool = false
    public var resetPositionIds: Bool = false
    public var resetAttentionMask: Bool = false
    /// `--tensor-model-parallel-size`, `--pipeline-model-parallel-size`,
    /// `--context-parallel-size`, `--expert-model-parallel-size`: the parallel layout (data
    /// parallel is the world size divided by tp · pp · cp).
    public var tensorModelParallelSize: Int = 1
    public var pipelineModelParallelSize: Int = 1
    /// `--num-layers-per-virtual-pipeline-stage` (interleaved schedule).
    public var numLayersPerVirtualPipelineStage: Int?
    /// `--num-virtual-stages-per-pipeline-rank` (interleaved schedule).
    public var numVirtualStagesPerPipelineRank: Int?
    /// `--microbatch-group-size-per-virtual-pipeline-stage` (default: the pipeline size).
    public var microbatchGroupSizePerVirtualPipelineStage: Int?
    /// `--decoder-first-pipeline-num-layers` / `--decoder-last-pipeline-num-layers` (uneven stages).
    public var decoderFirstPipelineNumLayers: Int?
    public var decoderLastPipelineNumLayers: Int?
    public var contextParallelSize: Int = 1
    public var expertModelParallelSize: Int = 1
    /// `--sequence-parallel` (with tensor parallelism).
    public var sequenceParallel: Bool = false
    /// `--use-distributed-optimizer`: ZeRO-1 over the data-parallel ranks.
    public var useDistributedOptimizer: Bool = false
    /// `--overlap-grad-reduce`: bucketed gradient reduction overlapped with the backward.
    public var overlapGradReduce: Bool = false
    /// `--overlap-param-gather`: the distributed optimizer's parameter all-gather overlapped
    /// with the next forward.
    public var overlapParamGather: Bool = false
    /// `--ddp-bucket-size`: elements per gradient bucket (nil: Megatron's default).
    public var ddpBucketSize: Int? = nil
    /// `--distributed-timeout-minutes`: how long a rank waits for the others.
    public var distributedTimeoutMinutes: Int = 10
    /// `--device` (swift-megatron): `auto`, `cpu` or `cuda`.
    public var device: String = "auto"
    /// `--bench-iters` (swift-megatron): iterations timed by `megatron bench`.
    public var benchIters: Int = 10
    /// `--bench-warmup` (swift-megatron): untimed warmup iterations of `megatron bench`.
    public var benchWarmup: Int = 2
    /// `--bench-profile` (swift-megatron): time every kernel of one extra `megatron bench` iteration.
    public var benchProfile: Bool = false
    /// Megatron's `--recompute-granularity` (`none` when the flag is absent).
    public var recomputeGranularity: String = "none"
    public var bf16: Bool = false
    public var fp16: Bool = false
    public var accumulateAllreduceGradsInFp32: Bool = false
    public var lossScale: Double? = nil
    public var initialLossScale: Double = 4_294_967_296
    public var minLossScale: Double = 1.0
    public var lossScaleWindow: Int = 1000
    public var hysteresis: Int = 2
    /// swift-megatron only: a named preset (``ModelPreset``) or "custom".
    public var model: String = "custom"

    /// All values at Megatron-LM's defaults.
    public init() {}
}
