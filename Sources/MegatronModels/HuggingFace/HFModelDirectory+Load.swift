import Foundation
import MegatronCheckpoint

/// Reads and writes Hugging Face model directories (`save_pretrained` / `from_pretrained`
/// layout) of GPT-2 and Llama: `config.json` plus `model.safetensors`, or shards
/// `model-0000i-of-0000N.safetensors` listed in `model.safetensors.index.json`.
///
///     let model = try HFModelDirectory.load(from: URL(filePath: "/models/gpt2"))
///     try HFModelDirectory.save(model, to: URL(filePath: "/tmp/gpt2-bf16"), dtype: .bfloat16, maxShardBytes: 5_000_000_000)
public enum HFModelDirectory {
    /// Loads `directory`: parses `config.json` (``HFConfig``; `seqLength` overrides
    /// `max_position_embeddings` as the sequence length), reads every tensor the architecture
    /// needs (F32, BF16 or F16) from `model.safetensors`, or else from the shards the index
    /// names, checks each shape, and maps the tensors to Megatron names.
    ///
    /// Names without the `transformer.` / `model.` prefix (files saved from the base model) are
    /// accepted; GPT-2's causal-mask buffers and Llama's `inv_freq` are skipped; any other
    /// tensor the architecture does not have is an error, as is a tied `lm_head.weight` that
    /// differs from the embeddings.
    public static func load(from directory: URL, seqLength: Int? = nil) throws(HFDirectoryError) -> HFModel {
        let config = try HFConfig(contentsOf: directory.appending(path: "config.json"), seqLength: seqLength)
        let mapping = try weightMapping(config)
        let files = try TensorFiles(directory: directory, basePrefix: config.architecture.basePrefix)

        var hf: [String: [Float]] = [:]
        let expected = mapping.hfTensorShapes
        for (name, shape) in expected {
            hf[name] = try files.floats(name, shape: shape)
        }
        let known = Set(expected.map(\.name))
        for name in files.names.sorted() where !known.contains(name) {
            if let tied = mapping.tiedOutputName, name == tied.name {
                let shape = expected.first { $0.name == tied.embeddings }?.shape ?? []
                guard try files.floats(name, shape: shape) == hf[tied.embeddings] else {
                    throw .untiedOutputLayer(file: files.path(of: name), embeddings: tied.embeddings)
                }
            } else if !HFWeightMapping.isBuffer(name) {
                throw .unexpectedTensor(file: files.path(of: name), tensor: name)
            }
        }
        let weights: [String: [Float]]
        do { weights = try mapping.importWeights(hf) } catch let error as HFMappingError { throw .mapping(error) } catch {
            throw .mapping(.unsupported("\(error)"))
        }
        return HFModel(config: config, weights: weights, shapes: mapping.megatronTensorShapes.filter { weights[$0.key] != nil })
    }

    /// The weight mapping for `config`, its refusal reported against config.json.
    static func weightMapping(_ config: HFConfig) throws(HFDirectoryError) -> HFWeightMapping {
        do {
            return try HFWeightMapping(config: config.transformer, architecture: config.architecture)
        } catch {
            throw .invalidConfig(file: "config.json", reason: "\(error)")
        }
    }
}

extension HFArchitecture {
    /// The prefix of the base model's tensors inside the `…ForCausalLM` / `…LMHeadModel`.
    var basePrefix: String { self == .gpt2 ? "transformer." : "model." }
}

/// The tensors of a directory's weights files, by (prefixed) HF name.
private struct TensorFiles {
    /// Where each tensor lives: the file, its path, and its name in that file.
    private var sources: [String: (file: SafeTensorsFile, path: String, stored: String)] = [:]
    /// The file that lists the tensors (the single weights file or the index), for "not found" errors.
    private let listing: String

    var names: Dictionary<String, (file: SafeTensorsFile, path: String, stored: String)>.Keys { sources.keys }

    init(directory: URL, basePrefix: String) throws(HFDirectoryError) {
        let single = directory.appending(path: HFShardIndex.singleFileName)
        let indexURL = directory.appending(path: HFShardIndex.fileName)
        var stored: [String: (file: SafeTensorsFile, path: String, stored: String)] = [:]
        if FileManager.default.fileExists(atPath: single.path) {
            let file = try Self.open(single)
            for name in file.entries.keys { stored[name] = (file, single.path, name) }
            listing = single.path
        } else if FileManager.default.fileExists(atPath: indexURL.path) {
            let index = try HFShardIndex(contentsOf: indexURL)
            var shards: [String: SafeTensorsFile] = [:]
            for shard in Set(index.weightMap.values).sorted() {
                let url = directory.appending(path: shard)
                guard FileManager.default.fileExists(atPath: url.path) else { throw .missingShard(index: indexURL.path, shard: shard) }
                shards[shard] = try Self.open(url)
            }
            for (name, shard) in index.weightMap {
                guard let file = shards[shard], file.entries[name] != nil else {
                    throw .tensorMissingFromShard(index: indexURL.path, tensor: name, shard: shard)
                }
                stored[name] = (file, directory.appending(path: shard).path, name)
            }
            listing = indexURL.path
        } else {
            throw .noWeights(directory: directory.path)
        }
        // Files saved from the base model (GPT2Model, LlamaModel) lack its prefix; as
        // from_pretrained does, add it when no tensor carries it.
        if !stored.keys.contains(where: { $0.hasPrefix(basePrefix) }) {
            stored = Dictionary(uniqueKeysWithValues: stored.map { ($0.key == "lm_head.weight" ? $0.key : basePrefix + $0.key, $0.value) })
        }
        sources = stored
    }

    private static func open(_ url: URL) throws(HFDirectoryError) -> SafeTensorsFile {
        do { return try SafeTensorsFile(contentsOf: url) } catch { throw .safetensors(error) }
    }

    func path(of name: String) -> String { sources[name]?.path ?? listing }

    /// The tensor's values as Float, after checking its dtype and shape.
    func floats(_ name: String, shape: [Int]) throws(HFDirectoryError) -> [Float] {
        guard let (file, path, stored) = sources[name] else { throw .tensorInNoShard(file: listing, tensor: name) }
        let entry: SafeTensorsFile.Entry
        do { entry = try file.entry(stored) } catch { throw .safetensors(error) }
        guard ["F32", "BF16", "F16"].contains(entry.dtype) else {
            throw .unsupportedDType(file: path, tensor: stored, dtype: entry.dtype)
        }
        guard entry.shape == shape else { throw .wrongShape(file: path, tensor: stored, expected: shape, got: entry.shape) }
        do { return try file.floats(stored) } catch { throw .safetensors(error) }
    }
}
