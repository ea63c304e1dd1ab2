import MegatronCheckpoint
import MegatronTransformer

/// `LlamaConfig` ↔ ``TransformerConfig``: `hidden_size`, `intermediate_size`,
/// `num_hidden_layers`, `num_attention_heads`, `num_key_value_heads` (absent: MHA), `head_dim`
/// (absent: hidden / heads), `max_position_embeddings` (also the default sequence length),
/// `rms_norm_eps`, the RoPE base (`rope_parameters.rope_theta` in transformers 5, `rope_theta`
/// before), `vocab_size`, `tie_word_embeddings`, `attention_dropout`. Refused: RoPE scaling of
/// any kind, `attention_bias`/`mlp_bias` true, a `hidden_act` other than SiLU.
///
///     let hf = try HFConfig(jsonData: llamaConfigJSON, seqLength: 4096)   // hf.architecture == .llama
extension HFConfig {
    static func readLlama(_ r: HFConfigReader) throws(HFDirectoryError) -> TransformerConfig {
        let heads = try r.positiveInt("num_attention_heads")
        let positions = try r.positiveInt("max_position_embeddings")
        var c = TransformerConfig.llama(
            numLayers: try r.positiveInt("num_hidden_layers"), hiddenSize: try r.positiveInt("hidden_size"),
            numAttentionHeads: heads, numQueryGroups: try r.int("num_key_value_heads", default: heads) ?? heads,
            ffnHiddenSize: try r.positiveInt("intermediate_size"), vocabSize: try r.positiveInt("vocab_size"), seqLength: positions)
        c.maxPositionEmbeddings = positions
        c.kvChannels = try r.int("head_dim", default: nil)
        c.layernormEpsilon = try r.float("rms_norm_eps", default: 1e-6)
        c.initMethodStd = try r.float("initializer_range", default: 0.02)
        c.shareEmbeddingsAndOutputWeights = try r.bool("tie_word_embeddings", default: false)
        c.attentionDropout = try r.float("attention_dropout", default: 0)
        c.rotaryBase = try ropeBase(r)

        let act = r.isNull("hidden_act") ? "silu" : try r.string("hidden_act")
        guard act == "silu" else {
            throw .unsupportedValue(file: r.file, key: "hidden_act", value: "\"\(act)\"", expected: "\"silu\" (SwiGLU)")
        }
        for key in ["attention_bias", "mlp_bias"] {
            guard try !r.bool(key, default: false) else {
                throw .unsupportedValue(file: r.file, key: key, value: "true", expected: "false (Llama conversion has no biases)")
            }
        }
        return c
    }

    /// The RoPE base; any scaling (`rope_scaling` set, or a `rope_type` other than default) is refused.
    private static func ropeBase(_ r: HFConfigReader) throws(HFDirectoryError) -> Float {
        guard r.isNull("rope_scaling") else {
            throw .unsupportedValue(file: r.file, key: "rope_scaling", value: try r.value("rope_scaling").brief,
                                    expected: "null (scaled RoPE is not supported)")
        }
        if let p = try r.nested("rope_parameters") {
            let type = p.isNull("rope_parameters.rope_type") ? "default" : try p.string("rope_parameters.rope_type")
            guard type == "default" else {
                throw .unsupportedValue(file: r.file, key: "rope_parameters.rope_type", value: "\"\(type)\"",
                                        expected: "\"default\" (scaled RoPE is not supported)")
            }
            if !p.isNull("rope_parameters.rope_theta") { return Float(try p.double("rope_parameters.rope_theta")) }
        }
        return try r.float("rope_theta", default: 10000)
    }

    /// Llama's own keys for a validated `c` (the shared ones are added by ``jsonData()``). The RoPE
    /// base goes in both transformers 5's `rope_parameters` and the older top-level `rope_theta`.
    static func llamaJSON(_ c: TransformerConfig) throws(HFDirectoryError) -> [String: JSONValue] {
        [
            "hidden_act": .string("silu"),
            "hidden_size": .int(c.hiddenSize),
            "intermediate_size": .int(c.ffnSize),
            "num_hidden_layers": .int(c.numLayers),
            "num_attention_heads": .int(c.numAttentionHeads),
            "num_key_value_heads": .int(c.queryGroups),
            "head_dim": .int(c.headDim),
            "max_position_embeddings": .int(c.positionTableSize),
            "rms_norm_eps": .float(c.layernormEpsilon),
            "rope_parameters": .object(["rope_type": .string("default"), "rope_theta": .float(c.rotaryBase)]),
            "rope_theta": .float(c.rotaryBase),
            "attention_bias": .bool(false),
            "mlp_bias": .bool(false),
            "attention_dropout": .float(c.attentionDropout),
            "pretraining_tp": .int(1),
        ]
    }
}
