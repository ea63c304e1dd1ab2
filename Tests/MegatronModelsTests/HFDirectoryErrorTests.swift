import Foundation
import MegatronCheckpoint
import MegatronModels
import MegatronTransformer
import Testing

/// Broken or unsupported Hugging Face directories fail with an ``HFDirectoryError`` whose
/// message names the file and the key or tensor at fault.
@Suite("Hugging Face model directory errors")
struct HFDirectoryErrorTests {
    typealias F = HFDirectoryFixtures

    /// The error loading `dir` throws, or nil when it loads.
    func loadError(_ dir: URL, seqLength: Int? = nil) -> HFDirectoryError? {
        do throws(HFDirectoryError) {
            _ = try HFModelDirectory.load(from: dir, seqLength: seqLength)
            return nil
        } catch {
            return error
        }
    }

    /// Loads `dir` expecting `expected`, whose description must mention every string of `mentions`.
    func expectLoad(_ dir: URL, throws expected: HFDirectoryError, mentioning mentions: [String],
                    sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = loadError(dir) else {
            Issue.record("loading \(dir.lastPathComponent) succeeded; expected \(expected)", sourceLocation: sourceLocation)
            return
        }
        #expect(error == expected, sourceLocation: sourceLocation)
        for m in mentions { #expect(error.description.contains(m), "'\(error)' does not mention \(m)", sourceLocation: sourceLocation) }
    }

    @Test func missingShardFile() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("llama_tiny_sharded", into: tmp)
            try FileManager.default.removeItem(at: dir.appending(path: "model-00002-of-00003.safetensors"))
            let index = dir.appending(path: "model.safetensors.index.json").path
            expectLoad(dir, throws: .missingShard(index: index, shard: "model-00002-of-00003.safetensors"),
                       mentioning: ["model.safetensors.index.json", "model-00002-of-00003.safetensors"])
        }
    }

    @Test func corruptIndex() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("llama_tiny_sharded", into: tmp)
            let index = dir.appending(path: "model.safetensors.index.json")
            try Data("{\"weight_map\": {\"model.norm.weight\": ".utf8).write(to: index)
            let error = loadError(dir)
            guard case let .badJSON(file, _) = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(file == index.path)
            #expect(error?.description.contains("model.safetensors.index.json") == true)
            try Data("{\"weight_map\": [1, 2]}".utf8).write(to: index)
            expectLoad(dir, throws: .unsupportedValue(file: index.path, key: "weight_map", value: "[1, 2]",
                                                      expected: "an object of tensor name → shard file"),
                       mentioning: ["model.safetensors.index.json", "weight_map"])
            try Data("{\"weight_map\": {\"model.norm.weight\": \"../model.safetensors\"}}".utf8).write(to: index)
            #expect(throws: HFDirectoryError.self) { try HFModelDirectory.load(from: dir) }
        }
    }

    @Test func indexPointsAtTheWrongShard() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("llama_tiny_sharded", into: tmp)
            let index = dir.appending(path: "model.safetensors.index.json")
            try F.editJSON(index) { json in
                var map = json["weight_map"] as? [String: String] ?? [:]
                map["model.norm.weight"] = "model-00001-of-00003.safetensors"
                json["weight_map"] = map
            }
            expectLoad(dir, throws: .tensorMissingFromShard(index: index.path, tensor: "model.norm.weight",
                                                            shard: "model-00001-of-00003.safetensors"),
                       mentioning: ["model.norm.weight", "model-00001-of-00003.safetensors"])
        }
    }

    @Test func tensorInNoShard() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("llama_tiny_sharded", into: tmp)
            let index = dir.appending(path: "model.safetensors.index.json")
            try F.editJSON(index) { json in
                var map = json["weight_map"] as? [String: String] ?? [:]
                map["lm_head.weight"] = nil
                json["weight_map"] = map
            }
            expectLoad(dir, throws: .tensorInNoShard(file: index.path, tensor: "lm_head.weight"),
                       mentioning: ["lm_head.weight", "model.safetensors.index.json"])
        }
    }

    @Test func unsupportedRopeScaling() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("llama_tiny_sharded", into: tmp)
            let config = dir.appending(path: "config.json")
            try F.editJSON(config) { $0["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0] }
            expectLoad(dir, throws: .unsupportedValue(file: config.path, key: "rope_scaling",
                                                      value: "{\"factor\": 8, \"rope_type\": \"llama3\"}",  // JSONSerialization wrote 8.0 as 8
                                                      expected: "null (scaled RoPE is not supported)"),
                       mentioning: ["config.json", "rope_scaling", "llama3"])
            try F.editJSON(config) {
                $0["rope_scaling"] = nil
                $0["rope_parameters"] = ["rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0]
            }
            expectLoad(dir, throws: .unsupportedValue(file: config.path, key: "rope_parameters.rope_type", value: "\"linear\"",
                                                      expected: "\"default\" (scaled RoPE is not supported)"),
                       mentioning: ["config.json", "rope_parameters.rope_type", "linear"])
        }
    }

    @Test func unknownArchitecture() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("gpt2_tiny", into: tmp)
            let config = dir.appending(path: "config.json")
            try F.editJSON(config) { $0["architectures"] = ["MistralForCausalLM"] }
            expectLoad(dir, throws: .unknownArchitecture(file: config.path, value: "\"MistralForCausalLM\""),
                       mentioning: ["config.json", "MistralForCausalLM", "GPT2LMHeadModel"])
            try F.editJSON(config) { $0["architectures"] = nil; $0["model_type"] = "mistral" }
            expectLoad(dir, throws: .unknownArchitecture(file: config.path, value: "absent and model_type is \"mistral\""),
                       mentioning: ["config.json", "mistral"])
            try F.editJSON(config) { $0["architectures"] = nil; $0["model_type"] = "gpt2" }
            #expect(try HFModelDirectory.load(from: dir).architecture == .gpt2)
        }
    }

    @Test(arguments: [
        ("gpt2_tiny", "n_embd"), ("gpt2_tiny", "vocab_size"), ("llama_tiny_sharded", "hidden_size"),
        ("llama_tiny_sharded", "intermediate_size"), ("llama_tiny_sharded", "max_position_embeddings"),
    ])
    func missingRequiredKey(fixture: String, key: String) throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy(fixture, into: tmp)
            let config = dir.appending(path: "config.json")
            try F.editJSON(config) { $0[key] = nil }
            expectLoad(dir, throws: .missingKey(file: config.path, key: key), mentioning: ["config.json", key])
        }
    }

    /// `value` is JSON text.
    @Test(arguments: [
        ("gpt2_tiny", "activation_function", "\"gelu\""), ("gpt2_tiny", "tie_word_embeddings", "false"),
        ("gpt2_tiny", "n_head", "\"four\""), ("gpt2_tiny", "scale_attn_by_inverse_layer_idx", "true"),
        ("gpt2_tiny", "embd_pdrop", "0.2"), ("llama_tiny_sharded", "hidden_act", "\"gelu\""),
        ("llama_tiny_sharded", "attention_bias", "true"), ("llama_tiny_sharded", "mlp_bias", "true"),
    ])
    func unsupportedSetting(fixture: String, key: String, value: String) throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy(fixture, into: tmp)
            let parsed = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
            try F.editJSON(dir.appending(path: "config.json")) { $0[key] = parsed }
            let error = loadError(dir)
            guard case let .unsupportedValue(file, k, _, _) = error else { Issue.record("\(key) = \(value): got \(String(describing: error))"); return }
            #expect(file.hasSuffix("config.json") && k == key)
            #expect(error?.description.contains(key) == true)
        }
    }

    @Test func sequenceLongerThanGPT2Positions() throws {
        let error = loadError(try F.url("gpt2_tiny"), seqLength: 32)
        guard case let .invalidConfig(file, reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file.hasSuffix("config.json") && reason.contains("32") && reason.contains("16"))
    }

    /// A weights file with a tensor of the wrong dtype, shape, or one GPT-2 does not have.
    @Test func badTensors() throws {
        let source = try SafeTensorsFile(contentsOf: try F.url("gpt2_tiny").appending(path: "model.safetensors"))
        func rewrite(_ dir: URL, _ change: (String, inout SafeTensorsWriter) throws -> Bool) throws {
            var writer = SafeTensorsWriter(metadata: ["format": "pt"])
            for name in source.names where try !change(name, &writer) {
                let e = try source.entry(name)
                writer.add(name, rawBytes: try source.rawBytes(name), dtype: e.dtype, shape: e.shape)
            }
            try writer.write(to: dir.appending(path: "model.safetensors"))
        }
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("gpt2_tiny", into: tmp)
            let weights = dir.appending(path: "model.safetensors").path
            try rewrite(dir) { name, w in
                guard name == "transformer.ln_f.bias" else { return false }
                w.add(name, rawBytes: Data(count: 32 * 8), dtype: "F64", shape: [32])
                return true
            }
            expectLoad(dir, throws: .unsupportedDType(file: weights, tensor: "transformer.ln_f.bias", dtype: "F64"),
                       mentioning: ["model.safetensors", "transformer.ln_f.bias", "F64"])
            try rewrite(dir) { name, w in
                guard name == "transformer.h.0.attn.c_attn.weight" else { return false }
                w.add(name, floats: try source.floats(name), shape: [96, 32])
                return true
            }
            expectLoad(dir, throws: .wrongShape(file: weights, tensor: "transformer.h.0.attn.c_attn.weight", expected: [32, 96], got: [96, 32]),
                       mentioning: ["transformer.h.0.attn.c_attn.weight", "[32, 96]"])
            try rewrite(dir) { name, w in
                guard name == "transformer.ln_f.bias" else { return false }
                w.add(name, floats: try source.floats(name), shape: [32])
                w.add("transformer.h.0.attn.extra.weight", floats: [1], shape: [1])
                return true
            }
            expectLoad(dir, throws: .unexpectedTensor(file: weights, tensor: "transformer.h.0.attn.extra.weight"),
                       mentioning: ["transformer.h.0.attn.extra.weight"])
            try rewrite(dir) { name, w in
                guard name == "transformer.ln_f.bias" else { return false }
                w.add(name, floats: try source.floats(name), shape: [32])
                w.add("lm_head.weight", floats: [Float](repeating: 0, count: 256 * 32), shape: [256, 32])
                return true
            }
            expectLoad(dir, throws: .untiedOutputLayer(file: weights, embeddings: "transformer.wte.weight"),
                       mentioning: ["lm_head.weight", "transformer.wte.weight"])
        }
    }

    /// Files saved from GPT2Model (hub style: no `transformer.` prefix, causal-mask buffers,
    /// a tied `lm_head.weight` copy) load to the same weights.
    @Test func hubStyleGPT2Names() throws {
        let original = try F.url("gpt2_tiny")
        let source = try SafeTensorsFile(contentsOf: original.appending(path: "model.safetensors"))
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("gpt2_tiny", into: tmp)
            var writer = SafeTensorsWriter(metadata: ["format": "pt"])
            for name in source.names {
                writer.add(String(name.dropFirst("transformer.".count)), floats: try source.floats(name), shape: try source.entry(name).shape)
            }
            writer.add("lm_head.weight", floats: try source.floats("transformer.wte.weight"), shape: [256, 32])
            for i in 0..<2 { writer.add("h.\(i).attn.bias", floats: [Float](repeating: 1, count: 16 * 16), shape: [1, 1, 16, 16]) }
            try writer.write(to: dir.appending(path: "model.safetensors"))
            #expect(try HFModelDirectory.load(from: dir).weights == HFModelDirectory.load(from: original).weights)
        }
    }

    @Test func noWeightsAndBadSaveArguments() throws {
        try F.withTemporaryDirectory { tmp in
            let dir = try F.copy("gpt2_tiny", into: tmp)
            try FileManager.default.removeItem(at: dir.appending(path: "model.safetensors"))
            expectLoad(dir, throws: .noWeights(directory: dir.path), mentioning: ["model.safetensors.index.json"])

            let model = try HFModelDirectory.load(from: try F.url("gpt2_tiny"))
            let out = tmp.appending(path: "out")
            #expect(throws: HFDirectoryError.invalidArgument("maxShardBytes must be positive, got 0")) {
                try HFModelDirectory.save(model, to: out, maxShardBytes: 0)
            }
            var extra = model
            extra.weights["output_layer.weight"] = [0]
            #expect(throws: HFDirectoryError.self) { try HFModelDirectory.save(extra, to: out) }
            var short = model
            short.weights["decoder.final_layernorm.bias"] = [0]
            #expect(throws: HFDirectoryError.mapping(.wrongSize(name: "decoder.final_layernorm.bias", expected: 32, got: 1))) {
                try HFModelDirectory.save(short, to: out)
            }
            var wrongShape = model
            wrongShape.shapes["decoder.final_layernorm.bias"] = [2, 16]
            #expect(throws: HFDirectoryError.wrongShape(file: "<weights to save>", tensor: "decoder.final_layernorm.bias",
                                                         expected: [32], got: [2, 16])) {
                try HFModelDirectory.save(wrongShape, to: out)
            }
            var gelu = model
            gelu.config.transformer.activation = .gelu
            #expect(throws: HFDirectoryError.invalidConfig(
                file: "config.json", reason: "GPT2LMHeadModel needs the tanh GeLU (gelu_new); the config has gelu")) {
                try HFModelDirectory.save(gelu, to: out)
            }
            #expect(!FileManager.default.fileExists(atPath: out.path))  // nothing written by a refused save
        }
    }
}
