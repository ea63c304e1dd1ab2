import MegatronTensor

/// The feed-forward block: `fc2(act(fc1(x)))`, with SwiGLU's fc1 producing gate and up halves.
///
///     let mlp = MLP(&layout, "decoder.layers.0.mlp", config)
///     let (y, saved) = try mlp.forward(x, store)      // x [s, b, h] → y [s, b, h]
public struct MLP: Sendable {
    public let config: TransformerConfig
    public let linearFC1: Linear
    public let linearFC2: Linear

    public struct Saved: Sendable {
        let input: Tensor        // [T, h]
        let preActivation: Tensor  // [T, ffn/tp] or [T, 2·ffn/tp]
        let activated: Tensor?   // [T, ffn/tp]; nil with selective recompute (rebuilt in the backward)
    }

    /// Under tensor parallelism fc1 is column-parallel (SwiGLU's gate and up halves split
    /// separately, so each rank activates its own block) and fc2 row-parallel.
    public init(_ layout: inout ParameterLayout, _ prefix: String, _ config: TransformerConfig, _ tp: TensorParallel = .none) {
        self.config = config
        let ffn = config.ffnSize
        let halves = config.activation == .swiglu ? 2 : 1
        linearFC1 = Linear(&layout, "\(prefix).linear_fc1", in: config.hiddenSize, out: halves * ffn, bias: config.addBiasLinear,
                           std: config.initMethodStd, .column, tp, halves: halves)
        linearFC2 = Linear(&layout, "\(prefix).linear_fc2", in: ffn, out: config.hiddenSize, bias: config.addBiasLinear,
                           std: config.initMethodStd / (2 * Float(config.numLayers)).squareRoot(), .row, tp)
    }

    public func forward(_ x: Tensor, _ store: ParameterStore) throws -> (Tensor, Saved) {
        let b = store.backend
        let input = try x.reshaped([x.shape.leading, config.hiddenSize])
        let pre: Tensor, act: Tensor
        if let approximate = geluApproximation {
            (pre, act) = try linearFC1.forwardGeLU(input, approximate: approximate, store)
        } else {
            pre = try linearFC1.forward(input, store)
            act = try activate(pre, b)
        }
        let y = try linearFC2.forward(act, store)
        let keep = config.recomputeGranularity == nil
        return (try y.reshaped(x.shape), Saved(input: input, preActivation: pre, activated: keep ? act : nil))
    }

    private func activate(_ pre: Tensor, _ b: any Backend) throws -> Tensor {
        let act = try b.empty([pre.shape.leading, linearFC2.inFeatures], dtype: pre.dtype)
        switch config.activation {
        case .gelu: try b.gelu(pre, into: act, approximate: false)
        case .geluTanh: try b.gelu(pre, into: act, approximate: true)
        case .swiglu: try b.swiglu(pre, into: act)
        }
        return act
    }

    public func backward(_ dy: Tensor, _ saved: Saved, _ store: ParameterStore) throws -> Tensor {
        let b = store.backend
        let activated = try saved.activated ?? activate(saved.preActivation, b)
        let dpre: Tensor
        if let approximate = geluApproximation {
            dpre = try linearFC2.backwardThroughGeLU(dy, input: activated, preActivation: saved.preActivation,
                                                     approximate: approximate, store)
        } else {
            let dact = try linearFC2.backward(dy, input: activated, store)
            dpre = try b.empty(saved.preActivation.shape, dtype: dy.dtype)
            try b.swigluBackward(dact, x: saved.preActivation, into: dpre)
        }
        return try linearFC1.backward(dpre, input: saved.input, store).reshaped(dy.shape)
    }

    /// Whether the activation is a GeLU, and which (nil for SwiGLU).
    private var geluApproximation: Bool? {
        switch config.activation {
        case .gelu: false
        case .geluTanh: true
        case .swiglu: nil
        }
    }
}
