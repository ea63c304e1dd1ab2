import Foundation
import MegatronCPU
import MegatronCheckpoint
import MegatronModels
import MegatronTensor
import MegatronTransformer
import Testing

/// Same weights as Hugging Face `transformers` (fixtures from scripts/fixtures/make_hf_fixtures.py)
/// must give the same logits, loss and every parameter gradient within 1e-4 relative (fp32).
@Suite("Parity with Hugging Face transformers")
struct HuggingFaceParityTests {
    let b = CPUBackend()

    static func fixture(_ name: String) throws -> SafeTensorsFile {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
        return try SafeTensorsFile(contentsOf: url)
    }

    static var gpt2Config: TransformerConfig {
        var c = TransformerConfig.gpt2(numLayers: 2, hiddenSize: 32, numAttentionHeads: 4, vocabSize: 256, seqLength: 8)
        c.maxPositionEmbeddings = 16
        c.hiddenDropout = 0
        c.attentionDropout = 0
        return c
    }

    static var llamaConfig: TransformerConfig {
        .llama(numLayers: 2, hiddenSize: 32, numAttentionHeads: 4, numQueryGroups: 2, ffnHiddenSize: 88, vocabSize: 256, seqLength: 8)
    }

    @Test(arguments: [("gpt2_tiny", HFArchitecture.gpt2), ("llama_tiny", .llama)])
    func logitsLossAndGradientsMatch(fixtureName: String, architecture: HFArchitecture) throws {
        let file = try Self.fixture(fixtureName)
        let config = architecture == .gpt2 ? Self.gpt2Config : Self.llamaConfig
        let mapping = try HFWeightMapping(config: config, architecture: architecture)
        let model = try GPTModel(config: config, backend: b, seed: 0)

        let prefix = "param."
        var hfParams: [String: [Float]] = [:]
        for name in file.names where name.hasPrefix(prefix) {
            hfParams[String(name.dropFirst(prefix.count))] = try file.floats(name)
        }
        let ours = try mapping.importWeights(hfParams)
        #expect(Set(ours.keys) == Set(model.store.layout.specs.map(\.name)))
        for (name, values) in ours {
            let p = try #require(model.store.parameter(named: name))
            try b.upload(values, to: p.value)
        }

        // Fixture tensors are [b, s]; the model takes [s, b].
        let ids = try file.int32s("input_ids"), targets = try file.int32s("targets")
        let (batch, seq) = (2, 8)
        let toSB = { (x: [Int32]) in (0..<seq * batch).map { x[($0 % batch) * seq + $0 / batch] } }
        let gptBatch = GPTBatch(tokens: try b.tensor(int32: toSB(ids), shape: [seq, batch]),
                                targets: try b.tensor(int32: toSB(targets), shape: [seq, batch]))
        try model.store.zeroGrad()
        let state = try model.forward(gptBatch, dropoutSeed: 0, keepLogits: true)
        let logits = try b.download(try #require(state.logits))  // [s·b, V] sequence-major
        let vocab = config.paddedVocabSize
        let hfLogits = try file.floats("logits")       // [b, s, V]
        let reordered = (0..<seq * batch * vocab).map { i -> Float in
            let (row, v) = (i / vocab, i % vocab)
            return logits[((row % seq) * batch + row / seq) * vocab + v]
        }
        #expect(relativeError(reordered, hfLogits) < 1e-5)
        let hfLoss = try file.floats("loss")[0]
        let loss = try state.loss
        #expect(abs(loss - hfLoss) / hfLoss < 1e-6, "loss \(loss) vs \(hfLoss)")

        try model.backward(state, gradientScale: 1)
        var ourGrads: [String: [Float]] = [:]
        for spec in model.store.layout.specs {
            ourGrads[spec.name] = try b.download(try #require(model.store.parameter(named: spec.name)).grad)
        }
        let exported = try mapping.exportWeights(ourGrads)
        for name in hfParams.keys.sorted() {
            let ours = try #require(exported[name], "no gradient exported for \(name)")
            let err = relativeError(ours, try file.floats("grad.\(name)"))
            #expect(err < 1e-4, "gradient of \(name): relative error \(err)")
        }
    }

    @Test(arguments: [("gpt2_tiny", HFArchitecture.gpt2), ("llama_tiny", .llama)])
    func weightMappingRoundTripsExactly(fixtureName: String, architecture: HFArchitecture) throws {
        let file = try Self.fixture(fixtureName)
        let mapping = try HFWeightMapping(config: architecture == .gpt2 ? Self.gpt2Config : Self.llamaConfig, architecture: architecture)
        var hf: [String: [Float]] = [:]
        for name in file.names where name.hasPrefix("param.") { hf[String(name.dropFirst(6))] = try file.floats(name) }
        var back = try mapping.exportWeights(try mapping.importWeights(hf))
        if architecture == .gpt2 { back["lm_head.weight"] = nil }
        #expect(back == hf)
    }

    @Test func missingTensorIsNamed() throws {
        let mapping = try HFWeightMapping(config: Self.llamaConfig, architecture: .llama)
        #expect(throws: HFMappingError.missingTensor("model.embed_tokens.weight")) { try mapping.importWeights([:]) }
    }
}
