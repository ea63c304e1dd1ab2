import MegatronCPU
import MegatronModels
import MegatronTensor
import MegatronTransformer
import Testing

/// A model split into pipeline stages computes what the whole model computes: the stages'
/// chunks run in pipeline order, activations passed forward and gradients back by hand.
@Suite("GPT model split into pipeline stages")
struct PipelineStageTests {
    let b = CPUBackend()

    /// Whole-model loss and gradients by parameter name.
    private func whole(_ config: TransformerConfig, _ batch: GPTBatch) throws -> (Float, [String: [Float]]) {
        let model = try GPTModel(config: config, backend: b, seed: 7)
        let state = try model.forward(batch, dropoutSeed: 11)
        try model.backward(state, gradientScale: 1)
        return (try state.loss, try gradients(model))
    }

    private func gradients(_ model: GPTModel) throws -> [String: [Float]] {
        var all: [String: [Float]] = [:]
        for spec in model.store.layout.specs {
            all[spec.name] = try b.download(try #require(model.store.parameter(named: spec.name)).grad)
        }
        return all
    }

    /// Runs `parts` (rank → part) as a pipeline over stages in model order and returns the loss
    /// and the summed gradients by name (the tied embedding's two copies add up, as Megatron's
    /// embedding group all-reduce makes them).
    private func staged(_ config: TransformerConfig, _ parts: [ModelPart], _ batch: GPTBatch) throws -> (Float, [String: [Float]]) {
        let models = try parts.map { try GPTModel(config: config, backend: b, seed: 7, part: $0) }
        // Stage order: chunk c of every rank, for c = 0, 1, ...
        let stages = (0..<parts[0].chunks.count).flatMap { c in models.indices.map { (rank: $0, chunk: c) } }
        var x: Tensor?
        var states: [GPTModel.ForwardState] = []
        for stage in stages {
            let state = try models[stage.rank].forward(chunk: stage.chunk, batch, input: x, dropoutSeed: 11)
            states.append(state)
            x = state.output
        }
        var dx: Tensor?
        for (stage, state) in zip(stages, states).reversed() {
            dx = try models[stage.rank].backward(state, outputGradient: dx, gradientScale: 1)
        }
        #expect(dx == nil, "the first stage's backward ends in the embedding")
        var sums: [String: [Float]] = [:]
        for model in models {
            for (name, g) in try gradients(model) {
                sums[name] = sums[name].map { zip($0, g).map { $0 + $1 } } ?? g
            }
        }
        return (try states.last!.loss, sums)
    }

    @Test(arguments: [
        [ModelPart(chunks: [0..<2], embedding: true, output: false), ModelPart(chunks: [2..<4], embedding: false, output: true)],
        [ModelPart(chunks: [0..<1], embedding: true, output: false), ModelPart(chunks: [1..<3], embedding: false, output: false),
         ModelPart(chunks: [3..<4], embedding: false, output: true)],
        // Interleaved: two ranks with two chunks each.
        [ModelPart(chunks: [0..<1, 2..<3], embedding: true, output: false), ModelPart(chunks: [1..<2, 3..<4], embedding: false, output: true)],
    ])
    func stagesComputeTheWholeModel(parts: [ModelPart]) throws {
        for tied in [true, false] {
            var config = TinyConfigs.gpt2(dropout: 0.1)
            config.numLayers = 4
            config.shareEmbeddingsAndOutputWeights = tied
            let batch = try randomBatch(b, vocab: 50, seq: 6, batch: 2, seed: 3)
            let (loss, grads) = try whole(config, batch)
            let (stagedLoss, stagedGrads) = try staged(config, parts, batch)
            #expect(abs(stagedLoss - loss) <= 1e-6 * abs(loss), "tied \(tied): loss \(stagedLoss) vs \(loss)")
            #expect(Set(stagedGrads.keys) == Set(grads.keys))
            for (name, g) in grads {
                let s = try #require(stagedGrads[name])
                let scale = max(g.map(abs).max() ?? 0, 1e-12)
                let worst = zip(s, g).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1e-5 * scale, "tied \(tied): gradient of \(name) differs by \(worst)")
            }
        }
    }

    @Test func aTiedLastStageStartsWithTheEmbeddingsValues() throws {
        var config = TinyConfigs.llama()
        config.numLayers = 2
        config.shareEmbeddingsAndOutputWeights = true
        let first = try GPTModel(config: config, backend: b, seed: 5, part: ModelPart(chunks: [0..<1], embedding: true, output: false))
        let last = try GPTModel(config: config, backend: b, seed: 5, part: ModelPart(chunks: [1..<2], embedding: false, output: true))
        let name = "embedding.word_embeddings.weight"
        #expect(try b.download(try #require(first.store.parameter(named: name)).value)
            == b.download(try #require(last.store.parameter(named: name)).value))
        #expect(last.sharedEmbeddingCopy != nil && first.sharedEmbeddingCopy != nil)
        #expect(throws: TensorError.self) { try last.forward(try randomBatch(b, vocab: 50, seq: 6, batch: 1, seed: 1), dropoutSeed: nil) }
    }
}
