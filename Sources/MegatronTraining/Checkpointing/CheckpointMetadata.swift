import MegatronOptimizer
import MegatronTransformer

/// What a training checkpoint records besides tensors (its `common` document): where the run
/// stood, the model it holds, and the layout that wrote it. Random streams are counter-based
/// (Philox keyed by the seed, iteration and micro-batch), so the seed and the iteration are the
/// whole RNG state of every rank.
public struct CheckpointMetadata: Codable, Equatable, Sendable {
    /// Bumped when the layout of checkpoints changes incompatibly.
    public static let currentFormat = "swift-megatron checkpoint 1"
    public var format = Self.currentFormat
    public var iteration: Int
    public var consumedTrainSamples: Int
    public var consumedValidSamples: Int
    public var skippedIterations: Int
    /// Adam's step count (its bias correction).
    public var optimizerSteps: Int
    public var lossScaler: DynamicLossScaler?
    /// `--seed`: the key of every random stream.
    public var seed: UInt64
    public var model: ModelShape
    /// The writing run's tp, pp and dp sizes (any layout may load it).
    public var tensorParallel: Int
    public var pipelineParallel: Int
    public var dataParallel: Int
    /// Whether optimizer state (Adam moments) was saved (`--no-save-optim` leaves it out).
    public var hasOptimizerState: Bool
    /// The writing run's command-line flags, for the record.
    public var arguments: [String]

    /// The parts of a model config that decide its tensors: a checkpoint loads only into a
    /// model that agrees on all of them.
    public struct ModelShape: Codable, Equatable, Sendable {
        public var numLayers: Int
        public var hiddenSize: Int
        public var numAttentionHeads: Int
        public var numQueryGroups: Int
        public var kvChannels: Int
        public var ffnHiddenSize: Int
        public var vocabSize: Int
        public var maxPositionEmbeddings: Int
        public var normalization: String
        public var activation: String
        public var positionEmbeddingType: String
        public var addBiasLinear: Bool
        public var untiedEmbeddingsAndOutputWeights: Bool
        /// Recorded for conversions (they change no tensor's shape).
        public var normEpsilon: Float
        public var rotaryBase: Float
        public var hiddenDropout: Float
        public var attentionDropout: Float

        public init(_ c: TransformerConfig) {
            numLayers = c.numLayers
            hiddenSize = c.hiddenSize
            numAttentionHeads = c.numAttentionHeads
            numQueryGroups = c.queryGroups
            kvChannels = c.headDim
            ffnHiddenSize = c.ffnSize
            vocabSize = c.vocabSize
            maxPositionEmbeddings = c.positionTableSize
            normalization = c.normalization.rawValue
            activation = c.activation.rawValue
            positionEmbeddingType = c.positionEmbeddingType.rawValue
            addBiasLinear = c.addBiasLinear
            untiedEmbeddingsAndOutputWeights = !c.shareEmbeddingsAndOutputWeights
            normEpsilon = c.layernormEpsilon
            rotaryBase = c.rotaryBase
            hiddenDropout = c.hiddenDropout
            attentionDropout = c.attentionDropout
        }

        /// The model config this shape describes, with `seqLength` (the checkpoint does not fix it).
        public func transformerConfig(seqLength: Int? = nil) throws -> TransformerConfig {
            guard let norm = Normalization(rawValue: normalization), let act = Activation(rawValue: activation),
                  let position = PositionEmbeddingType(rawValue: positionEmbeddingType)
            else {
                throw TrainingCheckpointError.format(found: "model \(normalization)/\(activation)/\(positionEmbeddingType)",
                                                     path: "common.json")
            }
            var c = TransformerConfig(numLayers: numLayers, hiddenSize: hiddenSize, numAttentionHeads: numAttentionHeads,
                                      vocabSize: vocabSize, seqLength: seqLength ?? maxPositionEmbeddings)
            c.numQueryGroups = numQueryGroups
            c.kvChannels = kvChannels
            c.ffnHiddenSize = ffnHiddenSize
            c.maxPositionEmbeddings = maxPositionEmbeddings
            c.normalization = norm
            c.activation = act
            c.positionEmbeddingType = position
            c.addBiasLinear = addBiasLinear
            c.shareEmbeddingsAndOutputWeights = !untiedEmbeddingsAndOutputWeights
            c.layernormEpsilon = normEpsilon
            c.rotaryBase = rotaryBase
            c.hiddenDropout = hiddenDropout
            c.attentionDropout = attentionDropout
            return try c.validated()
        }

        /// The first field on which `self` (the checkpoint's) and `model` differ, named as its
        /// Megatron flag, with both values.
        public func mismatch(with model: ModelShape) -> (flag: String, checkpoint: String, model: String)? {
            let fields: [(String, String, String)] = [
                ("--num-layers", "\(numLayers)", "\(model.numLayers)"),
                ("--hidden-size", "\(hiddenSize)", "\(model.hiddenSize)"),
                ("--num-attention-heads", "\(numAttentionHeads)", "\(model.numAttentionHeads)"),
                ("--num-query-groups", "\(numQueryGroups)", "\(model.numQueryGroups)"),
                ("--kv-channels", "\(kvChannels)", "\(model.kvChannels)"),
                ("--ffn-hidden-size", "\(ffnHiddenSize)", "\(model.ffnHiddenSize)"),
                ("--vocab-size (or the tokenizer's)", "\(vocabSize)", "\(model.vocabSize)"),
                ("--max-position-embeddings", "\(maxPositionEmbeddings)", "\(model.maxPositionEmbeddings)"),
                ("--normalization", normalization, model.normalization),
                ("the activation (--swiglu, ...)", activation, model.activation),
                ("--position-embedding-type", positionEmbeddingType, model.positionEmbeddingType),
                ("--disable-bias-linear", "\(!addBiasLinear)", "\(!model.addBiasLinear)"),
                ("--untie-embeddings-and-output-weights", "\(untiedEmbeddingsAndOutputWeights)",
                 "\(model.untiedEmbeddingsAndOutputWeights)"),
            ]
            return fields.first { $0.1 != $0.2 }.map { (flag: $0.0, checkpoint: $0.1, model: $0.2) }
        }
    }
}
