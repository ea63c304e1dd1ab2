import MegatronTensor

/// Adam with decoupled weight decay over flat fp32 parameter and gradient buffers, with
/// Megatron's defaults (β = 0.9/0.999, ε = 1e-8) and its no-decay group for biases and norms.
///
///     let opt = try AdamW(params: store.values, grads: store.grads, decayRuns: layout.decayRuns, backend: b)
///     let stats = try opt.step(lr: 3e-4)
public final class AdamW: @unchecked Sendable {
    // Sendable: configuration is immutable; `step` is called by one training thread.
    public struct Hyperparameters: Sendable, Equatable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0.01
        /// Clip gradients to this global L2 norm; 0 disables clipping.
        public var clipGrad: Float = 1.0
        public init() {}
    }

    public let hyperparameters: Hyperparameters
    public let params: Tensor
    public let grads: Tensor
    /// First moments `[n]` fp32.
    public let m: Tensor
    /// Second moments `[n]` fp32.
    public let v: Tensor
    public let decayRuns: [(range: Range<Int>, weightDecay: Bool)]
    /// The ranges of `grads` this rank counts in the global gradient norm (nil: all).
    public let normRanges: [Range<Int>]?
    public let backend: any Backend
    /// Completed update steps.
    public private(set) var steps = 0

    /// Continues from a checkpoint taken after `steps` updates (Adam's bias correction).
    public func resume(afterSteps steps: Int) { self.steps = steps }

    public init(
        params: Tensor, grads: Tensor, decayRuns: [(range: Range<Int>, weightDecay: Bool)],
        normRanges: [Range<Int>]? = nil, hyperparameters: Hyperparameters = .init(), backend: any Backend
    ) throws {
        try grads.expect(params.shape, "AdamW grads")
        self.params = params
        self.grads = grads
        self.decayRuns = decayRuns
        self.normRanges = normRanges
        self.hyperparameters = hyperparameters
        self.backend = backend
        m = try backend.zeros(params.shape, dtype: .fp32)
        v = try backend.zeros(params.shape, dtype: .fp32)
    }

    /// The global gradient norm before clipping, and whether it was finite.
    public struct StepStatistics: Sendable {
        public let gradNorm: Double
        public init(gradNorm: Double) { self.gradNorm = gradNorm }
    }

    /// Clips the gradients to the global norm, then updates every parameter with learning rate `lr`.
    /// A non-finite gradient norm skips the update (and is reported).
    public func step(lr: Float) throws -> StepStatistics {
        try step(lr: lr, globalSumOfSquares: nil)
    }

    /// As ``step(lr:)`` on a shard of the gradients: `globalSumOfSquares` turns the local Σ g²
    /// into the sum over every shard (over the tensor-parallel group, and the data-parallel group
    /// for the distributed optimizer).
    public func step(lr: Float, globalSumOfSquares: ((Double) throws -> Double)?) throws -> StepStatistics {
        let norm = try GradientClipping.clip(grads, maxNorm: hyperparameters.clipGrad, backend: backend, counted: normRanges,
                                             globalSumOfSquares: globalSumOfSquares)
        guard norm.isFinite else { return StepStatistics(gradNorm: norm) }
        try update(lr: lr)
        return StepStatistics(gradNorm: norm)
    }

    /// The update alone, on gradients already clipped (the distributed optimizer clips its
    /// pieces of the buffers together, then updates each).
    public func update(lr: Float) throws {
        steps += 1
        let h = hyperparameters
        for run in decayRuns {
            let n = run.range.count
            try backend.adamW(
                params: params.view(offset: run.range.lowerBound, shape: [n]),
                grads: grads.view(offset: run.range.lowerBound, shape: [n]),
                m: m.view(offset: run.range.lowerBound, shape: [n]),
                v: v.view(offset: run.range.lowerBound, shape: [n]),
                lr: lr, beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon,
                weightDecay: run.weightDecay ? h.weightDecay : 0, step: steps)
        }
    }
}
