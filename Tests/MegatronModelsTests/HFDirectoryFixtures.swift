import Foundation
import MegatronCPU
import MegatronCheckpoint
import MegatronModels
import MegatronTensor
import MegatronTransformer
import Testing

/// The `save_pretrained` directories of scripts/fixtures/make_hf_dir_fixtures.py and helpers
/// to copy, edit and run them.
enum HFDirectoryFixtures {
    static let names = ["gpt2_tiny", "llama_tiny_sharded"]

    static func url(_ name: String) throws -> URL {
        let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appending(path: "hf").appending(path: name)
    }

    /// A fresh empty directory, removed by `body`'s end.
    static func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appending(path: "hf-dir-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try body(dir)
    }

    /// A writable copy of fixture `name` inside `dir`.
    static func copy(_ name: String, into dir: URL) throws -> URL {
        let target = dir.appending(path: name)
        try FileManager.default.copyItem(at: try url(name), to: target)
        return target
    }

    /// Rewrites the JSON object in `file` through `edit`.
    static func editJSON(_ file: URL, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: file)
    }

    /// transformers' input ids `[2, 8]` and logits `[2, 8, V]` recorded beside the weights.
    static func reference(_ dir: URL) throws -> (ids: [Int32], logits: [Float]) {
        let file = try SafeTensorsFile(contentsOf: dir.appending(path: "logits.safetensors"))
        return (try file.int32s("input_ids"), try file.floats("logits"))
    }

    /// Our model's logits for batch-major `ids` `[batch, seq]`, in the same `[batch, seq, V]` order.
    static func logits(_ model: HFModel, ids: [Int32], batch: Int, seq: Int) throws -> [Float] {
        let b = CPUBackend()
        let gpt = try GPTModel(config: model.transformerConfig, backend: b, seed: 0)
        #expect(Set(model.weights.keys) == Set(gpt.store.layout.specs.map(\.name)))
        for (name, values) in model.weights {
            let p = try #require(gpt.store.parameter(named: name))
            #expect(p.spec.shape.dims == model.shapes[name], "shape of \(name)")
            try b.upload(values, to: p.value)
        }
        let toSB = { (x: [Int32]) in (0..<seq * batch).map { x[($0 % batch) * seq + $0 / batch] } }
        let tokens = try b.tensor(int32: toSB(ids), shape: [seq, batch])
        let state = try gpt.forward(GPTBatch(tokens: tokens, targets: tokens), dropoutSeed: nil, keepLogits: true)
        let logits = try b.download(try #require(state.logits))  // [s·b, Vp], sequence-major
        let (vocab, padded) = (model.transformerConfig.vocabSize, model.transformerConfig.paddedVocabSize)
        return (0..<batch * seq * vocab).map { i in
            let (row, v) = (i / vocab, i % vocab)
            return logits[((row % seq) * batch + row / seq) * padded + v]
        }
    }
}
