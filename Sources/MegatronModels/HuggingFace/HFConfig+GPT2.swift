import MegatronCheckpoint
import MegatronTransformer

/// `GPT2Config` ↔ ``TransformerConfig``: `n_layer`, `n_embd`, `n_head`, `n_inner` (null: 4·h),
/// `n_positions` (also the default sequence length), `vocab_size`, `layer_norm_epsilon`,
/// `activation_function` (the tanh GeLU only), tied embeddings only, and the dropouts
/// (`resid_pdrop` = `embd_pdrop` → hidden dropout, `attn_pdrop` → attention dropout).
///
///     let hf = try HFConfig(jsonData: gpt2ConfigJSON)    // hf.architecture == .gpt2
extension HFConfig {
    /// `activation_function` values that are GPT-2's tanh-approximated GeLU (``Activation/geluTanh``).
    static let gpt2TanhGeLU = ["gelu_new", "gelu_pytorch_tanh"]

    static func readGPT2(_ r: HFConfigReader) throws(HFDirectoryError) -> TransformerConfig {
        let positions = try r.positiveInt("n_positions")
        var c = TransformerConfig.gpt2(
            numLayers: try r.positiveInt("n_layer"), hiddenSize: try r.positiveInt("n_embd"),
            numAttentionHeads: try r.positiveInt("n_head"), vocabSize: try r.positiveInt("vocab_size"), seqLength: positions)
        c.maxPositionEmbeddings = positions
        c.ffnHiddenSize = try r.int("n_inner", default: nil)
        c.layernormEpsilon = try r.float("layer_norm_epsilon", default: 1e-5)
        c.initMethodStd = try r.float("initializer_range", default: 0.02)

        let activation = r.isNull("activation_function") ? "gelu_new" : try r.string("activation_function")
        guard gpt2TanhGeLU.contains(activation) else {
            throw .unsupportedValue(file: r.file, key: "activation_function", value: "\"\(activation)\"",
                                    expected: "\"gelu_new\" (GPT-2's tanh GeLU, the only one GPT-2 conversion supports)")
        }
        guard try r.bool("tie_word_embeddings", default: true) else {
            throw .unsupportedValue(file: r.file, key: "tie_word_embeddings", value: "false",
                                    expected: "true (GPT2LMHeadModel's output layer is the word embeddings)")
        }
        try r.require("scale_attn_weights", equals: .bool(true), because: "attention scores are scaled by 1/sqrt(head dim)")
        try r.require("scale_attn_by_inverse_layer_idx", equals: .bool(false), because: "no per-layer score scaling")
        try r.require("add_cross_attention", equals: .bool(false), because: "a decoder-only model")

        let resid = try r.float("resid_pdrop", default: 0.1), embd = try r.float("embd_pdrop", default: 0.1)
        guard resid == embd else {
            throw .unsupportedValue(file: r.file, key: "embd_pdrop", value: "\(embd)",
                                    expected: "resid_pdrop's \(resid) (Megatron's one hidden dropout covers both)")
        }
        c.hiddenDropout = resid
        c.attentionDropout = try r.float("attn_pdrop", default: 0.1)
        return c
    }

    /// GPT-2's own keys for a validated `c` (the shared ones are added by ``jsonData()``).
    static func gpt2JSON(_ c: TransformerConfig) throws(HFDirectoryError) -> [String: JSONValue] {
        guard c.activation == .geluTanh else {
            throw .invalidConfig(file: "config.json", reason: "GPT2LMHeadModel needs the tanh GeLU (gelu_new); the config has \(c.activation.rawValue)")
        }
        guard c.headDim * c.numAttentionHeads == c.hiddenSize else {
            throw .invalidConfig(file: "config.json", reason: "GPT2LMHeadModel needs kv-channels = hidden / heads = "
                                 + "\(c.hiddenSize / c.numAttentionHeads); the config has \(c.headDim)")
        }
        return [
            "activation_function": .string("gelu_new"),
            "n_layer": .int(c.numLayers),
            "n_embd": .int(c.hiddenSize),
            "n_head": .int(c.numAttentionHeads),
            "n_inner": c.ffnSize == 4 * c.hiddenSize ? .null : .int(c.ffnSize),
            "n_positions": .int(c.positionTableSize),
            "layer_norm_epsilon": .float(c.layernormEpsilon),
            "resid_pdrop": .float(c.hiddenDropout),
            "embd_pdrop": .float(c.hiddenDropout),
            "attn_pdrop": .float(c.attentionDropout),
            "scale_attn_weights": .bool(true),
            "scale_attn_by_inverse_layer_idx": .bool(false),
            "reorder_and_upcast_attn": .bool(false),
            "add_cross_attention": .bool(false),
        ]
    }
}
