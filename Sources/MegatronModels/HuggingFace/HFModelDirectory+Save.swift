import Foundation
import MegatronCheckpoint
import MegatronTensor
import MegatronTransformer

extension HFModelDirectory {
    /// Writes `model` as `save_pretrained` would: `config.json` (its `dtype` set to `dtype`),
    /// the weights in HF names and layouts (vocabulary padding cut off, a tied output layer
    /// saved once as the embeddings) with safetensors metadata `{"format": "pt"}`, either in
    /// one `model.safetensors` or, when `maxShardBytes` is given and the weights exceed it, in
    /// shards split and named as transformers does (`model-00001-of-00003.safetensors`, …) with
    /// `model.safetensors.index.json` (`metadata.total_size`, `metadata.total_parameters`,
    /// `weight_map`). Each file is written to a temporary file and renamed into place; weights
    /// files of an earlier save that this one does not replace are removed afterwards.
    ///
    ///     try HFModelDirectory.save(model, to: URL(filePath: "/out/llama"), dtype: .bfloat16, maxShardBytes: 2_000_000_000)
    public static func save(_ model: HFModel, to directory: URL, dtype: HFWeightDType = .float32,
                            maxShardBytes: Int? = nil) throws(HFDirectoryError) {
        if let maxShardBytes, maxShardBytes <= 0 {
            throw .invalidArgument("maxShardBytes must be positive, got \(maxShardBytes)")
        }
        var config = model.config
        config.dtype = dtype.torchName
        let configData = try config.jsonData()
        let mapping = try weightMapping(config)
        try checkNamesAndShapes(model, mapping.megatronTensorShapes)

        let hf: [String: [Float]]
        do { hf = try mapping.exportWeights(model.weights) } catch let error as HFMappingError { throw .mapping(error) } catch {
            throw .mapping(.unsupported("\(error)"))
        }
        let tensors = mapping.hfTensorShapes
        let sizes = tensors.map { $0.shape.reduce(1, *) * dtype.byteSize }
        let shards = maxShardBytes.map { HFShardIndex.split(sizes: sizes, maxBytes: $0) } ?? [Array(tensors.indices)]

        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory.path, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        var weightMap: [String: String] = [:]
        for (s, members) in shards.enumerated() {
            let fileName = HFShardIndex.shardFileName(s, of: shards.count)
            var writer = SafeTensorsWriter(metadata: ["format": "pt"])
            for i in members {
                let (name, shape) = tensors[i]
                writer.add(name, rawBytes: encode(hf[name] ?? [], dtype), dtype: dtype.rawValue, shape: shape)
                weightMap[name] = fileName
            }
            do { try writer.write(to: directory.appending(path: fileName)) } catch { throw .safetensors(error) }
        }
        let written = Set(weightMap.values)
        if shards.count > 1 {
            let index = HFShardIndex(weightMap: weightMap, totalSize: sizes.reduce(0, +),
                                     totalParameters: tensors.reduce(0) { $0 + $1.shape.reduce(1, *) })
            try writeAtomically(index.jsonData(), to: directory.appending(path: HFShardIndex.fileName))
        }
        try writeAtomically(configData, to: directory.appending(path: "config.json"))
        try removeStaleWeights(in: directory, keeping: written)
    }

    /// Writes Megatron-named `weights` (full tensors) of a model with this architecture and
    /// config; `shapes`, when given, are checked against the shapes the config implies.
    /// See ``save(_:to:dtype:maxShardBytes:)``.
    ///
    ///     try HFModelDirectory.save(to: url, architecture: .gpt2, config: config, weights: weights)
    public static func save(to directory: URL, architecture: HFArchitecture, config: TransformerConfig,
                            weights: [String: [Float]], shapes: [String: [Int]]? = nil,
                            dtype: HFWeightDType = .float32, maxShardBytes: Int? = nil) throws(HFDirectoryError) {
        let model = HFModel(config: HFConfig(architecture: architecture, transformer: config), weights: weights, shapes: shapes)
        try save(model, to: directory, dtype: dtype, maxShardBytes: maxShardBytes)
    }

    /// Every weight must be one the architecture has, and every given shape the implied one.
    private static func checkNamesAndShapes(_ model: HFModel, _ expected: [String: [Int]]) throws(HFDirectoryError) {
        for name in model.weights.keys.sorted() where expected[name] == nil {
            throw .invalidArgument("weight '\(name)' has no place in \(model.architecture.rawValue) with this config "
                                   + "(expected: \(expected.keys.sorted().prefix(4).joined(separator: ", ")), …)")
        }
        for (name, shape) in model.shapes.sorted(by: { $0.key < $1.key }) {
            guard let want = expected[name] else {
                throw .invalidArgument("shape given for '\(name)', which \(model.architecture.rawValue) does not have")
            }
            guard shape == want else { throw .wrongShape(file: "<weights to save>", tensor: name, expected: want, got: shape) }
        }
    }

    /// Little-endian F32 or BF16 (round to nearest even) bytes of `values`.
    private static func encode(_ values: [Float], _ dtype: HFWeightDType) -> Data {
        switch dtype {
        case .float32:
            #if _endian(little)
            return values.withUnsafeBytes { Data($0) }
            #else
            var data = Data(capacity: values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            return data
            #endif
        case .bfloat16:
            let bits = values.map { HalfPrecision.bf16Bits($0).littleEndian }
            return bits.withUnsafeBytes { Data($0) }
        }
    }

    /// Writes through a temporary file in the same directory renamed over `url`.
    private static func writeAtomically(_ data: Data, to url: URL) throws(HFDirectoryError) {
        do { try data.write(to: url, options: .atomic) } catch {
            throw .io(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Removes weights files an earlier save left that `written` does not include: other
    /// `model-NNNNN-of-NNNNN.safetensors`, and the single file or index of the other layout
    /// (a stale `model.safetensors` would shadow new shards when loading).
    private static func removeStaleWeights(in directory: URL, keeping written: Set<String>) throws(HFDirectoryError) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw .io(path: directory.path, reason: "cannot list: \(error.localizedDescription)")
        }
        let sharded = !written.contains(HFShardIndex.singleFileName)
        for name in names where !written.contains(name) {
            let stale = HFShardIndex.isShardFileName(name) || name == (sharded ? HFShardIndex.singleFileName : HFShardIndex.fileName)
            guard stale else { continue }
            do { try FileManager.default.removeItem(at: directory.appending(path: name)) } catch {
                throw .io(path: directory.appending(path: name).path, reason: "cannot remove stale weights file: \(error.localizedDescription)")
            }
        }
    }
}
