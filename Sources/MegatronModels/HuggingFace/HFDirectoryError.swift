import MegatronCheckpoint

/// Everything that can go wrong reading or writing a Hugging Face model directory
/// (`config.json`, `model.safetensors` or its shards and `model.safetensors.index.json`).
/// Each case names the file, and the key or tensor, at fault.
///
///     do { _ = try HFModelDirectory.load(from: url) }
///     catch { print(error) }   // "…/config.json: rope_scaling is {"factor": 8.0, …}; expected null (…)"
public enum HFDirectoryError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Reading, writing, listing or creating a file or directory failed.
    case io(path: String, reason: String)
    /// The file is not valid JSON, or not a JSON object.
    case badJSON(file: String, reason: String)
    /// A key the conversion needs is absent.
    case missingKey(file: String, key: String)
    /// A key holds a value of the wrong type, or one this package cannot represent.
    case unsupportedValue(file: String, key: String, value: String, expected: String)
    /// `architectures` (or `model_type`) names a model other than GPT-2 and Llama.
    case unknownArchitecture(file: String, value: String)
    /// The config describes a model ``TransformerConfig`` rejects (the reason names the HF keys' values).
    case invalidConfig(file: String, reason: String)
    /// The directory holds neither `model.safetensors` nor `model.safetensors.index.json`.
    case noWeights(directory: String)
    /// The index's `weight_map` names a shard file that does not exist.
    case missingShard(index: String, shard: String)
    /// The index's `weight_map` places a tensor in a shard that does not hold it.
    case tensorMissingFromShard(index: String, tensor: String, shard: String)
    /// A tensor the model needs is in no weights file (single file: not in it; sharded: not in the index).
    case tensorInNoShard(file: String, tensor: String)
    /// A weights file holds a tensor this architecture does not have.
    case unexpectedTensor(file: String, tensor: String)
    /// A tensor's dtype is not F32, BF16 or F16.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A tensor's shape differs from what the config implies.
    case wrongShape(file: String, tensor: String, expected: [Int], got: [Int])
    /// `lm_head.weight` differs from the word embeddings although the config ties them.
    case untiedOutputLayer(file: String, embeddings: String)
    /// A safetensors file is corrupt or unreadable.
    case safetensors(SafeTensorsError)
    /// The weights do not match the config (a tensor missing or of the wrong size).
    case mapping(HFMappingError)
    /// An argument to ``HFModelDirectory/save(to:architecture:config:weights:shapes:dtype:maxShardBytes:tokenIDs:)`` is unusable.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .io(path, reason): "\(path): \(reason)"
        case let .badJSON(file, reason): "\(file): not a valid JSON object: \(reason)"
        case let .missingKey(file, key): "\(file): required key '\(key)' is missing"
        case let .unsupportedValue(file, key, value, expected): "\(file): \(key) is \(value); expected \(expected)"
        case let .unknownArchitecture(file, value):
            "\(file): architectures is \(value); expected \(HFArchitecture.allCases.map(\.rawValue).joined(separator: " or "))"
        case let .invalidConfig(file, reason): "\(file): \(reason)"
        case let .noWeights(directory):
            "\(directory): holds neither model.safetensors nor model.safetensors.index.json"
        case let .missingShard(index, shard): "\(index): weight_map names shard '\(shard)', which does not exist"
        case let .tensorMissingFromShard(index, tensor, shard):
            "\(index): weight_map puts '\(tensor)' in '\(shard)', which has no such tensor"
        case let .tensorInNoShard(file, tensor): "\(file): tensor '\(tensor)' is needed but present in no weights file"
        case let .unexpectedTensor(file, tensor): "\(file): unexpected tensor '\(tensor)' for this architecture and config"
        case let .unsupportedDType(file, tensor, dtype): "\(file): tensor '\(tensor)' has dtype \(dtype); expected F32, BF16 or F16"
        case let .wrongShape(file, tensor, expected, got): "\(file): tensor '\(tensor)' has shape \(got); expected \(expected)"
        case let .untiedOutputLayer(file, embeddings):
            "\(file): lm_head.weight differs from \(embeddings), but the config ties them (tie_word_embeddings)"
        case let .safetensors(error): error.description
        case let .mapping(error): "weights do not match the config: \(error)"
        case let .invalidArgument(message): message
        }
    }
}
