import MegatronTensor

/// Causal self-attention with grouped query heads: fused QKV projection in Megatron's grouped
/// layout, optional rotary embedding, softmax attention, output projection.
///
///     let attn = SelfAttention(&layout, "decoder.layers.0.self_attention", config)
///     let (y, saved) = try attn.forward(x, &rng, store)     // x [s, b, h] → y [s, b, h]
public struct SelfAttention: Sendable {
    public let config: TransformerConfig
    public let linearQKV: Linear
    public let linearProj: Linear

    public struct Saved: Sendable {
        let input: Tensor      // [s*b, h]
        let q: Tensor          // [s, b, nq, d], after RoPE
        let k: Tensor          // [s, b, ng, d], after RoPE
        let v: Tensor          // [s, b, ng, d]
        let context: Tensor    // [s, b, nq, d]
        let lse: Tensor        // [b, nq, s]
        let dropoutSeed: UInt64
        let dropout: Float
    }

    public init(_ layout: inout ParameterLayout, _ prefix: String, _ config: TransformerConfig) {
        self.config = config
        let std = config.initMethodStd
        linearQKV = Linear(&layout, "\(prefix).linear_qkv", in: config.hiddenSize, out: config.qkvSize, bias: config.addBiasLinear, std: std)
        linearProj = Linear(&layout, "\(prefix).linear_proj", in: config.numAttentionHeads * config.headDim,
                            out: config.hiddenSize, bias: config.addBiasLinear,
                            std: std / (2 * Float(config.numLayers)).squareRoot())
    }

    private var scale: Float { 1 / Float(config.headDim).squareRoot() }

    /// x `[s, b, h]` → `[s, b, h]` (before the residual add).
    public func forward(_ x: Tensor, _ rng: inout DropoutStream, _ store: ParameterStore) throws -> (Tensor, Saved) {
        let b = store.backend
        let (s, batch) = (x.shape[0], x.shape[1])
        let (nq, ng, d) = (config.numAttentionHeads, config.queryGroups, config.headDim)
        let input = try x.reshaped([s * batch, config.hiddenSize])
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
        let seed = dropout > 0 ? rng.takeSeed() : 0
        try b.attention(q: q, k: k, v: v, into: context, lse: lse, scale: scale, dropout: dropout, seed: seed)
        let out = try linearProj.forward(context.reshaped([s * batch, nq * d]), store)
        return (try out.reshaped(x.shape), Saved(input: input, q: q, k: k, v: v, context: context, lse: lse, dropoutSeed: seed, dropout: dropout))
    }

    /// dy `[s, b, h]` → dx `[s, b, h]`; accumulates parameter gradients.
    public func backward(_ dy: Tensor, _ saved: Saved, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let (s, batch) = (dy.shape[0], dy.shape[1])
        let (nq, d) = (config.numAttentionHeads, config.headDim)
        let dcontext = try linearProj.backward(dy, input: saved.context.reshaped([s * batch, nq * d]), store)
        let dq = try b.empty(saved.q.shape, dtype: dy.dtype)
        let dk = try b.empty(saved.k.shape, dtype: dy.dtype)
        let dv = try b.empty(saved.v.shape, dtype: dy.dtype)
        try b.attentionBackward(dcontext.reshaped(saved.q.shape), q: saved.q, k: saved.k, v: saved.v, out: saved.context,
                                lse: saved.lse, dq: dq, dk: dk, dv: dv, scale: scale,
                                dropout: saved.dropout, seed: saved.dropoutSeed)
        if config.positionEmbeddingType == .rope {
            try b.rope(dq, base: config.rotaryBase, inverse: true)
            try b.rope(dk, base: config.rotaryBase, inverse: true)
        }
        let dqkv = try b.empty([s * batch, config.qkvSize], dtype: dy.dtype)
        try b.mergeQKV(q: dq, k: dk, v: dv, into: dqkv)
        return try linearQKV.backward(dqkv, input: saved.input, store).reshaped(dy.shape)
    }
}
