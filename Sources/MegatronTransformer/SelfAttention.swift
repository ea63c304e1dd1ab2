import MegatronTensor

/// Causal self-attention with grouped query heads: fused QKV projection in Megatron's grouped
/// layout, optional rotary embedding, softmax attention (optionally within documents: see
/// ``forward(_:_:_:segments:)``), output projection. Under tensor
/// parallelism each rank holds whole query groups (the QKV projection is column-parallel, the
/// output projection row-parallel).
///
///     let attn = SelfAttention(&layout, "decoder.layers.0.self_attention", config)
///     let (y, saved) = try attn.forward(x, &rng, store)     // x [s, b, h] → y [s, b, h]
public struct SelfAttention: Sendable {
    public let config: TransformerConfig
    public let linearQKV: Linear
    public let linearProj: Linear
    /// This rank's query heads and query groups.
    let localHeads: Int
    let localGroups: Int
    let tensorParallel: TensorParallel

    public struct Saved: Sendable {
        let input: Tensor      // [s*b, h] ([s/tp*b, h] under sequence parallelism)
        let q: Tensor          // [s, b, nq, d], after RoPE
        let k: Tensor          // [s, b, ng, d], after RoPE
        let v: Tensor          // [s, b, ng, d]
        let context: Tensor    // [s, b, nq, d]
        let lse: Tensor        // [b, nq, s]
        let segments: Tensor?  // [b, s] int32
        let dropoutSeed: UInt64
        let dropout: Float
    }

    /// `tp`'s size must divide the query groups (checked by ``TensorParallel/validate(_:)``).
    public init(_ layout: inout ParameterLayout, _ prefix: String, _ config: TransformerConfig, _ tp: TensorParallel = .none) {
        self.config = config
        tensorParallel = tp
        localHeads = config.numAttentionHeads / tp.size
        localGroups = config.queryGroups / tp.size
        let std = config.initMethodStd
        // Megatron's QKV rows are contiguous per query group, so an even row split hands each
        // rank whole groups.
        linearQKV = Linear(&layout, "\(prefix).linear_qkv", in: config.hiddenSize, out: config.qkvSize, bias: config.addBiasLinear,
                           std: std, .column, tp)
        linearProj = Linear(&layout, "\(prefix).linear_proj", in: config.numAttentionHeads * config.headDim,
                            out: config.hiddenSize, bias: config.addBiasLinear,
                            std: std / (2 * Float(config.numLayers)).squareRoot(), .row, tp)
    }

    private var scale: Float { 1 / Float(config.headDim).squareRoot() }

    /// x `[s, b, h]` → `[s, b, h]` (before the residual add); `[s/tp, b, h]` both under
    /// sequence parallelism. `segments`, int32 `[b, s]` over the whole sequence (attention runs
    /// on all s positions on every tensor-parallel rank, sequence parallelism included), keeps
    /// each token's attention within its segment (``Backend/attention(q:k:v:into:lse:scale:dropout:seed:segments:)``).
    public func forward(_ x: Tensor, _ rng: inout DropoutStream, _ store: ParameterStore,
                        segments: Tensor? = nil) throws -> (Tensor, Saved) {
        let b = store.backend
        let (sLocal, batch) = (x.shape[0], x.shape[1])
        let s = tensorParallel.sequenceParallel ? sLocal * tensorParallel.size : sLocal
        let (nq, ng, d) = (localHeads, localGroups, config.headDim)
        let input = try x.reshaped([sLocal * batch, config.hiddenSize])
        let qkv = try linearQKV.forward(input, store)
        let q = try b.empty([s, batch, nq, d], dtype: x.dtype)
        let k = try b.empty([s, batch, ng, d], dtype: x.dtype)
        let v = try b.empty([s, batch, ng, d], dtype: x.dtype)
        try b.splitQKV(qkv, q: q, k: k, v: v)
        if config.positionEmbeddingType == .rope {
            try b.rope(q, base: config.rotaryBase, inverse: false)
            try b.rope(k, base: config.rotaryBase, inverse: false)
        }
        let context = try b.empty(q.shape, dtype: x.dtype)
        let lse = try b.empty([batch, nq, s], dtype: .fp32)
        let dropout = rng.enabled ? config.attentionDropout : 0
        // Megatron's model-parallel RNG: each tensor-parallel rank draws its own heads' masks.
        let seed = dropout > 0 ? mixSeed(rng.takeSeed() ^ UInt64(tensorParallel.rank)) : 0
        try b.attention(q: q, k: k, v: v, into: context, lse: lse, scale: scale, dropout: dropout, seed: seed, segments: segments)
        let out = try linearProj.forward(context.reshaped([s * batch, nq * d]), store)
        return (try out.reshaped(x.shape), Saved(input: input, q: q, k: k, v: v, context: context, lse: lse, segments: segments,
                                                 dropoutSeed: seed, dropout: dropout))
    }

    /// dy `[s, b, h]` → dx `[s, b, h]`; accumulates parameter gradients.
    public func backward(_ dy: Tensor, _ saved: Saved, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let (s, batch, nq, d) = (saved.q.shape[0], saved.q.shape[1], localHeads, config.headDim)
        let dcontext = try linearProj.backward(dy, input: saved.context.reshaped([s * batch, nq * d]), store)
        let dq = try b.empty(saved.q.shape, dtype: dy.dtype)
        let dk = try b.empty(saved.k.shape, dtype: dy.dtype)
        let dv = try b.empty(saved.v.shape, dtype: dy.dtype)
        try b.attentionBackward(dcontext.reshaped(saved.q.shape), q: saved.q, k: saved.k, v: saved.v, out: saved.context,
                                lse: saved.lse, dq: dq, dk: dk, dv: dv, scale: scale,
                                dropout: saved.dropout, seed: saved.dropoutSeed, segments: saved.segments)
        if config.positionEmbeddingType == .rope {
            try b.rope(dq, base: config.rotaryBase, inverse: true)
            try b.rope(dk, base: config.rotaryBase, inverse: true)
        }
        let dqkv = try b.empty([s * batch, linearQKV.outFeatures], dtype: dy.dtype)
        try b.mergeQKV(q: dq, k: dk, v: dv, into: dqkv)
        return try linearQKV.backward(dqkv, input: saved.input, store).reshaped(dy.shape)
    }
}
