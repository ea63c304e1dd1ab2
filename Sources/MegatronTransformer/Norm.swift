import MegatronTensor

/// LayerNorm or RMSNorm over the last dimension, as the config chooses.
///
///     let norm = Norm(&layout, "decoder.final_layernorm", config)
///     let (y, saved) = try norm.forward(x, store)
public struct Norm: Sendable {
    public let kind: Normalization
    public let epsilon: Float
    public let weight: ParameterRef
    public let bias: ParameterRef?
    public let size: Int

    /// What the backward needs besides the input.
    public struct Saved: Sendable {
        let mean: Tensor?
        let rstd: Tensor
    }

    public init(_ layout: inout ParameterLayout, _ prefix: String, _ config: TransformerConfig) {
        kind = config.normalization
        epsilon = config.layernormEpsilon
        size = config.hiddenSize
        weight = layout.declare("\(prefix).weight", [size], init: .ones, weightDecay: false)
        bias = kind == .layerNorm ? layout.declare("\(prefix).bias", [size], init: .zeros, weightDecay: false) : nil
    }

    public func forward(_ x: Tensor, _ store: ParameterStore) throws -> (Tensor, Saved) {
        try forward(x, adding: nil, store)
    }

    /// `x += residual` (in place, fused with the norm where the backend can), then the norm of
    /// the sum: x `[.., h]` becomes the residual stream's next value.
    public func forward(_ x: Tensor, adding residual: Tensor?, _ store: ParameterStore) throws -> (Tensor, Saved) {
        let b = store.backend
        let rows = x.shape.leading
        let y = try b.empty(x.shape, dtype: x.dtype)
        let rstd = try b.empty([rows], dtype: .fp32)
        switch kind {
        case .layerNorm:
            let mean = try b.empty([rows], dtype: .fp32)
            let (w, bb) = (store.compute(weight), bias.map(store.compute))
            if let residual {
                try b.residualLayerNorm(x, residual: residual, weight: w, bias: bb, epsilon: epsilon, into: y, mean: mean, rstd: rstd)
            } else {
                try b.layerNorm(x, weight: w, bias: bb, epsilon: epsilon, into: y, mean: mean, rstd: rstd)
            }
            return (y, Saved(mean: mean, rstd: rstd))
        case .rmsNorm:
            let w = store.compute(weight)
            if let residual {
                try b.residualRMSNorm(x, residual: residual, weight: w, epsilon: epsilon, into: y, rstd: rstd)
            } else {
                try b.rmsNorm(x, weight: w, epsilon: epsilon, into: y, rstd: rstd)
            }
            return (y, Saved(mean: nil, rstd: rstd))
        }
    }

    public func backward(_ dy: Tensor, input x: Tensor, _ saved: Saved, accumulateInto dx: Tensor, _ store: ParameterStore) throws {
        let b = store.backend
        if let mean = saved.mean {
            try b.layerNormBackward(dy, x: x, weight: store.compute(weight), mean: mean, rstd: saved.rstd,
                                    dx: dx, dweight: store.grad(weight), dbias: bias.map(store.grad))
        } else {
            try b.rmsNormBackward(dy, x: x, weight: store.compute(weight), rstd: saved.rstd, dx: dx, dweight: store.grad(weight))
        }
    }
}
