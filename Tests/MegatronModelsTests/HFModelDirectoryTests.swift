import Foundation
import MegatronCheckpoint
import MegatronModels
import MegatronTensor
import MegatronTransformer
import Testing

/// `save_pretrained` directories (scripts/fixtures/make_hf_dir_fixtures.py) load into a
/// ``GPTModel`` that gives transformers' logits, and save back bit for bit as transformers would.
@Suite("Hugging Face model directories")
struct HFModelDirectoryTests {
    typealias F = HFDirectoryFixtures

    @Test(arguments: HFDirectoryFixtures.names)
    func loadedModelGivesTransformersLogits(name: String) throws {
        let dir = try F.url(name)
        let model = try HFModelDirectory.load(from: dir, seqLength: 8)
        #expect(model.architecture == (name.hasPrefix("gpt2") ? .gpt2 : .llama))
        let (ids, hfLogits) = try F.reference(dir)
        let ours = try F.logits(model, ids: ids, batch: 2, seq: 8)
        let err = relativeError(ours, hfLogits)
        #expect(err < 1e-5, "\(name): logits relative error \(err)")
    }

    @Test func configsMatchTheParityTests() throws {
        let gpt2 = try HFModelDirectory.load(from: try F.url("gpt2_tiny"), seqLength: 8).transformerConfig
        #expect(gpt2 == (try HuggingFaceParityTests.gpt2Config.validated()))
        var llama = HuggingFaceParityTests.llamaConfig
        llama.maxPositionEmbeddings = 64
        let loaded = try HFModelDirectory.load(from: try F.url("llama_tiny_sharded")).transformerConfig
        llama.seqLength = 64  // no seqLength given: max_position_embeddings
        #expect(loaded == (try llama.validated()))
    }

    @Test(arguments: HFDirectoryFixtures.names)
    func float32SaveReproducesTheFilesBitForBit(name: String) throws {
        let original = try F.url(name)
        let sharded = name.hasSuffix("sharded")
        let model = try HFModelDirectory.load(from: original)
        try F.withTemporaryDirectory { dir in
            // The fixture was saved with max_shard_size=64000.
            try HFModelDirectory.save(model, to: dir, dtype: .float32, maxShardBytes: sharded ? 64000 : nil)
            let savedFiles = try Set(FileManager.default.contentsOfDirectory(atPath: dir.path))
            let originalFiles = try Set(FileManager.default.contentsOfDirectory(atPath: original.path))
                .subtracting(["generation_config.json", "logits.safetensors"])
            #expect(savedFiles == originalFiles)

            for file in originalFiles where file.hasSuffix(".safetensors") {
                let a = try SafeTensorsFile(contentsOf: original.appending(path: file))
                let b = try SafeTensorsFile(contentsOf: dir.appending(path: file))
                #expect(b.metadata == ["format": "pt"])
                #expect(Set(a.entries.keys) == Set(b.entries.keys), "\(file)")
                for (tensor, entry) in a.entries {
                    let saved = try b.entry(tensor)
                    #expect(saved.dtype == entry.dtype && saved.shape == entry.shape, "\(tensor)")
                    #expect(try b.rawBytes(tensor) == a.rawBytes(tensor), "\(tensor) differs")
                }
            }
            if sharded {
                let index = { (d: URL) in try JSONSerialization.jsonObject(with: Data(contentsOf: d.appending(path: "model.safetensors.index.json"))) as? NSDictionary }
                #expect(try index(dir) == index(original))  // weight_map, total_size and total_parameters
            }
            let reloaded = try HFModelDirectory.load(from: dir)
            #expect(reloaded.config == model.config)
            #expect(reloaded.weights == model.weights)
            #expect(reloaded.shapes == model.shapes)
        }
    }

    /// Every key our config.json writes that transformers' also has holds the same value.
    @Test(arguments: HFDirectoryFixtures.names)
    func writtenConfigAgreesWithTransformers(name: String) throws {
        let original = try F.url(name).appending(path: "config.json")
        let config = try HFConfig(contentsOf: original)
        let ours = try #require(try JSONSerialization.jsonObject(with: config.jsonData()) as? [String: NSObject])
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: original)) as? [String: NSObject])
        #expect(ours.count >= 20)
        for (key, value) in ours where theirs[key] != nil {
            #expect(theirs[key] == value, "\(key): ours \(value), transformers' \(theirs[key].map { "\($0)" } ?? "-")")
        }
        #expect(try HFConfig(jsonData: config.jsonData()) == config)
        let text = try #require(String(data: try config.jsonData(), encoding: .utf8))
        #expect(text.hasPrefix("{\n  \"") && text.hasSuffix("\n}\n"))
    }

    @Test(arguments: HFDirectoryFixtures.names)
    func bfloat16SaveLoadsAsRoundedWeights(name: String) throws {
        let model = try HFModelDirectory.load(from: try F.url(name))
        try F.withTemporaryDirectory { dir in
            try HFModelDirectory.save(model, to: dir, dtype: .bfloat16)
            let back = try HFModelDirectory.load(from: dir)
            #expect(back.config.dtype == "bfloat16")
            #expect(back.config.transformer == model.config.transformer)
            let file = try SafeTensorsFile(contentsOf: dir.appending(path: "model.safetensors"))
            #expect(file.entries.values.allSatisfy { $0.dtype == "BF16" })
            #expect(Set(back.weights.keys) == Set(model.weights.keys))
            for (tensor, values) in model.weights {
                let rounded = values.map { HalfPrecision.float(bf16Bits: HalfPrecision.bf16Bits($0)) }
                #expect(back.weights[tensor] == rounded, "\(tensor)")
            }
        }
    }

    @Test func smallShardsMakeAValidIndex() throws {
        let model = try HFModelDirectory.load(from: try F.url("gpt2_tiny"))
        try F.withTemporaryDirectory { dir in
            let limit = 20000  // wte (32768 bytes) exceeds it and gets a shard of its own
            try HFModelDirectory.save(model, to: dir, maxShardBytes: limit)
            let indexURL = dir.appending(path: "model.safetensors.index.json")
            let index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any])
            let weightMap = try #require(index["weight_map"] as? [String: String])
            let metadata = try #require(index["metadata"] as? [String: Int])
            let shards = Set(weightMap.values)
            #expect(shards.count > 3)
            #expect(!FileManager.default.fileExists(atPath: dir.appending(path: "model.safetensors").path))
            var totalBytes = 0, totalElements = 0
            for (i, shard) in shards.sorted().enumerated() {
                #expect(shard == String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count))
                let file = try SafeTensorsFile(contentsOf: dir.appending(path: shard))
                #expect(Set(file.entries.keys) == Set(weightMap.filter { $0.value == shard }.keys))
                let bytes = file.entries.values.reduce(0) { $0 + $1.byteRange.count }
                #expect(bytes <= limit || file.entries.count == 1, "\(shard) has \(bytes) bytes")
                totalBytes += bytes
                totalElements += file.entries.values.reduce(0) { $0 + $1.elementCount }
            }
            #expect(metadata["total_size"] == totalBytes)
            #expect(metadata["total_parameters"] == totalElements)
            #expect(weightMap["transformer.wte.weight"] == "model-00001-of-\(String(format: "%05d", shards.count)).safetensors")
            #expect(try HFModelDirectory.load(from: dir).weights == model.weights)

            // Saving again unsharded replaces the shards and the index.
            try HFModelDirectory.save(model, to: dir)
            let files = try Set(FileManager.default.contentsOfDirectory(atPath: dir.path))
            #expect(files == ["config.json", "model.safetensors"])
        }
    }

    @Test func saveFromMegatronNamesWithShapes() throws {
        let loaded = try HFModelDirectory.load(from: try F.url("llama_tiny_sharded"))
        try F.withTemporaryDirectory { dir in
            try HFModelDirectory.save(to: dir, architecture: .llama, config: loaded.transformerConfig,
                                      weights: loaded.weights, shapes: loaded.shapes)
            let back = try HFModelDirectory.load(from: dir)
            #expect(back.weights == loaded.weights)
            #expect(back.config.bosTokenID == nil)  // not given: written as null
        }
    }
}
