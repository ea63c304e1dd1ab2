import MegatronTransformer

/// Megatron's FLOP count for a dense GPT iteration (forward and backward, no recompute):
///
///     tokens · (L · (6·h·ffn·f + 6·h·(qkv + q)) + 6·h·V) + gbs · s² · 6 · q · L
///
/// with f = 3 for SwiGLU else 2, qkv the fused QKV width, q = heads · head dim, V the padded
/// vocabulary, and the attention core counted causal (half of s²).
///
///     let flops = ThroughputModel(config: setup.model).flopsPerIteration(globalBatch: 64)
public struct ThroughputModel: Sendable {
    public let config: TransformerConfig

    public init(config: TransformerConfig) { self.config = config }

    public static let formula =
        "FLOPs/iter = tokens·(L·(6·h·ffn·f + 6·h·(qkv + q)) + 6·h·V) + gbs·s²·6·q·L  (f = 3 with SwiGLU else 2; q = heads·head_dim; causal attention)"

    public func flopsPerIteration(globalBatch: Int) -> Double {
        let c = config
        let (h, layers, s) = (Double(c.hiddenSize), Double(c.numLayers), Double(c.seqLength))
        let q = Double(c.numAttentionHeads * c.headDim)
        let f: Double = c.activation == .swiglu ? 3 : 2
        let tokens = Double(globalBatch) * s
        let perToken = layers * (6 * h * Double(c.ffnSize) * f + 6 * h * (Double(c.qkvSize) + q)) + 6 * h * Double(c.paddedVocabSize)
        return tokens * perToken + Double(globalBatch) * s * s * 6 * q * layers
    }
}
