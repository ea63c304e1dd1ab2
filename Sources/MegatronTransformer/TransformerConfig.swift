/// Normalisation applied before attention, before the MLP and at the end of the decoder.
public enum Normalization: String, Sendable, CaseIterable {
    case layerNorm = "LayerNorm"
    case rmsNorm = "RMSNorm"
}

/// How token positions enter the model.
public enum PositionEmbeddingType: String, Sendable, CaseIterable {
    case learnedAbsolute = "learned_absolute"
    case rope
    case none
}

/// Which activations the backward recomputes instead of keeping (`--recompute-granularity`).
public enum RecomputeGranularity: String, Sendable, CaseIterable {
    /// The MLP activation's output (rebuilt from its input); the attention core keeps only
    /// q, k, v, its output and the row log-sum-exp, never the s×s scores.
    case selective
    /// Each transformer layer keeps only its input and reruns its forward in the backward.
    case full
}

/// The MLP's activation.
public enum Activation: String, Sendable {
    /// GeLU with erf, Megatron's default.
    case gelu
    /// GeLU's tanh approximation, as GPT-2 (`--openai-gelu`).
    case geluTanh = "gelu_tanh"
    /// SiLU-gated linear unit (`--swiglu`): fc1 produces gate and up halves.
    case swiglu
}

/// The shape and numerics of a decoder-only transformer, with Megatron Core's field names and
/// defaults. Build one, then ``validated()`` it before allocating anything.
///
///     var c = TransformerConfig(numLayers: 12, hiddenSize: 768, numAttentionHeads: 12, vocabSize: 50257, seqLength: 1024)
///     c = try c.validated()          // fills ffnHiddenSize, kvChannels, numQueryGroups, padding
public struct TransformerConfig: Sendable, Equatable {
    public var numLayers: Int
    public var hiddenSize: Int
    public var numAttentionHeads: Int
    /// Key/value heads for grouped-query attention; nil means one per query head (MHA).
    public var numQueryGroups: Int?
    /// MLP width; nil means 4·hidden, or Megatron's 2/3 rule rounded down to 64 with SwiGLU.
    public var ffnHiddenSize: Int?
    /// Per-head width; nil means hidden / heads.
    public var kvChannels: Int?
    public var seqLength: Int
    /// Rows of the learned position table; nil means `seqLength`.
    public var maxPositionEmbeddings: Int?
    public var normalization: Normalization = .layerNorm
    public var layernormEpsilon: Float = 1e-5
    public var activation: Activation = .gelu
    public var addBiasLinear: Bool = true
    public var positionEmbeddingType: PositionEmbeddingType = .learnedAbsolute
    public var rotaryBase: Float = 10000
    public var hiddenDropout: Float = 0.1
    public var attentionDropout: Float = 0.1
    public var initMethodStd: Float = 0.02
    /// Real vocabulary size (the tokenizer's).
    public var vocabSize: Int
    public var makeVocabSizeDivisibleBy: Int = 128
    public var shareEmbeddingsAndOutputWeights: Bool = true
    /// nil keeps every activation (Megatron's default).
    public var recomputeGranularity: RecomputeGranularity? = nil
    /// Ranks the layers are split over (`--tensor-model-parallel-size`): it must divide the
    /// attention heads, query groups, MLP width and padded vocabulary.
    public var tensorModelParallelSize: Int = 1
    /// Split the residual stream along the sequence over the tensor-parallel ranks
    /// (`--sequence-parallel`; ignored with one rank).
    public var sequenceParallel: Bool = false

    public init(
        numLayers: Int, hiddenSize: Int, numAttentionHeads: Int, vocabSize: Int, seqLength: Int
    ) {
        self.numLayers = numLayers
        self.hiddenSize = hiddenSize
        self.numAttentionHeads = numAttentionHeads
        self.vocabSize = vocabSize
        self.seqLength = seqLength
    }

    /// GPT-2's choices: learned positions, LayerNorm, tanh GeLU, biases, tied embeddings.
    public static func gpt2(numLayers: Int, hiddenSize: Int, numAttentionHeads: Int, vocabSize: Int, seqLength: Int) -> Self {
        var c = Self(numLayers: numLayers, hiddenSize: hiddenSize, numAttentionHeads: numAttentionHeads, vocabSize: vocabSize, seqLength: seqLength)
        c.activation = .geluTanh
        return c
    }

    /// Llama's choices: RoPE, RMSNorm, SwiGLU, no biases, untied output layer, no dropout.
    public static func llama(
        numLayers: Int, hiddenSize: Int, numAttentionHeads: Int, numQueryGroups: Int,
        ffnHiddenSize: Int, vocabSize: Int, seqLength: Int
    ) -> Self {
        var c = Self(numLayers: numLayers, hiddenSize: hiddenSize, numAttentionHeads: numAttentionHeads, vocabSize: vocabSize, seqLength: seqLength)
        c.numQueryGroups = numQueryGroups
        c.ffnHiddenSize = ffnHiddenSize
        c.normalization = .rmsNorm
        c.activation = .swiglu
        c.addBiasLinear = false
        c.positionEmbeddingType = .rope
        c.shareEmbeddingsAndOutputWeights = false
        c.hiddenDropout = 0
        c.attentionDropout = 0
        return c
    }

    // Derived sizes; valid after `validated()`.
    public var headDim: Int { kvChannels ?? hiddenSize / numAttentionHeads }
    public var queryGroups: Int { numQueryGroups ?? numAttentionHeads }
    public var ffnSize: Int { ffnHiddenSize ?? Self.defaultFFN(hiddenSize, activation) }
    public var positionTableSize: Int { maxPositionEmbeddings ?? seqLength }
    /// Width of the fused QKV projection: per group, its query heads then one key and one value.
    public var qkvSize: Int { (numAttentionHeads + 2 * queryGroups) * headDim }
    /// The vocabulary rounded up to `makeVocabSizeDivisibleBy` × the tensor-parallel size
    /// (Megatron pads embedding rows so every rank holds an equal shard).
    public var paddedVocabSize: Int {
        let m = max(makeVocabSizeDivisibleBy, 1) * max(tensorModelParallelSize, 1)
        return (vocabSize + m - 1) / m * m
    }

    static func defaultFFN(_ hidden: Int, _ activation: Activation) -> Int {
        activation == .swiglu ? Int(Double(4 * hidden) * 2 / 3 / 64) * 64 : 4 * hidden
    }

    /// This config with defaults filled in, or the first invalid combination as an error.
    public func validated() throws(ConfigError) -> TransformerConfig {
        func positive(_ value: Int, _ name: String) throws(ConfigError) {
            guard value > 0 else { throw .notPositive(name, value) }
        }
        try positive(numLayers, "num-layers")
        try positive(hiddenSize, "hidden-size")
        try positive(numAttentionHeads, "num-attention-heads")
        try positive(seqLength, "seq-length")
        try positive(vocabSize, "vocab-size")
        try positive(makeVocabSizeDivisibleBy, "make-vocab-size-divisible-by")
        if let kvChannels { try positive(kvChannels, "kv-channels") } else if hiddenSize % numAttentionHeads != 0 {
            throw .hiddenNotDivisibleByHeads(hidden: hiddenSize, heads: numAttentionHeads)
        }
        if let numQueryGroups {
            try positive(numQueryGroups, "num-query-groups")
            guard numAttentionHeads % numQueryGroups == 0 else {
                throw .headsNotDivisibleByGroups(heads: numAttentionHeads, groups: numQueryGroups)
            }
        }
        if let ffnHiddenSize { try positive(ffnHiddenSize, "ffn-hidden-size") }
        guard ffnSize > 0 else { throw .notPositive("ffn-hidden-size (derived)", ffnSize) }
        if positionEmbeddingType == .rope, headDim % 2 != 0 { throw .oddRotaryDim(headDim) }
        if positionEmbeddingType == .learnedAbsolute, positionTableSize < seqLength {
            throw .sequenceLongerThanPositions(seqLength: seqLength, maxPositions: positionTableSize)
        }
        guard layernormEpsilon > 0 else { throw .invalidValue("norm-epsilon", "\(layernormEpsilon)", "a positive number") }
        guard initMethodStd > 0 else { throw .invalidValue("init-method-std", "\(initMethodStd)", "a positive number") }
        try positive(tensorModelParallelSize, "tensor-model-parallel-size")
        let tp = tensorModelParallelSize
        for (name, value) in [("num-attention-heads", numAttentionHeads), ("num-query-groups", queryGroups),
                              ("ffn-hidden-size", ffnSize)] where value % tp != 0 {
            throw .notDivisibleByTensorParallel(name, value, tp)
        }
        if sequenceParallel && tp > 1 && seqLength % tp != 0 { throw .notDivisibleByTensorParallel("seq-length", seqLength, tp) }
        guard rotaryBase > 0 else { throw .invalidValue("rotary-base", "\(rotaryBase)", "a positive number") }
        for (name, p) in [("hidden-dropout", hiddenDropout), ("attention-dropout", attentionDropout)] where !(p >= 0 && p < 1) {
            throw .invalidValue(name, "\(p)", "a probability in [0, 1)")
        }
        var c = self
        c.ffnHiddenSize = ffnSize
        c.kvChannels = headDim
        c.numQueryGroups = queryGroups
        c.maxPositionEmbeddings = positionTableSize
        return c
    }
}

/// An invalid ``TransformerConfig``; each case names the flags involved and their values.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case notPositive(String, Int)
    case hiddenNotDivisibleByHeads(hidden: Int, heads: Int)
    case headsNotDivisibleByGroups(heads: Int, groups: Int)
    case oddRotaryDim(Int)
    case sequenceLongerThanPositions(seqLength: Int, maxPositions: Int)
    case invalidValue(String, String, String)
    case notDivisibleByTensorParallel(String, Int, Int)

    public var description: String {
        switch self {
        case let .notPositive(name, v): "--\(name) must be a positive integer, got \(v)"
        case let .hiddenNotDivisibleByHeads(h, n):
            "--hidden-size \(h) is not divisible by --num-attention-heads \(n) (or set --kv-channels)"
        case let .headsNotDivisibleByGroups(n, g):
            "--num-attention-heads \(n) is not divisible by --num-query-groups \(g)"
        case let .oddRotaryDim(d): "rotary embeddings need an even head dimension, got kv-channels \(d)"
        case let .sequenceLongerThanPositions(s, p):
            "--seq-length \(s) exceeds --max-position-embeddings \(p) with learned absolute positions"
        case let .invalidValue(name, v, expected): "--\(name) \(v) is invalid: expected \(expected)"
        case let .notDivisibleByTensorParallel(name, v, tp):
            "--\(name) \(v) is not divisible by --tensor-model-parallel-size \(tp)"
        }
    }
}
