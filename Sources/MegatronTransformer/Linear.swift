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
        let b = store.backend
        let y = try b.empty([x.shape.leading, outFeatures], dtype: x.dtype)
        try b.gemm(x, store.compute(weight), into: y, transposeB: true)
        if let bias { try b.addBias(store.compute(bias), to: y) }
        return y
    }

    /// Accumulates dW and db; returns dx `[T, in]`.
    public func backward(_ dy: Tensor, input x: Tensor, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let dy2 = try dy.reshaped([dy.shape.leading, outFeatures])
        try b.gemm(dy2, x, into: store.grad(weight), transposeA: true, transposeB: false, alpha: 1, beta: 1)
        if let bias { try b.biasBackward(dy2, into: store.grad(bias)) }
        let dx = try b.empty([dy2.shape.leading, inFeatures], dtype: dy.dtype)
        try b.gemm(dy2, store.compute(weight), into: dx)
        return dx
    }
}
