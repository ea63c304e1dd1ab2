import MegatronTensor

/// `y = x · Wᵀ + b` with Megatron's weight layout `[out, in]`.
///
///     let fc = Linear(&layout, "mlp.linear_fc1", in: h, out: 4 * h, bias: true, std: 0.02)
///     let y = try fc.forward(x, store)          // x [T, in] → y [T, out]
public struct Linear: Sendable {
    public let weight: ParameterRef
    public let bias: ParameterRef?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(_ layout: inout ParameterLayout, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool, std: Float) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = layout.declare("\(prefix).weight", [outFeatures, inFeatures], init: .normal(std: std))
        self.bias = bias ? layout.declare("\(prefix).bias", [outFeatures], init: .zeros, weightDecay: false) : nil
    }

    /// x `[T, in]` → `[T, out]`.
    public func forward(_ x: Tensor, _ store: ParameterStore) throws -> Tensor {
        let y = try store.backend.empty([x.shape.leading, outFeatures], dtype: x.dtype)
        try store.backend.linear(x, weight: store.compute(weight), bias: bias.map(store.compute), into: y)
        return y
    }

    /// x `[T, in]` → `(pre, gelu(pre))`, both `[T, out]`, with `pre = x · Wᵀ + b`.
    public func forwardGeLU(_ x: Tensor, approximate: Bool, _ store: ParameterStore) throws -> (pre: Tensor, activated: Tensor) {
        let b = store.backend
        let pre = try b.empty([x.shape.leading, outFeatures], dtype: x.dtype)
        let y = try b.empty(pre.shape, dtype: x.dtype)
        try b.linearGeLU(x, weight: store.compute(weight), bias: bias.map(store.compute), preActivation: pre, into: y, approximate: approximate)
        return (pre, y)
    }

    /// Accumulates dW and db; returns dx `[T, in]`.
    public func backward(_ dy: Tensor, input x: Tensor, _ store: ParameterStore) throws -> Tensor {
        let dy2 = try accumulateParameterGradients(dy, input: x, store)
        let dx = try store.backend.empty([dy2.shape.leading, inFeatures], dtype: dy.dtype)
        try store.backend.gemm(dy2, store.compute(weight), into: dx)
        return dx
    }

    /// Accumulates dW and db of a layer whose input was `gelu(pre)`; returns `d pre` `[T, in]`
    /// (the GeLU's backward fused into the input gradient where the backend can).
    public func backwardThroughGeLU(_ dy: Tensor, input x: Tensor, preActivation pre: Tensor, approximate: Bool,
                                    _ store: ParameterStore) throws -> Tensor {
        let dy2 = try accumulateParameterGradients(dy, input: x, store)
        let dpre = try store.backend.empty(pre.shape, dtype: dy.dtype)
        try store.backend.linearInputGradientThroughGeLU(dy2, weight: store.compute(weight), preActivation: pre, into: dpre,
                                                         approximate: approximate)
        return dpre
    }

    /// dW += dyᵀ · x, db += Σ_rows dy; returns dy as `[T, out]`.
    private func accumulateParameterGradients(_ dy: Tensor, input x: Tensor, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let dy2 = try dy.reshaped([dy.shape.leading, outFeatures])
        try b.gemm(dy2, x, into: store.grad(weight), transposeA: true, transposeB: false, alpha: 1, beta: 1)
        if let bias { try b.biasBackward(dy2, into: store.grad(bias)) }
        return dy2
    }
}
