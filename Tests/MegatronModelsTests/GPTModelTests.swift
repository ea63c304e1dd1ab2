import MegatronCPU
import MegatronModels
import MegatronOptimizer
import MegatronTensor
import MegatronTransformer
import Testing

/// Tiny configs of both families, small enough for debug-build tests.
enum TinyConfigs {
    static func gpt2(dropout: Float = 0, std: Float = 0.02) -> TransformerConfig {
        var c = TransformerConfig.gpt2(numLayers: 2, hiddenSize: 16, numAttentionHeads: 4, vocabSize: 50, seqLength: 6)
        c.hiddenDropout = dropout
        c.attentionDropout = dropout
        c.initMethodStd = std
        c.makeVocabSizeDivisibleBy = 16  // 50 → 64: exercises padded vocabulary rows
        return c
    }

    static func llama(std: Float = 0.02) -> TransformerConfig {
        var c = TransformerConfig.llama(numLayers: 2, hiddenSize: 16, numAttentionHeads: 4, numQueryGroups: 2,
                                        ffnHiddenSize: 24, vocabSize: 50, seqLength: 6)
        c.initMethodStd = std
        c.makeVocabSizeDivisibleBy = 16
        return c
    }
}

/// A batch of random tokens `[s, b]` with shifted targets.
func randomBatch(_ backend: CPUBackend, vocab: Int, seq: Int, batch: Int, seed: UInt64) throws -> GPTBatch {
    let rng = Philox(seed: seed)
    let stream = (0..<(seq + 1) * batch).map { Int32(rng.uniform(UInt64($0)) * Float(vocab)) }
    // stream is [b, s+1] row-major; the model wants [s, b].
    var tokens = [Int32](), targets = [Int32]()
    for t in 0..<seq {
        for b in 0..<batch {
            tokens.append(stream[b * (seq + 1) + t])
            targets.append(stream[b * (seq + 1) + t + 1])
        }
    }
    return GPTBatch(tokens: try backend.tensor(int32: tokens, shape: [seq, batch]),
                    targets: try backend.tensor(int32: targets, shape: [seq, batch]))
}

@Suite("GPT model")
struct GPTModelTests {
    let b = CPUBackend()

    /// Central differences of the loss against the backward, probing every parameter tensor.
    /// Larger init std (0.3) makes gradients large enough for fp32 differencing; tolerance 2e-2
    /// on the relative error over all probes.
    @Test(arguments: ["gpt2", "gpt2-dropout", "llama"])
    func wholeModelGradientCheck(family: String) throws {
        let config = switch family {
        case "gpt2": TinyConfigs.gpt2(std: 0.3)
        case "gpt2-dropout": TinyConfigs.gpt2(dropout: 0.2, std: 0.3)
        default: TinyConfigs.llama(std: 0.3)
        }
        let model = try GPTModel(config: config, backend: b, seed: 7)
        let batch = try randomBatch(b, vocab: config.vocabSize, seq: 6, batch: 2, seed: 3)
        try model.store.zeroGrad()
        try model.backward(try model.forward(batch, dropoutSeed: 11), gradientScale: 1)
        let grads = try b.download(model.store.grads)
        var values = try b.download(model.store.values)
        let h: Float = 1e-2
        var analytic: [Float] = [], numeric: [Float] = []
        for spec in model.store.layout.specs {
            for k in 0..<3 {
                let i = spec.offset + (spec.shape.count - 1) * k / 2
                let saved = values[i]
                values[i] = saved + h
                try b.upload(values, to: model.store.values)
                let plus = try model.forward(batch, dropoutSeed: 11).loss
                values[i] = saved - h
                try b.upload(values, to: model.store.values)
                let minus = try model.forward(batch, dropoutSeed: 11).loss
                values[i] = saved
                try b.upload(values, to: model.store.values)
                analytic.append(grads[i])
                numeric.append((plus - minus) / (2 * h))
            }
        }
        let err = relativeError(analytic, numeric)
        #expect(err < 2e-2, "relative error \(err)")
    }

    @Test(arguments: ["gpt2", "llama"])
    func memorisesOneBatch(family: String) throws {
        var config = family == "gpt2" ? TinyConfigs.gpt2() : TinyConfigs.llama()
        config.hiddenSize = 32
        config.seqLength = 16
        config.ffnHiddenSize = family == "gpt2" ? nil : 64
        let model = try GPTModel(config: config, backend: b, seed: 1)
        let batch = try randomBatch(b, vocab: config.vocabSize, seq: 16, batch: 4, seed: 5)
        var hp = AdamW.Hyperparameters()
        hp.weightDecay = 0
        let opt = try AdamW(params: model.store.values, grads: model.store.grads, decayRuns: model.store.layout.decayRuns,
                            hyperparameters: hp, backend: b)
        var loss = Float.infinity
        for step in 0..<300 where loss >= 0.1 {
            try model.store.zeroGrad()
            let state = try model.forward(batch, dropoutSeed: UInt64(step))
            loss = try state.loss
            try model.backward(state, gradientScale: 1)
            _ = try opt.step(lr: 1e-2)
        }
        #expect(loss < 0.1, "final loss \(loss)")
    }

    @Test func evaluationDisablesDropout() throws {
        let withDropout = try GPTModel(config: TinyConfigs.gpt2(dropout: 0.3), backend: b, seed: 5)
        let without = try GPTModel(config: TinyConfigs.gpt2(dropout: 0), backend: b, seed: 5)
        let batch = try randomBatch(b, vocab: 50, seq: 6, batch: 2, seed: 9)
        let evalLoss = try withDropout.forward(batch, dropoutSeed: nil).loss
        #expect(evalLoss == (try without.forward(batch, dropoutSeed: 1).loss))
        #expect(evalLoss != (try withDropout.forward(batch, dropoutSeed: 1).loss))
    }

    @Test func initialLossIsNearLogVocabulary() throws {
        let config = TinyConfigs.gpt2()
        let model = try GPTModel(config: config, backend: b, seed: 1)
        let batch = try randomBatch(b, vocab: config.vocabSize, seq: 6, batch: 2, seed: 2)
        let loss = try model.forward(batch, dropoutSeed: 0).loss
        // Logits are near zero at init, so the loss is close to log(padded vocab) = log 64.
        #expect(abs(loss - 4.1589) < 0.05, "initial loss \(loss)")
    }

    @Test func parameterNamesAndCountsFollowMegatron() throws {
        let c = TinyConfigs.llama()
        let model = try GPTModel(config: c, backend: b, seed: 1)
        let names = model.store.layout.specs.map(\.name)
        #expect(names.first == "embedding.word_embeddings.weight")
        #expect(names.contains("decoder.layers.1.self_attention.linear_qkv.weight"))
        #expect(names.contains("decoder.layers.0.mlp.linear_fc1.weight"))
        #expect(names.last == "output_layer.weight")
        #expect(!names.contains { $0.hasSuffix(".bias") })
        let qkv = try #require(model.store.parameter(named: "decoder.layers.0.self_attention.linear_qkv.weight"))
        #expect(qkv.spec.shape == [(4 + 2 * 2) * 4, 16])
        let fc1 = try #require(model.store.parameter(named: "decoder.layers.0.mlp.linear_fc1.weight"))
        #expect(fc1.spec.shape == [48, 16])
        #expect(model.store.layout.count == 64 * 16 * 2 + 2 * (16 + 32 * 16 + 16 * 16 + 16 + 48 * 16 + 16 * 24) + 16)
    }

    @Test func initialisationFollowsMegatron() throws {
        var c = TinyConfigs.gpt2()
        c.hiddenSize = 64
        c.numLayers = 8
        let model = try GPTModel(config: c, backend: b, seed: 3)
        func std(_ name: String) throws -> Double {
            let v = try b.download(try #require(model.store.parameter(named: name)).value)
            let mean = v.map(Double.init).reduce(0, +) / Double(v.count)
            return (v.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        #expect(abs(try std("decoder.layers.0.mlp.linear_fc1.weight") - 0.02) < 0.001)
        // Output projections: 0.02 / sqrt(2 · 8) = 0.005.
        #expect(abs(try std("decoder.layers.0.mlp.linear_fc2.weight") - 0.005) < 0.0003)
        #expect(abs(try std("decoder.layers.3.self_attention.linear_proj.weight") - 0.005) < 0.0003)
        #expect(try b.download(try #require(model.store.parameter(named: "decoder.final_layernorm.weight")).value).allSatisfy { $0 == 1 })
        #expect(try b.download(try #require(model.store.parameter(named: "decoder.layers.0.self_attention.linear_qkv.bias")).value).allSatisfy { $0 == 0 })
    }
}

@Suite("Activation recomputation")
struct RecomputeTests {
    let b = CPUBackend()

    /// Recomputing (with dropout, so the masks must be regenerated exactly) gives the same loss
    /// and the same gradients as keeping every activation.
    @Test(arguments: [RecomputeGranularity.selective, .full])
    func recomputeGivesIdenticalGradients(granularity: RecomputeGranularity) throws {
        var grads: [[Float]] = [], losses: [Float] = []
        for recompute in [nil, granularity] {
            var c = TinyConfigs.gpt2(dropout: 0.2)
            c.recomputeGranularity = recompute
            let model = try GPTModel(config: c, backend: b, seed: 4)
            let batch = try randomBatch(b, vocab: 50, seq: 6, batch: 2, seed: 8)
            let state = try model.forward(batch, dropoutSeed: 21)
            losses.append(try state.loss)
            try model.backward(state, gradientScale: 1)
            grads.append(try b.download(model.store.grads))
        }
        #expect(losses[0] == losses[1])
        #expect(grads[0] == grads[1])
    }
}
