/// The op set every compute backend provides. Model code calls these on ``Tensor``s and never
/// touches elements, so the same model runs on the CPU reference and on a GPU.
///
/// Conventions:
/// - Matrices are row-major; a tensor of rank > 2 is seen as `[shape.leading, shape.last]`.
/// - Ops whose name ends in `Backward` **accumulate** into parameter gradients (`+=`). Input
///   gradients are overwritten unless the doc says otherwise.
/// - Shapes are checked; a mismatch throws ``TensorError`` naming the op.
///
///     let y = try backend.empty([tokens, out], dtype: .fp32)
///     try backend.gemm(x, w, into: y, transposeB: true)      // y = x · wᵀ
public protocol Backend: AnyObject, Sendable {
    /// The device this backend computes on.
    var device: Device { get }
    /// A short human-readable name ("cpu (OpenBLAS)", "cuda:0 (H100)").
    var name: String { get }

    // MARK: memory

    /// A new tensor with unspecified contents.
    func empty(_ shape: Shape, dtype: DType) throws -> Tensor
    /// Sets every element to `value`.
    func fill(_ tensor: Tensor, _ value: Float) throws
    /// Copies host values into a floating-point tensor, converting to its dtype.
    func upload(_ values: [Float], to tensor: Tensor) throws
    /// Copies host integers into an integer tensor.
    func upload(_ values: [Int32], to tensor: Tensor) throws
    /// The tensor's values as fp32 on the host.
    func download(_ tensor: Tensor) throws -> [Float]
    /// Copies `source` into `destination` of the same element count, converting dtypes.
    func copy(_ source: Tensor, to destination: Tensor) throws
    /// Blocks until all queued work is done (a no-op on the CPU).
    func synchronize() throws

    // MARK: elementwise

    /// `out = a + b` (same shapes; `out` may alias either input).
    func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws
    /// `y += alpha · x`.
    func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws
    /// `x *= alpha`.
    func scale(_ x: Tensor, by alpha: Float) throws
    /// Σ xᵢ², accumulated in double precision.
    func sumOfSquares(_ x: Tensor) throws -> Double

    // MARK: linear algebra

    /// `c = alpha · op(a) · op(b) + beta · c`, op transposing when asked. `a` is `[m, k]`
    /// (or `[k, m]` transposed), `b` is `[k, n]` (or `[n, k]`), `c` is `[m, n]`.
    func gemm(
        _ a: Tensor, _ b: Tensor, into c: Tensor,
        transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float
    ) throws
    /// `y[r, :] += bias` for every row r of `y` `[n, c]`.
    func addBias(_ bias: Tensor, to y: Tensor) throws
    /// `dbias += Σ_rows dy` (accumulates).
    func biasBackward(_ dy: Tensor, into dbias: Tensor) throws

    // MARK: fused linear layers (defaults compose the ops above; a backend may fuse them)

    /// `y = x · weightᵀ (+ bias)`: x `[T, in]`, weight `[out, in]`, bias `[out]`, y `[T, out]`.
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: Tensor) throws
    /// `preActivation = x · weightᵀ (+ bias)` and `y = gelu(preActivation)` (the MLP's first
    /// layer; `preActivation` is what the backward needs).
    func linearGeLU(_ x: Tensor, weight: Tensor, bias: Tensor?, preActivation: Tensor, into y: Tensor, approximate: Bool) throws
    /// `dpre = (dy · weight) ⊙ gelu'(preActivation)`: the input gradient of a linear layer whose
    /// input was `gelu(preActivation)`, carried back through the GeLU. dy `[T, out]`,
    /// weight `[out, in]`, preActivation and dpre `[T, in]`.
    func linearInputGradientThroughGeLU(
        _ dy: Tensor, weight: Tensor, preActivation: Tensor, into dpre: Tensor, approximate: Bool
    ) throws

    // MARK: embedding

    /// `out[i, :] = table[ids[i] − vocabStart, :]` for the ids this table holds
    /// (`vocabStart ..< vocabStart + V`), zeros for the others: ids int32 `[n]` (any shape),
    /// table `[V, h]` (rows `vocabStart…` of a vocabulary of `vocabSize`; the whole of it
    /// without tensor parallelism), out `[n, h]`. An id outside `0..<vocabSize` throws.
    func embedding(_ ids: Tensor, table: Tensor, vocabStart: Int, vocabSize: Int, into out: Tensor) throws
    /// `dtable[ids[i] − vocabStart, :] += dout[i, :]` for the ids this table holds (accumulates;
    /// deterministic order). An id outside `0..<vocabSize` throws.
    func embeddingBackward(_ ids: Tensor, dout: Tensor, vocabStart: Int, vocabSize: Int, into dtable: Tensor) throws

    // MARK: normalisation (rows of `[n, h]`)

    /// LayerNorm: `y = (x − mean) · rstd · weight + bias`; saves `mean`, `rstd` `[n]`.
    func layerNorm(
        _ x: Tensor, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor
    ) throws
    /// Accumulates into `dx` (so a residual gradient already there is kept), `dweight`, `dbias`.
    func layerNormBackward(
        _ dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
        dx: Tensor, dweight: Tensor, dbias: Tensor?
    ) throws
    /// RMSNorm: `y = x · rstd · weight`, rstd = 1/sqrt(mean(x²) + ε); saves `rstd` `[n]`.
    func rmsNorm(_ x: Tensor, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor) throws
    /// `x += residual` in place (x then holds the residual stream's next value), then
    /// ``layerNorm(_:weight:bias:epsilon:into:mean:rstd:)`` of the sum: the residual add fused
    /// with the norm after it.
    func residualLayerNorm(
        _ x: Tensor, residual: Tensor, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor
    ) throws
    /// `x += residual` in place, then ``rmsNorm(_:weight:epsilon:into:rstd:)`` of the sum.
    func residualRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor) throws
    /// Accumulates into `dx` and `dweight`.
    func rmsNormBackward(_ dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor, dx: Tensor, dweight: Tensor) throws

    // MARK: activations

    /// GeLU, exact (erf) or the tanh approximation.
    func gelu(_ x: Tensor, into y: Tensor, approximate: Bool) throws
    func geluBackward(_ dy: Tensor, x: Tensor, into dx: Tensor, approximate: Bool) throws
    /// SwiGLU over `[n, 2f]` → `[n, f]`: `silu(x[:, :f]) · x[:, f:]` (Megatron's chunk order).
    func swiglu(_ x: Tensor, into y: Tensor) throws
    func swigluBackward(_ dy: Tensor, x: Tensor, into dx: Tensor) throws
    /// Inverted dropout: element i kept when Philox(seed) uniform(offset + i) ≥ p, scaled by
    /// 1/(1−p). The mask is regenerated, never stored; the backward applies the same mask.
    func dropout(_ x: Tensor, into y: Tensor, probability p: Float, seed: UInt64, offset: UInt64) throws

    // MARK: attention

    /// Splits Megatron's fused QKV `[s, b, g·(q/g + 2)·d]` (per query group: its query heads, then
    /// one key and one value head) into `q [s, b, q, d]`, `k [s, b, g, d]`, `v [s, b, g, d]`.
    func splitQKV(_ qkv: Tensor, q: Tensor, k: Tensor, v: Tensor) throws
    /// The inverse of ``splitQKV``: writes `dq, dk, dv` into the fused layout `dqkv`.
    func mergeQKV(q: Tensor, k: Tensor, v: Tensor, into qkv: Tensor) throws
    /// Rotary embedding in place on `x [s, b, heads, d]`: dims `(i, i + d/2)` of position `p` rotate
    /// by `p · base^(−2i/d)` (Megatron's non-interleaved form); `inverse` rotates back (the backward).
    func rope(_ x: Tensor, base: Float, inverse: Bool) throws
    /// Causal softmax attention, grouped-query: `q [s, b, nq, d]`, `k, v [s, b, ng, d]`,
    /// `out [s, b, nq, d]`, saves the row log-sum-exp `lse [b, nq, s]`. Attention dropout with
    /// probability `dropout` uses Philox(seed) over (b, head, i, j).
    ///
    /// `segments`, when given, is int32 `[b, s]` (batch-major, unlike the activations: each
    /// sequence's ids are contiguous, as the kernels read them tile by tile): token i of sequence
    /// bb attends to key j only if j ≤ i and `segments[bb, j] == segments[bb, i]` — attention
    /// within documents, Megatron's `--reset-attention-mask` (the ids are the number of
    /// end-of-document tokens before each position). Any ids work; every row sees at least
    /// itself. nil is plain causal attention.
    func attention(
        q: Tensor, k: Tensor, v: Tensor, into out: Tensor, lse: Tensor,
        scale: Float, dropout: Float, seed: UInt64, segments: Tensor?
    ) throws
    /// Overwrites `dq, dk, dv`; `segments` as the forward's.
    func attentionBackward(
        _ dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
        dq: Tensor, dk: Tensor, dv: Tensor, scale: Float, dropout: Float, seed: UInt64, segments: Tensor?
    ) throws

    // MARK: loss

    /// Softmax cross-entropy per row of `logits [n, V]` (every column, padded ones included, as
    /// Megatron), targets int32 `[n]`: `losses[i] = lse_i − logits[i, t_i]`.
    func crossEntropy(_ logits: Tensor, targets: Tensor, losses: Tensor) throws
    /// `dlogits[i, :] = dloss[i] · (softmax(logits[i]) − onehot(t_i))`; `dlogits` may alias `logits`.
    func crossEntropyBackward(_ logits: Tensor, targets: Tensor, dloss: Tensor, into dlogits: Tensor) throws

    /// The classifier's forward and backward in one: `losses` as ``crossEntropy(_:targets:losses:)``
    /// and, in place, `logits[i, :] = weights[i] · (softmax(logits[i]) − onehot(t_i))` (weights
    /// fp32 `[n]`), so the logits are never kept next to their gradient.
    func crossEntropyFused(_ logits: Tensor, targets: Tensor, weights: Tensor, losses: Tensor) throws

    /// Vocabulary-parallel cross-entropy, step 1 of 3: per row of a vocabulary shard `logits
    /// [n, V]` (columns `vocabStart ..< vocabStart + V` of `vocabSize`), `partials [n, 3]` fp32 =
    /// (row max m, Σ exp(x − m), the target's logit if the shard holds it else 0). A target
    /// outside `0..<vocabSize` throws.
    func crossEntropyPartials(_ logits: Tensor, targets: Tensor, vocabStart: Int, vocabSize: Int, into partials: Tensor) throws
    /// Step 2: every shard's `partials [shards, n, 3]` (gathered in shard order) → the full
    /// rows' `lse [n]` and `losses [n] = lse − target logit`.
    func crossEntropyCombine(_ partials: Tensor, lse: Tensor, losses: Tensor) throws
    /// Step 3: `dlogits[i, j] = weights[i] · (exp(logits[i, j] − lse[i]) − [vocabStart + j = t_i])`
    /// over the shard (`dlogits` may alias `logits`).
    func crossEntropyShardBackward(
        _ logits: Tensor, targets: Tensor, vocabStart: Int, lse: Tensor, weights: Tensor, into dlogits: Tensor
    ) throws

    // MARK: optimizer

    /// One AdamW step over flat fp32 ranges: `m, v` moments, bias correction for step `step`
    /// (1-based), decoupled weight decay `param −= lr · wd · param`.
    func adamW(
        params: Tensor, grads: Tensor, m: Tensor, v: Tensor,
        lr: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, step: Int
    ) throws
}

extension Backend {
    /// A new tensor filled with zeros.
    public func zeros(_ shape: Shape, dtype: DType = .fp32) throws -> Tensor {
        let t = try empty(shape, dtype: dtype)
        try fill(t, 0)
        return t
    }

    /// A new tensor holding `values`.
    public func tensor(_ values: [Float], shape: Shape, dtype: DType = .fp32) throws -> Tensor {
        let t = try empty(shape, dtype: dtype)
        try upload(values, to: t)
        return t
    }

    /// A new int32 tensor holding `values` (token ids, targets, positions).
    public func tensor(int32 values: [Int32], shape: Shape) throws -> Tensor {
        let t = try empty(shape, dtype: .int32)
        try upload(values, to: t)
        return t
    }

    /// ``embedding(_:table:vocabStart:vocabSize:into:)`` over the whole vocabulary.
    public func embedding(_ ids: Tensor, table: Tensor, into out: Tensor) throws {
        try embedding(ids, table: table, vocabStart: 0, vocabSize: table.shape.leading, into: out)
    }

    /// ``embeddingBackward(_:dout:vocabStart:vocabSize:into:)`` over the whole vocabulary.
    public func embeddingBackward(_ ids: Tensor, dout: Tensor, into dtable: Tensor) throws {
        try embeddingBackward(ids, dout: dout, vocabStart: 0, vocabSize: dtable.shape.leading, into: dtable)
    }

    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: Tensor) throws {
        try composedLinear(x, weight: weight, bias: bias, into: y)
    }

    public func linearGeLU(_ x: Tensor, weight: Tensor, bias: Tensor?, preActivation: Tensor, into y: Tensor, approximate: Bool) throws {
        try composedLinearGeLU(x, weight: weight, bias: bias, preActivation: preActivation, into: y, approximate: approximate)
    }

    public func linearInputGradientThroughGeLU(
        _ dy: Tensor, weight: Tensor, preActivation: Tensor, into dpre: Tensor, approximate: Bool
    ) throws {
        try composedLinearInputGradientThroughGeLU(dy, weight: weight, preActivation: preActivation, into: dpre, approximate: approximate)
    }

    public func residualLayerNorm(
        _ x: Tensor, residual: Tensor, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor
    ) throws {
        try add(x, residual, into: x)
        try layerNorm(x, weight: weight, bias: bias, epsilon: epsilon, into: y, mean: mean, rstd: rstd)
    }

    public func residualRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor) throws {
        try add(x, residual, into: x)
        try rmsNorm(x, weight: weight, epsilon: epsilon, into: y, rstd: rstd)
    }

    public func crossEntropyFused(_ logits: Tensor, targets: Tensor, weights: Tensor, losses: Tensor) throws {
        try crossEntropy(logits, targets: targets, losses: losses)
        try crossEntropyBackward(logits, targets: targets, dloss: weights, into: logits)
    }

    /// ``linear(_:weight:bias:into:)`` as a GEMM and a bias add (the reference; fused backends
    /// fall back to it where they cannot fuse).
    public func composedLinear(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: Tensor) throws {
        try gemm(x, weight, into: y, transposeB: true)
        if let bias { try addBias(bias, to: y) }
    }

    /// ``linearGeLU(_:weight:bias:preActivation:into:approximate:)`` as a ``linear(_:weight:bias:into:)``
    /// (with whatever bias fusion the backend has) and a separate GeLU.
    public func composedLinearGeLU(
        _ x: Tensor, weight: Tensor, bias: Tensor?, preActivation: Tensor, into y: Tensor, approximate: Bool
    ) throws {
        try linear(x, weight: weight, bias: bias, into: preActivation)
        try gelu(preActivation, into: y, approximate: approximate)
    }

    /// ``linearInputGradientThroughGeLU(_:weight:preActivation:into:approximate:)`` as separate ops.
    public func composedLinearInputGradientThroughGeLU(
        _ dy: Tensor, weight: Tensor, preActivation: Tensor, into dpre: Tensor, approximate: Bool
    ) throws {
        let dactivation = try empty(dpre.shape, dtype: dpre.dtype)
        try gemm(dy, weight, into: dactivation)
        try geluBackward(dactivation, x: preActivation, into: dpre, approximate: approximate)
    }

    /// `c = op(a) · op(b)`.
    public func gemm(_ a: Tensor, _ b: Tensor, into c: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws {
        try gemm(a, b, into: c, transposeA: transposeA, transposeB: transposeB, alpha: 1, beta: 0)
    }
}
