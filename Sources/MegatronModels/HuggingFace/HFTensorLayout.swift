import MegatronTransformer

/// The tensors a Hugging Face checkpoint of ``HFWeightMapping/architecture`` holds, in the order
/// of the model's `state_dict()` (which `save_pretrained` follows when it splits shards), and
/// the full shapes of the Megatron-named tensors they map to.
///
///     let mapping = try HFWeightMapping(config: config, architecture: .llama)
///     for (name, shape) in mapping.hfTensorShapes { … }   // "model.embed_tokens.weight", [V, h]
extension HFWeightMapping {
    /// Every HF tensor name with its shape, in `state_dict()` order. A tied output layer
    /// (`lm_head.weight` equal to the embeddings) is left out, as `save_pretrained` leaves it out.
    public var hfTensorShapes: [(name: String, shape: [Int])] {
        let c = config, h = c.hiddenSize, ffn = c.ffnSize, vocab = c.vocabSize
        var out: [(name: String, shape: [Int])] = []
        switch architecture {
        case .gpt2:
            out += [("transformer.wte.weight", [vocab, h]), ("transformer.wpe.weight", [c.positionTableSize, h])]
            for i in 0..<c.numLayers {
                let p = "transformer.h.\(i)"
                out += [
                    ("\(p).ln_1.weight", [h]), ("\(p).ln_1.bias", [h]),
                    // Conv1D weights are [in, out].
                    ("\(p).attn.c_attn.weight", [h, 3 * h]), ("\(p).attn.c_attn.bias", [3 * h]),
                    ("\(p).attn.c_proj.weight", [h, h]), ("\(p).attn.c_proj.bias", [h]),
                    ("\(p).ln_2.weight", [h]), ("\(p).ln_2.bias", [h]),
                    ("\(p).mlp.c_fc.weight", [h, ffn]), ("\(p).mlp.c_fc.bias", [ffn]),
                    ("\(p).mlp.c_proj.weight", [ffn, h]), ("\(p).mlp.c_proj.bias", [h]),
                ]
            }
            out += [("transformer.ln_f.weight", [h]), ("transformer.ln_f.bias", [h])]
        case .llama:
            let (q, kv) = (c.numAttentionHeads * c.headDim, c.queryGroups * c.headDim)
            out.append(("model.embed_tokens.weight", [vocab, h]))
            for i in 0..<c.numLayers {
                let p = "model.layers.\(i)"
                out += [
                    ("\(p).self_attn.q_proj.weight", [q, h]), ("\(p).self_attn.k_proj.weight", [kv, h]),
                    ("\(p).self_attn.v_proj.weight", [kv, h]), ("\(p).self_attn.o_proj.weight", [h, q]),
                    ("\(p).mlp.gate_proj.weight", [ffn, h]), ("\(p).mlp.up_proj.weight", [ffn, h]),
                    ("\(p).mlp.down_proj.weight", [h, ffn]),
                    ("\(p).input_layernorm.weight", [h]), ("\(p).post_attention_layernorm.weight", [h]),
                ]
            }
            out.append(("model.norm.weight", [h]))
            if !c.shareEmbeddingsAndOutputWeights { out.append(("lm_head.weight", [vocab, h])) }
        }
        return out
    }

    /// The name under which a tied output layer may also appear in a file (then equal to the embeddings).
    var tiedOutputName: (name: String, embeddings: String)? {
        switch architecture {
        case .gpt2: ("lm_head.weight", "transformer.wte.weight")
        case .llama: config.shareEmbeddingsAndOutputWeights ? ("lm_head.weight", "model.embed_tokens.weight") : nil
        }
    }

    /// Whether `name` is a non-parameter buffer some exporters save (GPT-2's causal-mask
    /// `attn.bias` / `attn.masked_bias`, Llama's `rotary_emb.inv_freq`), which loading skips.
    static func isBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") || name.hasSuffix("rotary_emb.inv_freq")
    }

    /// The full (unsharded) shape of every Megatron-named tensor ``importWeights(_:)`` returns,
    /// the vocabulary padded to ``TransformerConfig/paddedVocabSize``.
    public var megatronTensorShapes: [String: [Int]] {
        var layout = ParameterLayout()
        _ = LanguageModelEmbedding(&layout, config)
        for i in 0..<config.numLayers { _ = TransformerLayer(&layout, layerNumber: i, config) }
        _ = Norm(&layout, "decoder.final_layernorm", config)
        var shapes = Dictionary(uniqueKeysWithValues: layout.specs.map { ($0.name, $0.shape.dims) })
        if !config.shareEmbeddingsAndOutputWeights { shapes["output_layer.weight"] = [config.paddedVocabSize, config.hiddenSize] }
        return shapes
    }
}
