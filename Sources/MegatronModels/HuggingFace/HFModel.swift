import MegatronTransformer

/// A Hugging Face GPT-2 or Llama model in Megatron terms: its config and every weight as a
/// full (unsharded) fp32 tensor under Megatron Core's name, with its shape.
///
///     let model = try HFModelDirectory.load(from: URL(filePath: "/models/llama"))
///     let qkv = model.weights["decoder.layers.0.self_attention.linear_qkv.weight"]   // [qkvSize·h]
///     let shape = model.shapes["decoder.layers.0.self_attention.linear_qkv.weight"]  // [qkvSize, h]
public struct HFModel: Sendable {
    /// The architecture, ``TransformerConfig`` and the config.json details kept for writing back.
    public var config: HFConfig
    /// Megatron-named tensors, row-major, vocabulary rows padded to ``TransformerConfig/paddedVocabSize``.
    public var weights: [String: [Float]]
    /// The shape of each tensor in ``weights``.
    public var shapes: [String: [Int]]

    public var architecture: HFArchitecture { config.architecture }
    public var transformerConfig: TransformerConfig { config.transformer }

    /// Pairs a config with Megatron-named weights; `shapes` defaults to the shapes the config
    /// implies (``HFWeightMapping/megatronTensorShapes``), for the names in `weights`.
    public init(config: HFConfig, weights: [String: [Float]], shapes: [String: [Int]]? = nil) {
        self.config = config
        self.weights = weights
        if let shapes {
            self.shapes = shapes
        } else {
            let all = (try? HFWeightMapping(config: config.transformer, architecture: config.architecture))?.megatronTensorShapes ?? [:]
            self.shapes = all.filter { weights[$0.key] != nil }
        }
    }
}

/// The element type ``HFModelDirectory/save(_:to:dtype:maxShardBytes:)`` writes.
public enum HFWeightDType: String, Sendable, CaseIterable {
    case float32 = "F32"
    /// Rounded to nearest, ties to even.
    case bfloat16 = "BF16"

    /// The name config.json's `dtype` uses.
    public var torchName: String {
        switch self {
        case .float32: "float32"
        case .bfloat16: "bfloat16"
        }
    }

    var byteSize: Int { self == .float32 ? 4 : 2 }
}
