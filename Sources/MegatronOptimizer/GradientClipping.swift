import MegatronTensor

/// Global-norm gradient clipping as Megatron's `clip_grad_norm_fp32`.
public enum GradientClipping {
    /// Returns the L2 norm of `grads`; when `maxNorm > 0` and the norm exceeds it, scales the
    /// gradients by `maxNorm / (norm + 1e-6)`. When `grads` is one rank's shard,
    /// `globalSumOfSquares` maps the local Σ g² to the sum over every shard, and `counted`
    /// (nil: all of `grads`) names the ranges whose squares this rank contributes.
    ///
    ///     let norm = try GradientClipping.clip(store.grads, maxNorm: 1.0, backend: b)
    public static func clip(
        _ grads: Tensor, maxNorm: Float, backend: any Backend, counted: [Range<Int>]? = nil,
        globalSumOfSquares: ((Double) throws -> Double)? = nil
    ) throws -> Double {
        let local = try counted.map { ranges in
            try ranges.reduce(0.0) { $0 + (try backend.sumOfSquares(grads.view(offset: $1.lowerBound, shape: [$1.count]))) }
        } ?? backend.sumOfSquares(grads)
        let norm = try (globalSumOfSquares?(local) ?? local).squareRoot()
        guard maxNorm > 0, norm.isFinite else { return norm }
        let coefficient = Double(maxNorm) / (norm + 1e-6)
        if coefficient < 1 { try backend.scale(grads, by: Float(coefficient)) }
        return norm
    }
}
