import MegatronTensor

/// How a ``Linear`` is split over the tensor-parallel ranks (Megatron's ColumnParallelLinear
/// and RowParallelLinear).
public enum LinearParallelism: Sendable {
    /// The output features are split: each rank computes its block of `y` from the whole input
    /// (all-gathered first under sequence parallelism); the input gradient is summed over ranks.
    case column
    /// The input features are split: each rank's partial `y` is summed over ranks (reduce-scattered
    /// under sequence parallelism), then the bias, which every rank holds whole, is added.
    case row
}

/// `y = x · Wᵀ + b` with Megatron's weight layout `[out, in]`, on one rank or split over the
/// tensor-parallel group.
///
///     let fc = Linear(&layout, "mlp.linear_fc1", in: h, out: 4 * h, bias: true, std: 0.02, .column, tp)
///     let y = try fc.forward(x, store)          // x [T, in] → y [T, out/tp]
public struct Linear: Sendable {
    public let weight: ParameterRef
    public let bias: ParameterRef?
    /// This rank's input features (`in/tp` for a row-parallel layer).
    public let inFeatures: Int
    /// This rank's output features (`out/tp` for a column-parallel layer).
    public let outFeatures: Int
    public let parallelism: LinearParallelism
    public let tensorParallel: TensorParallel

    /// `halves` > 1 splits each of that many equal output halves separately over the ranks
    /// (SwiGLU's fc1: every rank holds its block of the gate half, then of the up half).
    public init(_ layout: inout ParameterLayout, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool, std: Float,
                _ parallelism: LinearParallelism = .column, _ tp: TensorParallel = .none, halves: Int = 1) {
        self.parallelism = parallelism
        tensorParallel = tp
        let split = tp.size > 1
        let weightShape: Shape = [outFeatures, inFeatures]
        switch parallelism {
        case .column:
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures / tp.size
            weight = layout.declare("\(prefix).weight", weightShape, init: .normal(std: std),
                                    shard: split ? .rowBlocks(weightShape, halves: halves, part: tp.rank, of: tp.size) : nil)
            self.bias = bias ? layout.declare("\(prefix).bias", [outFeatures], init: .zeros, weightDecay: false,
                                              shard: split ? .rowBlocks([outFeatures], halves: halves, part: tp.rank, of: tp.size) : nil) : nil
        case .row:
            self.inFeatures = inFeatures / tp.size
            self.outFeatures = outFeatures
            weight = layout.declare("\(prefix).weight", weightShape, init: .normal(std: std),
                                    shard: split ? .columnBlock(weightShape, part: tp.rank, of: tp.size) : nil)
            self.bias = bias ? layout.declare("\(prefix).bias", [outFeatures], init: .zeros, weightDecay: false) : nil
        }
    }

    /// Whether the bias is added after the partial outputs are summed over ranks.
    private var biasAfterReduce: Bool { parallelism == .row && tensorParallel.size > 1 }

    /// x `[T, in]` (`[T/tp, in]` for a column-parallel layer under sequence parallelism) →
    /// `[T, out]` (`[T/tp, out]` for a row-parallel layer under sequence parallelism).
    public func forward(_ x: Tensor, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let input = parallelism == .column ? try tensorParallel.gather(x, b) : x
        let y = try b.empty([input.shape.leading, outFeatures], dtype: x.dtype)
        try b.linear(input, weight: store.compute(weight), bias: biasAfterReduce ? nil : bias.map(store.compute), into: y)
        guard parallelism == .row else { return y }
        let reduced = try tensorParallel.reduce(y, b)
        if biasAfterReduce, let bias { try b.addBias(store.compute(bias), to: reduced) }
        return reduced
    }

    /// Column-parallel only: x `[T, in]` → `(pre, gelu(pre))`, both `[T, out]`, with `pre = x · Wᵀ + b`.
    public func forwardGeLU(_ x: Tensor, approximate: Bool, _ store: ParameterStore) throws -> (pre: Tensor, activated: Tensor) {
        precondition(parallelism == .column, "the GeLU epilogue follows a column-parallel layer")
        let b = store.backend
        let input = try tensorParallel.gather(x, b)
        let pre = try b.empty([input.shape.leading, outFeatures], dtype: x.dtype)
        let y = try b.empty(pre.shape, dtype: x.dtype)
        try b.linearGeLU(input, weight: store.compute(weight), bias: bias.map(store.compute), preActivation: pre, into: y, approximate: approximate)
        return (pre, y)
    }

    /// Accumulates dW and db; returns dx `[T, in]`. `x` is the input ``forward(_:_:)`` was given.
    public func backward(_ dy: Tensor, input x: Tensor, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let dy2 = try dy.reshaped([dy.shape.leading, outFeatures])
        switch parallelism {
        case .column:
            // Megatron's overlap: the input gradient's reduction over the group runs while the
            // weight gradient is computed. The input is gathered first, so no two collectives
            // of the group run at once.
            let input = try tensorParallel.gather(x, b)
            let partial = try b.empty([dy2.shape.leading, inFeatures], dtype: dy.dtype)
            try b.gemm(dy2, store.compute(weight), into: partial)
            let (dx, pending) = try tensorParallel.startReduce(partial, b)
            try accumulateParameterGradients(dy2, whole: dy2, input: input, store)
            try withExtendedLifetime(partial) { try pending.wait() }  // the reduction reads it until then
            return dx
        case .row:
            let dyFull = try tensorParallel.gather(dy2, b)
            try accumulateParameterGradients(dy2, whole: dyFull, input: x, store)
            let dx = try b.empty([dyFull.shape.leading, inFeatures], dtype: dy.dtype)
            try b.gemm(dyFull, store.compute(weight), into: dx)
            return dx
        }
    }

    /// Row-parallel only: accumulates dW and db of a layer whose input was `gelu(pre)`; returns
    /// `d pre` `[T, in]` (the GeLU's backward fused into the input gradient where the backend can).
    public func backwardThroughGeLU(_ dy: Tensor, input x: Tensor, preActivation pre: Tensor, approximate: Bool,
                                    _ store: ParameterStore) throws -> Tensor {
        precondition(parallelism == .row, "the GeLU backward precedes a row-parallel layer")
        let b = store.backend
        let dy2 = try dy.reshaped([dy.shape.leading, outFeatures])
        let dyFull = try tensorParallel.gather(dy2, b)
        try accumulateParameterGradients(dy2, whole: dyFull, input: x, store)
        let dpre = try b.empty(pre.shape, dtype: dy.dtype)
        try b.linearInputGradientThroughGeLU(dyFull, weight: store.compute(weight), preActivation: pre, into: dpre,
                                             approximate: approximate)
        return dpre
    }

    /// db += Σ_rows `dy` (this rank's rows: a row-parallel bias gradient is partial under sequence
    /// parallelism, and summed over the group with the other replicated parameters' gradients),
    /// dW += `whole`ᵀ · `input`, both `[T, ·]` over the whole sequence.
    private func accumulateParameterGradients(_ dy: Tensor, whole: Tensor, input: Tensor, _ store: ParameterStore) throws {
        let b = store.backend
        if let bias { try b.biasBackward(dy, into: store.grad(bias)) }
        try b.gemm(whole, input, into: store.grad(weight), transposeA: true, transposeB: false, alpha: 1, beta: 1)
    }
}
