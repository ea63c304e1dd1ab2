import MegatronTensor

/// One pre-norm decoder layer: `h = x + drop(attn(norm1(x)))`, `out = h + drop(mlp(norm2(h)))`.
/// Under sequence parallelism the residual stream, the norms and the dropouts work on this
/// rank's slice of the sequence `[s/tp, b, h]`.
///
///     let layer = TransformerLayer(&layout, layerNumber: 0, config)
///     let (y, saved) = try layer.forward(x, &rng, store)    // [s, b, h] → [s, b, h]
public struct TransformerLayer: Sendable {
    public let inputLayernorm: Norm
    public let selfAttention: SelfAttention
    public let preMLPLayernorm: Norm
    public let mlp: MLP
    public let hiddenDropout: Dropout
    public let recomputeGranularity: RecomputeGranularity?

    /// What the backward needs: the layer input and the dropout stream at entry, plus the
    /// intermediate activations unless `--recompute-granularity full` dropped them.
    public struct Saved: Sendable {
        let input: Tensor
        let segments: Tensor?
        let rngAtEntry: DropoutStream
        let activations: Activations?
    }

    struct Activations: Sendable {
        let norm1: Norm.Saved
        let normed1: Tensor
        let attention: SelfAttention.Saved
        let attentionDropoutOffset: UInt64?
        let residual: Tensor
        let norm2: Norm.Saved
        let normed2: Tensor
        let mlp: MLP.Saved
        let mlpDropoutOffset: UInt64?
        let seed: UInt64
    }

    /// The layer's index in the whole model (`decoder.layers.N`).
    public let layerNumber: Int

    public init(_ layout: inout ParameterLayout, layerNumber: Int, _ config: TransformerConfig, _ tp: TensorParallel = .none) {
        self.layerNumber = layerNumber
        let prefix = "decoder.layers.\(layerNumber)"
        inputLayernorm = Norm(&layout, "\(prefix).input_layernorm", config)
        selfAttention = SelfAttention(&layout, "\(prefix).self_attention", config, tp)
        preMLPLayernorm = Norm(&layout, "\(prefix).pre_mlp_layernorm", config)
        mlp = MLP(&layout, "\(prefix).mlp", config, tp)
        hiddenDropout = Dropout(probability: config.hiddenDropout, tp)
        recomputeGranularity = config.recomputeGranularity
    }

    /// The flat-buffer offset of this layer's first parameter (its parameters are contiguous).
    public func firstParameterOffset(_ store: ParameterStore) -> Int {
        store.layout.specs[inputLayernorm.weight.index].offset
    }

    /// `segments`: the attention's segment ids, int32 `[b, s]` (see ``SelfAttention``).
    public func forward(_ x: Tensor, _ rng: inout DropoutStream, _ store: ParameterStore,
                        segments: Tensor? = nil) throws -> (Tensor, Saved) {
        let entry = rng
        let (out, activations) = try run(x, segments, &rng, store)
        return (out, Saved(input: x, segments: segments, rngAtEntry: entry,
                           activations: recomputeGranularity == .full ? nil : activations))
    }

    private func run(_ x: Tensor, _ segments: Tensor?, _ rng: inout DropoutStream, _ store: ParameterStore) throws -> (Tensor, Activations) {
        let b = store.backend
        let (n1, s1) = try inputLayernorm.forward(x, store)
        let (attn, sa) = try selfAttention.forward(n1, &rng, store, segments: segments)
        let (attnDropped, o1) = try hiddenDropout.forward(attn, &rng, b)
        // residual = x + attnDropped, formed in attnDropped's buffer by the fused add + norm.
        let residual = attnDropped
        let (n2, s2) = try preMLPLayernorm.forward(residual, adding: x, store)
        let (m, sm) = try mlp.forward(n2, store)
        let (mDropped, o2) = try hiddenDropout.forward(m, &rng, b)
        let out = try b.empty(x.shape, dtype: x.dtype)
        try b.add(residual, mDropped, into: out)
        return (out, Activations(norm1: s1, normed1: n1, attention: sa, attentionDropoutOffset: o1,
                                 residual: residual, norm2: s2, normed2: n2, mlp: sm, mlpDropoutOffset: o2, seed: rng.seed))
    }

    /// dy `[s, b, h]` → dx `[s, b, h]`, consuming dy: its buffer becomes dx. With full
    /// recompute, first reruns the forward from the saved input and dropout stream, which
    /// regenerates the same masks.
    public func backward(_ dy: Tensor, _ saved: Saved, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let acts: Activations
        if let kept = saved.activations {
            acts = kept
        } else {
            var rng = saved.rngAtEntry
            acts = try run(saved.input, saved.segments, &rng, store).1
        }
        // The residual path passes dy through, and each branch adds its contribution via the
        // norms, in place: a branch has consumed dy (queued its kernels) before its norm adds to it.
        let dresidual = dy
        let dm = try hiddenDropout.backward(dy, offset: acts.mlpDropoutOffset, seed: acts.seed, b)
        let dn2 = try mlp.backward(dm, acts.mlp, store)
        try preMLPLayernorm.backward(dn2, input: acts.residual, acts.norm2, accumulateInto: dresidual, store)
        let da = try hiddenDropout.backward(dresidual, offset: acts.attentionDropoutOffset, seed: acts.seed, b)
        let dn1 = try selfAttention.backward(da, acts.attention, store)
        try inputLayernorm.backward(dn1, input: saved.input, acts.norm1, accumulateInto: dresidual, store)
        return dresidual
    }
}
