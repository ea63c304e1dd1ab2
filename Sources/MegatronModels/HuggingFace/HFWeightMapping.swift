import MegatronTransformer

/// The Hugging Face architectures whose weights map onto ``GPTModel``.
public enum HFArchitecture: String, Sendable, CaseIterable {
    case gpt2 = "GPT2LMHeadModel"
    case llama = "LlamaForCausalLM"
}

/// Errors converting between Hugging Face and Megatron tensor layouts.
public enum HFMappingError: Error, Equatable, CustomStringConvertible {
    case missingTensor(String)
    case wrongSize(name: String, expected: Int, got: Int)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .missingTensor(n): "Hugging Face tensor '\(n)' is missing"
        case let .wrongSize(n, e, g): "tensor '\(n)' has \(g) elements, expected \(e)"
        case let .unsupported(m): m
        }
    }
}

/// Renames and reshapes weights between Hugging Face's GPT-2 / Llama layouts and Megatron's:
/// GPT-2's Conv1D weights are transposed; query, key and value are regrouped per query group
/// (`[q heads of group, k, v]`); SwiGLU's gate and up projections become fc1's two halves; the
/// vocabulary is padded with zero rows (import) or cut back (export).
///
///     let mapping = try HFWeightMapping(config: config, architecture: .llama)
///     let ours = try mapping.importWeights(hfTensors)     // [megatron name: values]
public struct HFWeightMapping: Sendable {
    public let config: TransformerConfig
    public let architecture: HFArchitecture

    public init(config: TransformerConfig, architecture: HFArchitecture) throws {
        let config = try config.validated()
        switch architecture {
        case .gpt2:
            guard config.positionEmbeddingType == .learnedAbsolute, config.normalization == .layerNorm,
                  config.activation != .swiglu, config.addBiasLinear, config.shareEmbeddingsAndOutputWeights,
                  config.queryGroups == config.numAttentionHeads
            else { throw HFMappingError.unsupported("GPT2LMHeadModel needs learned positions, LayerNorm, GeLU, biases, tied embeddings and MHA") }
        case .llama:
            guard config.positionEmbeddingType == .rope, config.normalization == .rmsNorm, config.activation == .swiglu,
                  !config.addBiasLinear
            else { throw HFMappingError.unsupported("LlamaForCausalLM needs RoPE, RMSNorm, SwiGLU and no biases") }
        }
        self.config = config
        self.architecture = architecture
    }

    private var h: Int { config.hiddenSize }
    private var d: Int { config.headDim }
    private var nq: Int { config.numAttentionHeads }
    private var ng: Int { config.queryGroups }

    /// Megatron-named tensors from Hugging Face-named ones.
    public func importWeights(_ hf: [String: [Float]]) throws -> [String: [Float]] {
        func get(_ name: String, _ count: Int) throws -> [Float] {
            guard let v = hf[name] else { throw HFMappingError.missingTensor(name) }
            guard v.count == count else { throw HFMappingError.wrongSize(name: name, expected: count, got: v.count) }
            return v
        }
        var out: [String: [Float]] = [:]
        let (vocab, padded) = (config.vocabSize, config.paddedVocabSize)
        let pad = { (v: [Float]) in v + [Float](repeating: 0, count: (padded - vocab) * self.h) }
        switch architecture {
        case .gpt2:
            out["embedding.word_embeddings.weight"] = pad(try get("transformer.wte.weight", vocab * h))
            out["embedding.position_embeddings.weight"] = try get("transformer.wpe.weight", config.positionTableSize * h)
            for i in 0..<config.numLayers {
                let (hp, mp) = ("transformer.h.\(i)", "decoder.layers.\(i)")
                let ffn = config.ffnSize
                let qkv = transpose(try get("\(hp).attn.c_attn.weight", h * 3 * h), rows: h, cols: 3 * h)
                let qkvBias = try get("\(hp).attn.c_attn.bias", 3 * h)
                out["\(mp).self_attention.linear_qkv.weight"] = group(Array(qkv[0..<h * h]), Array(qkv[h * h..<2 * h * h]), Array(qkv[(2 * h * h)...]), cols: h)
                out["\(mp).self_attention.linear_qkv.bias"] = group(Array(qkvBias[0..<h]), Array(qkvBias[h..<2 * h]), Array(qkvBias[(2 * h)...]), cols: 1)
                out["\(mp).self_attention.linear_proj.weight"] = transpose(try get("\(hp).attn.c_proj.weight", h * h), rows: h, cols: h)
                out["\(mp).self_attention.linear_proj.bias"] = try get("\(hp).attn.c_proj.bias", h)
                out["\(mp).mlp.linear_fc1.weight"] = transpose(try get("\(hp).mlp.c_fc.weight", h * ffn), rows: h, cols: ffn)
                out["\(mp).mlp.linear_fc1.bias"] = try get("\(hp).mlp.c_fc.bias", ffn)
                out["\(mp).mlp.linear_fc2.weight"] = transpose(try get("\(hp).mlp.c_proj.weight", ffn * h), rows: ffn, cols: h)
                out["\(mp).mlp.linear_fc2.bias"] = try get("\(hp).mlp.c_proj.bias", h)
                for (hfNorm, ourNorm) in [("ln_1", "input_layernorm"), ("ln_2", "pre_mlp_layernorm")] {
                    out["\(mp).\(ourNorm).weight"] = try get("\(hp).\(hfNorm).weight", h)
                    out["\(mp).\(ourNorm).bias"] = try get("\(hp).\(hfNorm).bias", h)
                }
            }
            out["decoder.final_layernorm.weight"] = try get("transformer.ln_f.weight", h)
            out["decoder.final_layernorm.bias"] = try get("transformer.ln_f.bias", h)
        case .llama:
            out["embedding.word_embeddings.weight"] = pad(try get("model.embed_tokens.weight", vocab * h))
            for i in 0..<config.numLayers {
                let (hp, mp) = ("model.layers.\(i)", "decoder.layers.\(i)")
                let ffn = config.ffnSize
                out["\(mp).self_attention.linear_qkv.weight"] = group(
                    try get("\(hp).self_attn.q_proj.weight", nq * d * h), try get("\(hp).self_attn.k_proj.weight", ng * d * h),
                    try get("\(hp).self_attn.v_proj.weight", ng * d * h), cols: h)
                out["\(mp).self_attention.linear_proj.weight"] = try get("\(hp).self_attn.o_proj.weight", h * nq * d)
                out["\(mp).mlp.linear_fc1.weight"] = try get("\(hp).mlp.gate_proj.weight", ffn * h) + get("\(hp).mlp.up_proj.weight", ffn * h)
                out["\(mp).mlp.linear_fc2.weight"] = try get("\(hp).mlp.down_proj.weight", h * ffn)
                out["\(mp).input_layernorm.weight"] = try get("\(hp).input_layernorm.weight", h)
                out["\(mp).pre_mlp_layernorm.weight"] = try get("\(hp).post_attention_layernorm.weight", h)
            }
            out["decoder.final_layernorm.weight"] = try get("model.norm.weight", h)
            if config.shareEmbeddingsAndOutputWeights {
                guard hf["lm_head.weight"] == nil || hf["lm_head.weight"] == hf["model.embed_tokens.weight"] else {
                    throw HFMappingError.unsupported("lm_head.weight differs from the embeddings but the config ties them")
                }
            } else {
                out["output_layer.weight"] = pad(try get("lm_head.weight", vocab * h))
            }
        }
        return out
    }

    /// Hugging Face-named tensors from Megatron-named ones (the inverse of ``importWeights(_:)``).
    public func exportWeights(_ ours: [String: [Float]]) throws -> [String: [Float]] {
        func get(_ name: String, _ count: Int) throws -> [Float] {
            guard let v = ours[name] else { throw HFMappingError.missingTensor(name) }
            guard v.count == count else { throw HFMappingError.wrongSize(name: name, expected: count, got: v.count) }
            return v
        }
        var out: [String: [Float]] = [:]
        let (vocab, padded) = (config.vocabSize, config.paddedVocabSize)
        let unpad = { (name: String) throws -> [Float] in Array(try get(name, padded * self.h)[0..<vocab * self.h]) }
        switch architecture {
        case .gpt2:
            out["transformer.wte.weight"] = try unpad("embedding.word_embeddings.weight")
            out["transformer.wpe.weight"] = try get("embedding.position_embeddings.weight", config.positionTableSize * h)
            for i in 0..<config.numLayers {
                let (hp, mp) = ("transformer.h.\(i)", "decoder.layers.\(i)")
                let ffn = config.ffnSize
                let (q, k, v) = ungroup(try get("\(mp).self_attention.linear_qkv.weight", 3 * h * h), cols: h)
                out["\(hp).attn.c_attn.weight"] = transpose(q + k + v, rows: 3 * h, cols: h)
                let (qb, kb, vb) = ungroup(try get("\(mp).self_attention.linear_qkv.bias", 3 * h), cols: 1)
                out["\(hp).attn.c_attn.bias"] = qb + kb + vb
                out["\(hp).attn.c_proj.weight"] = transpose(try get("\(mp).self_attention.linear_proj.weight", h * h), rows: h, cols: h)
                out["\(hp).attn.c_proj.bias"] = try get("\(mp).self_attention.linear_proj.bias", h)
                out["\(hp).mlp.c_fc.weight"] = transpose(try get("\(mp).mlp.linear_fc1.weight", ffn * h), rows: ffn, cols: h)
                out["\(hp).mlp.c_fc.bias"] = try get("\(mp).mlp.linear_fc1.bias", ffn)
                out["\(hp).mlp.c_proj.weight"] = transpose(try get("\(mp).mlp.linear_fc2.weight", h * ffn), rows: h, cols: ffn)
                out["\(hp).mlp.c_proj.bias"] = try get("\(mp).mlp.linear_fc2.bias", h)
                for (hfNorm, ourNorm) in [("ln_1", "input_layernorm"), ("ln_2", "pre_mlp_layernorm")] {
                    out["\(hp).\(hfNorm).weight"] = try get("\(mp).\(ourNorm).weight", h)
                    out["\(hp).\(hfNorm).bias"] = try get("\(mp).\(ourNorm).bias", h)
                }
            }
            out["transformer.ln_f.weight"] = try get("decoder.final_layernorm.weight", h)
            out["transformer.ln_f.bias"] = try get("decoder.final_layernorm.bias", h)
        case .llama:
            out["model.embed_tokens.weight"] = try unpad("embedding.word_embeddings.weight")
            for i in 0..<config.numLayers {
                let (hp, mp) = ("model.layers.\(i)", "decoder.layers.\(i)")
                let ffn = config.ffnSize
                let (q, k, v) = ungroup(try get("\(mp).self_attention.linear_qkv.weight", config.qkvSize * h), cols: h)
                out["\(hp).self_attn.q_proj.weight"] = q
                out["\(hp).self_attn.k_proj.weight"] = k
                out["\(hp).self_attn.v_proj.weight"] = v
                out["\(hp).self_attn.o_proj.weight"] = try get("\(mp).self_attention.linear_proj.weight", h * nq * d)
                let fc1 = try get("\(mp).mlp.linear_fc1.weight", 2 * ffn * h)
                out["\(hp).mlp.gate_proj.weight"] = Array(fc1[0..<ffn * h])
                out["\(hp).mlp.up_proj.weight"] = Array(fc1[(ffn * h)...])
                out["\(hp).mlp.down_proj.weight"] = try get("\(mp).mlp.linear_fc2.weight", h * ffn)
                out["\(hp).input_layernorm.weight"] = try get("\(mp).input_layernorm.weight", h)
                out["\(hp).post_attention_layernorm.weight"] = try get("\(mp).pre_mlp_layernorm.weight", h)
            }
            out["model.norm.weight"] = try get("decoder.final_layernorm.weight", h)
            out["lm_head.weight"] = try unpad(config.shareEmbeddingsAndOutputWeights ? "embedding.word_embeddings.weight" : "output_layer.weight")
        }
        return out
    }

    /// Row-major `[rows, cols]` → `[cols, rows]`.
    private func transpose(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
        return y
    }

    /// Separate q `[nq·d, cols]`, k and v `[ng·d, cols]` → Megatron's per-group fused rows.
    private func group(_ q: [Float], _ k: [Float], _ v: [Float], cols: Int) -> [Float] {
        let perGroup = nq / ng, block = d * cols
        var out: [Float] = []
        out.reserveCapacity(q.count + k.count + v.count)
        for g in 0..<ng {
            out += q[g * perGroup * block..<(g + 1) * perGroup * block]
            out += k[g * block..<(g + 1) * block]
            out += v[g * block..<(g + 1) * block]
        }
        return out
    }

    /// The inverse of ``group(_:_:_:cols:)``.
    private func ungroup(_ fused: [Float], cols: Int) -> (q: [Float], k: [Float], v: [Float]) {
        let perGroup = nq / ng, block = d * cols, stride = (perGroup + 2) * block
        var q: [Float] = [], k: [Float] = [], v: [Float] = []
        for g in 0..<ng {
            let base = g * stride
            q += fused[base..<base + perGroup * block]
            k += fused[base + perGroup * block..<base + (perGroup + 1) * block]
            v += fused[base + (perGroup + 1) * block..<base + stride]
        }
        return (q, k, v)
    }
}
