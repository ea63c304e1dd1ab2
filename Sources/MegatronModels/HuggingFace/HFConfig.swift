import Foundation
import MegatronCheckpoint
import MegatronTransformer

/// A Hugging Face `config.json` for `GPT2LMHeadModel` or `LlamaForCausalLM`, as the
/// architecture plus the ``TransformerConfig`` it describes.
///
/// Reading refuses what ``GPTModel`` cannot compute the same way (another activation, RoPE
/// scaling, biases on Llama, untied GPT-2 embeddings) with an error naming the file and key.
/// The sequence length is not part of an HF config: it is `max_position_embeddings`
/// (`n_positions`) unless the caller passes one. Writing produces the keys `transformers` 5.x
/// reads, formatted as its `save_pretrained` does (sorted, two-space indent).
///
///     let hf = try HFConfig(contentsOf: dir.appending(path: "config.json"), seqLength: 2048)
///     let model = try GPTModel(config: hf.transformer, backend: CPUBackend(), seed: 0)
///     try hf.jsonData().write(to: out.appending(path: "config.json"))
public struct HFConfig: Sendable, Equatable {
    public var architecture: HFArchitecture
    /// The model's shape and numerics; validated (derived sizes filled in) when read from JSON.
    public var transformer: TransformerConfig
    /// The `dtype` (`torch_dtype` before transformers 5) the weights were saved in, e.g.
    /// `"bfloat16"`; nil when the file does not say.
    public var dtype: String?
    /// Special token ids, kept so a round trip through Megatron does not lose them; written as null when nil.
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var padTokenID: Int?

    /// A config to write; nothing is checked until ``jsonData()``.
    public init(architecture: HFArchitecture, transformer: TransformerConfig, dtype: String? = nil,
                bosTokenID: Int? = nil, eosTokenID: Int? = nil, padTokenID: Int? = nil) {
        self.architecture = architecture
        self.transformer = transformer
        self.dtype = dtype
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID
    }

    /// Reads and parses the `config.json` at `url`; `seqLength` overrides the default
    /// (`max_position_embeddings`).
    public init(contentsOf url: URL, seqLength: Int? = nil) throws(HFDirectoryError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .io(path: url.path, reason: "cannot read: \(error.localizedDescription)") }
        try self.init(jsonData: data, seqLength: seqLength, file: url.path)
    }

    /// Parses `config.json` bytes; `file` is the name errors report.
    public init(jsonData: Data, seqLength: Int? = nil, file: String = "config.json") throws(HFDirectoryError) {
        let r = try HFConfigReader(data: jsonData, file: file)
        architecture = try Self.architecture(r)
        var config = try architecture == .gpt2 ? Self.readGPT2(r) : Self.readLlama(r)
        if let seqLength { config.seqLength = seqLength }
        do {
            transformer = try config.validated()
        } catch {
            throw .invalidConfig(file: file, reason: "\(error) (settings derived from this file\(seqLength.map { " and seq length \($0)" } ?? ""))")
        }
        if r.isNull("dtype") {
            dtype = r.isNull("torch_dtype") ? nil : try r.string("torch_dtype")
        } else {
            dtype = try r.string("dtype")
        }
        bosTokenID = try r.int("bos_token_id", default: nil)
        eosTokenID = try r.int("eos_token_id", default: nil)
        padTokenID = try r.int("pad_token_id", default: nil)
    }

    /// The `config.json` text (`json.dumps(…, indent=2, sort_keys=True)` plus a newline), or an
    /// error when ``transformer`` has settings the architecture cannot express.
    public func jsonData() throws(HFDirectoryError) -> Data {
        do {
            _ = try HFWeightMapping(config: transformer, architecture: architecture)
        } catch let error as HFMappingError {
            throw .invalidConfig(file: "config.json", reason: error.description)
        } catch {
            throw .invalidConfig(file: "config.json", reason: "\(error)")
        }
        let c: TransformerConfig
        do { c = try transformer.validated() } catch { throw .invalidConfig(file: "config.json", reason: "\(error)") }
        var json = try architecture == .gpt2 ? Self.gpt2JSON(c) : Self.llamaJSON(c)
        json["architectures"] = .array([.string(architecture.rawValue)])
        json["model_type"] = .string(architecture.modelType)
        json["initializer_range"] = .float(c.initMethodStd)
        json["tie_word_embeddings"] = .bool(c.shareEmbeddingsAndOutputWeights)
        json["vocab_size"] = .int(c.vocabSize)
        json["use_cache"] = .bool(true)
        json["dtype"] = dtype.map(JSONValue.string) ?? .null
        json["bos_token_id"] = bosTokenID.map(JSONValue.int) ?? .null
        json["eos_token_id"] = eosTokenID.map(JSONValue.int) ?? .null
        json["pad_token_id"] = padTokenID.map(JSONValue.int) ?? .null
        return Data(JSONValue.object(json).pythonJSON().utf8)
    }

    /// The architecture from `architectures[0]`, or from `model_type` when that list is absent.
    private static func architecture(_ r: HFConfigReader) throws(HFDirectoryError) -> HFArchitecture {
        if !r.isNull("architectures") {
            guard case let .array(names) = try r.value("architectures"), let first = names.first else {
                throw .unsupportedValue(file: r.file, key: "architectures", value: try r.value("architectures").brief,
                                        expected: "a list of one model class name")
            }
            guard case let .string(name) = first, let arch = HFArchitecture(rawValue: name) else {
                throw .unknownArchitecture(file: r.file, value: first.brief)
            }
            return arch
        }
        guard !r.isNull("model_type") else { throw .missingKey(file: r.file, key: "architectures") }
        let type = try r.string("model_type")
        guard let arch = HFArchitecture.allCases.first(where: { $0.modelType == type }) else {
            throw .unknownArchitecture(file: r.file, value: "absent and model_type is \"\(type)\"")
        }
        return arch
    }
}

extension HFArchitecture {
    /// The `model_type` transformers writes for this architecture.
    public var modelType: String {
        switch self {
        case .gpt2: "gpt2"
        case .llama: "llama"
        }
    }
}
