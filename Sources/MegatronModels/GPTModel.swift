import MegatronTensor
import MegatronTransformer

/// One micro-batch: token ids and next-token targets, both int32 `[s, b]` (sequence-major, as
/// Megatron's activations), and an optional fp32 loss mask `[s, b]`.
public struct GPTBatch: Sendable {
    public let tokens: Tensor
    public let targets: Tensor
    public let lossMask: Tensor?
    public let positions: Tensor?

    public init(tokens: Tensor, targets: Tensor, lossMask: Tensor? = nil, positions: Tensor? = nil) {
        self.tokens = tokens
        self.targets = targets
        self.lossMask = lossMask
        self.positions = positions
    }
}

/// A decoder-only GPT in Megatron Core's structure (embedding, `decoder.layers.N`,
/// `decoder.final_layernorm`, `output_layer`), covering the GPT-2 and Llama families through
/// ``TransformerConfig``. Parameters live in one flat ``ParameterStore``.
///
///     let model = try GPTModel(config: .gpt2(numLayers: 2, hiddenSize: 64, numAttentionHeads: 4, vocabSize: 256, seqLength: 32),
///                              backend: CPUBackend(), seed: 1234)
///     let step = try model.forward(batch, dropoutSeed: 1)
///     try model.backward(step, gradientScale: 1)
public final class GPTModel: @unchecked Sendable {
    // Sendable: all stored properties are immutable after init.
    public let config: TransformerConfig
    public let store: ParameterStore
    public let embedding: LanguageModelEmbedding
    public let layers: [TransformerLayer]
    public let finalLayernorm: Norm
    /// The untied output layer `[Vp, h]`; nil when tied to the word embeddings.
    public let outputLayer: ParameterRef?

    public var backend: any Backend { store.backend }

    /// What ``backward(_:gradientScale:)`` needs from a forward pass.
    public struct ForwardState: Sendable {
        /// Mean loss over unmasked tokens of this micro-batch.
        public let loss: Float
        /// Unmasked tokens in the micro-batch.
        public let tokenCount: Float
        let batch: GPTBatch
        let embedding: LanguageModelEmbedding.Saved
        let layers: [TransformerLayer.Saved]
        let layerInputs: Tensor      // output of the last layer [s, b, h]
        let finalNorm: Norm.Saved
        let normed: Tensor           // [T, h]
        /// `[s·b, Vp]` fp32, rows sequence-major; overwritten by the backward.
        public let logits: Tensor
        let lossWeights: Tensor      // [T]: mask / tokenCount
    }

    /// Validates the config, declares every parameter and allocates them (initialised from `seed`).
    public init(config: TransformerConfig, backend: any Backend, seed: UInt64, computeDType: DType = .fp32) throws {
        let config = try config.validated()
        self.config = config
        var layout = ParameterLayout()
        embedding = LanguageModelEmbedding(&layout, config)
        layers = (0..<config.numLayers).map { TransformerLayer(&layout, layerNumber: $0, config) }
        finalLayernorm = Norm(&layout, "decoder.final_layernorm", config)
        outputLayer = config.shareEmbeddingsAndOutputWeights
            ? nil
            : layout.declare("output_layer.weight", [config.paddedVocabSize, config.hiddenSize], init: .normal(std: config.initMethodStd))
        store = try ParameterStore(layout: layout, backend: backend, seed: seed, computeDType: computeDType)
    }

    private var outputWeight: ParameterRef { outputLayer ?? embedding.wordEmbeddings }

    /// Runs the model on one micro-batch and returns the loss with what the backward needs.
    /// `dropoutSeed` seeds this pass's dropout masks; nil evaluates without dropout.
    public func forward(_ batch: GPTBatch, dropoutSeed: UInt64?) throws -> ForwardState {
        let b = backend
        guard batch.tokens.shape.rank == 2 else {
            throw TensorError.shapeMismatch(op: "GPTModel.forward", expected: "tokens [s, b]", got: batch.tokens.shape)
        }
        try batch.targets.expect(batch.tokens.shape, "GPTModel.forward targets")
        var rng = DropoutStream(seed: dropoutSeed ?? 0, enabled: dropoutSeed != nil)
        let positions = try batch.positions ?? (embedding.positionEmbeddings == nil ? nil : sequencePositions(like: batch.tokens))
        var (x, embSaved) = try embedding.forward(tokens: batch.tokens, positions: positions, &rng, store)
        var saved: [TransformerLayer.Saved] = []
        saved.reserveCapacity(layers.count)
        for layer in layers {
            let (y, s) = try layer.forward(x, &rng, store)
            saved.append(s)
            x = y
        }
        let (normed, normSaved) = try finalLayernorm.forward(x, store)
        let rows = batch.tokens.count
        let normed2 = try normed.reshaped([rows, config.hiddenSize])
        let logits = try b.empty([rows, config.paddedVocabSize], dtype: store.computeDType)
        try b.gemm(normed2, store.compute(outputWeight), into: logits, transposeB: true)
        let losses = try b.empty([rows], dtype: .fp32)
        try b.crossEntropy(logits, targets: batch.targets, losses: losses)

        let lossValues = try b.download(losses)
        let mask = try batch.lossMask.map { try b.download($0) } ?? [Float](repeating: 1, count: rows)
        guard mask.count == rows else {
            throw TensorError.shapeMismatch(op: "GPTModel.forward loss mask", expected: "\(rows) elements", got: batch.lossMask?.shape ?? [])
        }
        let tokenCount = mask.reduce(0, +)
        var total = 0.0
        for i in 0..<rows { total += Double(lossValues[i]) * Double(mask[i]) }
        let weights = try b.tensor(mask.map { tokenCount > 0 ? $0 / tokenCount : 0 }, shape: [rows])
        return ForwardState(loss: tokenCount > 0 ? Float(total / Double(tokenCount)) : 0, tokenCount: tokenCount,
                            batch: batch, embedding: embSaved, layers: saved, layerInputs: x, finalNorm: normSaved,
                            normed: normed2, logits: logits, lossWeights: weights)
    }

    /// Position ids `[s, b]` holding each token's index in its sequence.
    private func sequencePositions(like tokens: Tensor) throws -> Tensor {
        let (s, batch) = (tokens.shape[0], tokens.shape[1])
        return try backend.tensor(int32: (0..<s * batch).map { Int32($0 / batch) }, shape: tokens.shape)
    }

    /// Consumes `state` (its logits buffer becomes the logits' gradient) and accumulates
    /// `gradientScale · ∂loss/∂θ` into the store's gradients (scale 1/m over m
    /// micro-batches gives the gradient of the mean loss).
    public func backward(_ state: ForwardState, gradientScale: Float) throws {
        let b = backend
        try b.scale(state.lossWeights, by: gradientScale)
        // The logits buffer is reused for its gradient.
        try b.crossEntropyBackward(state.logits, targets: state.batch.targets, dloss: state.lossWeights, into: state.logits)
        let dlogits = state.logits
        try b.gemm(dlogits, state.normed, into: store.grad(outputWeight), transposeA: true, transposeB: false, alpha: 1, beta: 1)
        let dnormed = try b.empty(state.normed.shape, dtype: store.computeDType)
        try b.gemm(dlogits, store.compute(outputWeight), into: dnormed)
        var dx = try b.zeros(state.layerInputs.shape, dtype: store.computeDType)
        try finalLayernorm.backward(dnormed, input: state.layerInputs, state.finalNorm, accumulateInto: dx, store)
        for (layer, saved) in zip(layers, state.layers).reversed() {
            dx = try layer.backward(dx, saved, store)
        }
        try embedding.backward(dx, state.embedding, store)
    }
}
