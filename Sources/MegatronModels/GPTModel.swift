import MegatronParallel
import MegatronTensor
import MegatronTransformer

/// One micro-batch: token ids and next-token targets, both int32 `[s, b]` (sequence-major, as
/// Megatron's activations), and an optional fp32 loss mask `[s, b]`.
public struct GPTBatch: Sendable {
    public let tokens: Tensor
    public let targets: Tensor
    public let lossMask: Tensor?
    public let positions: Tensor?
    /// Attention segment ids, int32 `[b, s]` (batch-major, unlike the others): a token attends
    /// only to earlier tokens of its own segment (`--reset-attention-mask`); nil: plain causal.
    public let segments: Tensor?

    public init(tokens: Tensor, targets: Tensor, lossMask: Tensor? = nil, positions: Tensor? = nil, segments: Tensor? = nil) {
        self.tokens = tokens
        self.targets = targets
        self.lossMask = lossMask
        self.positions = positions
        self.segments = segments
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
    /// Which layers this rank holds, in chunks, and whether it holds the embedding and the head.
    public let part: ModelPart
    /// nil unless this rank holds the first pipeline stage.
    public let embedding: LanguageModelEmbedding?
    /// This rank's layers, chunk after chunk (all of them without pipeline parallelism).
    public let layers: [TransformerLayer]
    /// nil unless this rank holds the last pipeline stage.
    public let finalLayernorm: Norm?
    /// The output layer `[Vp, h]` (`[Vp/tp, h]`: column-parallel) when it is not the word
    /// embeddings of this rank: untied, or the last stage's copy of the tied embeddings (which
    /// starts equal to them and receives the same gradient, as Megatron's embedding group).
    public let outputLayer: ParameterRef?
    /// The tensor-parallel group the layers are split over (``TensorParallel/none`` on one rank).
    public let tensorParallel: TensorParallel

    public var backend: any Backend { store.backend }

    /// What ``backward(_:gradientScale:)`` needs from a forward pass of one chunk.
    public struct ForwardState: Sendable {
        /// The micro-batch's loss, still on the device (nil unless the chunk ends with the head).
        public let lossValue: MicroBatchLoss?
        /// `[s·b, Vp]` in the compute dtype, rows sequence-major, when the forward was asked to
        /// keep them; nil when the buffer already holds the logits' gradient (the fused classifier).
        public let logits: Tensor?
        /// The chunk's output `[s, b, h]` (`[s/tp, b, h]` under sequence parallelism) for the next
        /// pipeline stage; nil when the chunk ends with the head.
        public let output: Tensor?
        let chunk: Int
        let batch: GPTBatch
        let embedding: LanguageModelEmbedding.Saved?
        let layers: [TransformerLayer.Saved]
        let layerInputs: Tensor      // output of the chunk's last layer [s, b, h]
        let head: HeadState?

        /// Mean loss over unmasked tokens of this micro-batch (downloads the per-token losses).
        public var loss: Float {
            get throws {
                guard let lossValue else {
                    throw TensorError.invalidArgument(op: "GPTModel", message: "chunk \(chunk) of this rank computes no loss")
                }
                return try lossValue.value()
            }
        }
        /// Unmasked tokens in the micro-batch.
        public var tokenCount: Float { lossValue?.tokenCount ?? 0 }
    }

    /// The final norm, output layer and loss of a forward, for their backward.
    struct HeadState: Sendable {
        let finalNorm: Norm.Saved
        let normed: Tensor           // [T, h], whole sequence (gathered under sequence parallelism)
        /// The logits, or (fused) `lossWeights[i] · ∂loss_i/∂logits`: the backward's dlogits buffer.
        let classifier: Tensor       // [T, Vp]
        let gradientReady: Bool
        let lossWeights: Tensor      // [T]: mask / tokenCount
        /// Each row's log-sum-exp over the whole vocabulary, for a vocabulary-parallel backward.
        let lse: Tensor?
    }

    /// Validates the config, declares every parameter of `part` (the whole model by default)
    /// and allocates them (initialised from `seed`; each parameter draws the values it has in the
    /// whole model). `padParametersToMultipleOf` pads the flat parameter buffers (the
    /// distributed optimizer's even shards over the data-parallel ranks). With
    /// `config.tensorModelParallelSize` > 1, `tensorParallelGroup` (of that size) is the group
    /// this rank's shard of every layer is split over; each rank holds exactly its part of the
    /// model one rank would initialise.
    public init(config: TransformerConfig, backend: any Backend, seed: UInt64, computeDType: DType = .fp32,
                padParametersToMultipleOf padding: Int = 1, tensorParallelGroup: (any ProcessGroup)? = nil,
                part: ModelPart? = nil) throws {
        let config = try config.validated()
        guard (tensorParallelGroup?.size ?? 1) == config.tensorModelParallelSize else {
            throw TensorError.invalidArgument(
                op: "GPTModel", message: "a tensor-parallel group of \(tensorParallelGroup?.size ?? 1) ranks for "
                    + "--tensor-model-parallel-size \(config.tensorModelParallelSize)")
        }
        let part = part ?? .whole(numLayers: config.numLayers)
        guard part.chunks.allSatisfy({ $0.lowerBound >= 0 && $0.upperBound <= config.numLayers }) else {
            throw TensorError.invalidArgument(op: "GPTModel", message: "layer chunks \(part.chunks) outside the model's \(config.numLayers) layers")
        }
        let tp = TensorParallel(group: tensorParallelGroup, sequenceParallel: config.sequenceParallel)
        self.config = config
        self.part = part
        tensorParallel = tp
        var layout = ParameterLayout()
        let embedding = part.embedding ? LanguageModelEmbedding(&layout, config, tp) : nil
        self.embedding = embedding
        layers = part.chunks.flatMap { chunk in chunk.map { TransformerLayer(&layout, layerNumber: $0, config, tp) } }
        finalLayernorm = part.output ? Norm(&layout, "decoder.final_layernorm", config) : nil
        let outputShape: Shape = [config.paddedVocabSize, config.hiddenSize]
        let outputShard: ParameterShard? = tp.size > 1 ? .rowBlock(outputShape, part: tp.rank, of: tp.size) : nil
        if !part.output || (config.shareEmbeddingsAndOutputWeights && embedding != nil) {
            outputLayer = nil
        } else {
            // A tied last stage holds its own copy under the word embeddings' name, so it draws
            // the same initial values.
            let name = config.shareEmbeddingsAndOutputWeights ? "embedding.word_embeddings.weight" : "output_layer.weight"
            outputLayer = layout.declare(name, outputShape, init: .normal(std: config.initMethodStd), shard: outputShard)
        }
        store = try ParameterStore(layout: layout, backend: backend, seed: seed, computeDType: computeDType, padToMultipleOf: padding)
    }

    /// The output weight: the output layer, or the tied word embeddings.
    private var outputWeight: ParameterRef? { outputLayer ?? embedding?.wordEmbeddings }

    /// The first vocabulary row of this rank's block of the output layer (its logits' column 0).
    private var vocabStart: Int {
        outputWeight.flatMap { store.layout.specs[$0.index].shard?.rows.first?.lowerBound } ?? 0
    }

    /// This rank's layers of chunk `chunk`, as indices into ``layers``.
    private func layerIndices(_ chunk: Int) -> Range<Int> {
        let start = part.chunks[..<chunk].reduce(0) { $0 + $1.count }
        return start..<start + part.chunks[chunk].count
    }

    /// The tied output weight's copy on the last stage (nil unless pipeline stages split a tied
    /// model): its gradient must be summed with the first stage's word-embedding gradient.
    public var sharedEmbeddingCopy: ParameterRef? {
        config.shareEmbeddingsAndOutputWeights ? (embedding?.wordEmbeddings ?? outputLayer) : nil
    }

    /// Runs the whole model on one micro-batch and returns the loss with what the backward
    /// needs. `dropoutSeed` seeds this pass's dropout masks; nil evaluates without dropout.
    /// Unless `keepLogits` (or in fp16), the classifier's backward runs here too (one fused pass
    /// over the logits, whose buffer then holds their gradient): the state's `logits` is nil then.
    /// `parametersNeeded`, when given, is told before each part of the model runs that it needs
    /// every parameter below that flat offset (nil: all of them), so an overlapped parameter
    /// all-gather can be waited for part by part.
    public func forward(_ batch: GPTBatch, dropoutSeed: UInt64?, keepLogits: Bool = false,
                        parametersNeeded: ((Int?) throws -> Void)? = nil) throws -> ForwardState {
        guard part.chunks.count == 1, part.embedding, part.output else {
            throw TensorError.invalidArgument(op: "GPTModel.forward", message: "this rank holds a pipeline stage: use forward(chunk:)")
        }
        return try forward(chunk: 0, batch, input: nil, dropoutSeed: dropoutSeed, keepLogits: keepLogits,
                           parametersNeeded: parametersNeeded)
    }

    /// Runs chunk `chunk` of this rank on one micro-batch: from the tokens when the chunk starts
    /// with the embedding, else from `input` (the previous stage's output `[s, b, h]`, or
    /// `[s/tp, b, h]` under sequence parallelism), to the loss when it ends with the head, else
    /// to ``ForwardState/output``. `batch` supplies the tokens, targets and masks as needed.
    public func forward(chunk: Int, _ batch: GPTBatch, input: Tensor?, dropoutSeed: UInt64?, keepLogits: Bool = false,
                        parametersNeeded: ((Int?) throws -> Void)? = nil) throws -> ForwardState {
        guard batch.tokens.shape.rank == 2 else {
            throw TensorError.shapeMismatch(op: "GPTModel.forward", expected: "tokens [s, b]", got: batch.tokens.shape)
        }
        try batch.targets.expect(batch.tokens.shape, "GPTModel.forward targets")
        if let segments = batch.segments {
            try segments.expect([batch.tokens.shape[1], batch.tokens.shape[0]], "GPTModel.forward segments [b, s]")
        }
        let first = chunk == 0 && part.embedding, last = chunk == part.chunks.count - 1 && part.output
        let indices = layerIndices(chunk)
        var x: Tensor
        var embSaved: LanguageModelEmbedding.Saved?
        if first, let embedding {
            var rng = DropoutStream(seed: dropoutSeed ?? 0, enabled: dropoutSeed != nil)
            let positions = try batch.positions ?? (embedding.positionEmbeddings == nil ? nil : sequencePositions(like: batch.tokens))
            try parametersNeeded?(indices.first.map { layers[$0].firstParameterOffset(store) })
            (x, embSaved) = try embedding.forward(tokens: batch.tokens, positions: positions, &rng, store)
        } else {
            guard let input else {
                throw TensorError.invalidArgument(op: "GPTModel.forward", message: "chunk \(chunk) needs the previous stage's activations")
            }
            x = input
        }
        var saved: [TransformerLayer.Saved] = []
        saved.reserveCapacity(indices.count)
        for i in indices {
            try parametersNeeded?(i + 1 < layers.count ? layers[i + 1].firstParameterOffset(store) : nil)
            // Each layer draws from a stream of its own, whichever stage runs it.
            var rng = DropoutStream(seed: Self.layerSeed(dropoutSeed, layer: layers[i].layerNumber), enabled: dropoutSeed != nil)
            let (y, s) = try layers[i].forward(x, &rng, store, segments: batch.segments)
            saved.append(s)
            x = y
        }
        guard last else {
            return ForwardState(lossValue: nil, logits: nil, output: x, chunk: chunk, batch: batch, embedding: embSaved,
                                layers: saved, layerInputs: x, head: nil)
        }
        let (loss, logits, head) = try headForward(x, batch, keepLogits: keepLogits)
        return ForwardState(lossValue: loss, logits: logits, output: nil, chunk: chunk, batch: batch, embedding: embSaved,
                            layers: saved, layerInputs: x, head: head)
    }

    /// The dropout seed of layer `layer` in a pass seeded `seed`.
    static func layerSeed(_ seed: UInt64?, layer: Int) -> UInt64 {
        mixSeed((seed ?? 0) ^ mixSeed(UInt64(layer) &+ 1))
    }

    /// Final norm, output layer and loss over the last layer's output `x`.
    private func headForward(_ x: Tensor, _ batch: GPTBatch, keepLogits: Bool) throws -> (MicroBatchLoss, Tensor?, HeadState) {
        let b = backend
        guard let finalLayernorm, let outputWeight else {
            throw TensorError.invalidArgument(op: "GPTModel.forward", message: "this rank holds no output layer")
        }
        let (normed, normSaved) = try finalLayernorm.forward(x, store)
        let rows = batch.tokens.count
        // The output layer is column-parallel: every rank scores its vocabulary block.
        let normed2 = try tensorParallel.gather(normed.reshaped([normed.shape.leading, config.hiddenSize]), b)  // [T, h]
        let logits = try b.empty([rows, config.paddedVocabSize / tensorParallel.size], dtype: store.computeDType)
        try b.gemm(normed2, store.compute(outputWeight), into: logits, transposeB: true)

        // Loss weights mask/tokenCount; the host needs the mask only when there is one.
        let mask = try batch.lossMask.map { try b.download($0) }
        if let mask, mask.count != rows {
            throw TensorError.shapeMismatch(op: "GPTModel.forward loss mask", expected: "\(rows) elements", got: batch.lossMask?.shape ?? [])
        }
        let tokenCount = mask?.reduce(0, +) ?? Float(rows)
        let weights: Tensor
        if let mask {
            weights = try b.tensor(mask.map { tokenCount > 0 ? $0 / tokenCount : 0 }, shape: [rows])
        } else {
            weights = try b.empty([rows], dtype: .fp32)
            try b.fill(weights, 1 / Float(rows))
        }
        let losses = try b.empty([rows], dtype: .fp32)
        // fp16 cannot hold the unscaled logits' gradient (weights ~1/T flush it to zero): its
        // backward applies the loss scale first, so the classifier is not fused there.
        let fuse = !keepLogits && store.computeDType != .fp16
        var lse: Tensor?
        if let group = tensorParallel.group, group.size > 1 {
            lse = try vocabularyParallelLoss(logits, targets: batch.targets, vocabStart: vocabStart, group: group, into: losses)
            if let lse, fuse {
                try b.crossEntropyShardBackward(logits, targets: batch.targets, vocabStart: vocabStart, lse: lse,
                                                weights: weights, into: logits)
            }
        } else if fuse {
            try b.crossEntropyFused(logits, targets: batch.targets, weights: weights, losses: losses)
        } else {
            try b.crossEntropy(logits, targets: batch.targets, losses: losses)
        }
        let head = HeadState(finalNorm: normSaved, normed: normed2, classifier: logits, gradientReady: fuse,
                             lossWeights: weights, lse: lse)
        return (MicroBatchLoss(losses: losses, mask: mask, tokenCount: tokenCount, backend: b), fuse ? nil : logits, head)
    }

    /// Megatron's vocabulary-parallel cross-entropy over this rank's logits `[T, Vp/tp]`: each
    /// rank's row statistics (max, Σ exp, target logit) are all-gathered and combined into every
    /// row's loss. Returns the rows' log-sum-exp for the gradient.
    private func vocabularyParallelLoss(_ logits: Tensor, targets: Tensor, vocabStart: Int, group: any ProcessGroup,
                                        into losses: Tensor) throws -> Tensor {
        let b = backend, rows = logits.shape.leading
        let partials = try b.empty([rows, 3], dtype: .fp32)
        try b.crossEntropyPartials(logits, targets: targets, vocabStart: vocabStart, vocabSize: config.paddedVocabSize,
                                   into: partials)
        let all = try b.empty([group.size, rows, 3], dtype: .fp32)
        try group.allGather(partials, into: all)
        let lse = try b.empty([rows], dtype: .fp32)
        try b.crossEntropyCombine(all, lse: lse, losses: losses)
        return lse
    }

    /// Position ids `[s, b]` holding each token's index in its sequence.
    private func sequencePositions(like tokens: Tensor) throws -> Tensor {
        let (s, batch) = (tokens.shape[0], tokens.shape[1])
        return try backend.tensor(int32: (0..<s * batch).map { Int32($0 / batch) }, shape: tokens.shape)
    }

    /// Consumes `state` (its logits buffer becomes the logits' gradient) and accumulates
    /// `gradientScale · ∂loss/∂θ` into the store's gradients (scale 1/m over m
    /// micro-batches gives the gradient of the mean loss).
    ///
    /// `gradientsFinal`, when given, is told as the backward goes which gradients are complete:
    /// every flat offset from the reported one upwards (the layout puts later layers at higher
    /// offsets, and the backward visits them first), so their data-parallel reduction can start.
    public func backward(_ state: ForwardState, gradientScale: Float, gradientsFinal: ((Int) throws -> Void)? = nil) throws {
        _ = try backward(state, outputGradient: nil, gradientScale: gradientScale, gradientsFinal: gradientsFinal)
    }

    /// The backward of one chunk's forward: from the loss when the chunk ends with the head, else
    /// from `outputGradient` (the next stage's gradient of this chunk's output). Returns the
    /// gradient of the chunk's input for the previous stage (nil when the chunk starts with the
    /// embedding). `gradientScale` scales the loss's gradient (the head only).
    public func backward(_ state: ForwardState, outputGradient: Tensor?, gradientScale: Float,
                         gradientsFinal: ((Int) throws -> Void)? = nil) throws -> Tensor? {
        var dx: Tensor
        if let head = state.head {
            dx = try headBackward(head, state, gradientScale: gradientScale)
        } else if let outputGradient {
            dx = outputGradient
        } else {
            throw TensorError.invalidArgument(op: "GPTModel.backward", message: "chunk \(state.chunk) needs the next stage's gradient")
        }
        for (i, saved) in zip(layerIndices(state.chunk), state.layers).reversed() {
            dx = try layers[i].backward(dx, saved, store)
            try gradientsFinal?(layers[i].firstParameterOffset(store))
        }
        guard let embedding, let embSaved = state.embedding else { return dx }
        try embedding.backward(dx, embSaved, store)
        try gradientsFinal?(0)
        return nil
    }

    /// The loss's gradient through the output layer and final norm: the last layer's output gradient.
    private func headBackward(_ head: HeadState, _ state: ForwardState, gradientScale: Float) throws -> Tensor {
        let b = backend
        guard let finalLayernorm, let outputWeight else {
            throw TensorError.invalidArgument(op: "GPTModel.backward", message: "this rank holds no output layer")
        }
        let dlogits = head.classifier  // [T, Vp]
        // The fused classifier left lossWeights · ∂loss/∂logits there, and gradientScale rides on
        // the GEMMs' alpha; otherwise the scale goes into the weights before the softmax backward.
        var alpha = gradientScale
        if !head.gradientReady {
            try b.scale(head.lossWeights, by: gradientScale)
            if let lse = head.lse {
                try b.crossEntropyShardBackward(dlogits, targets: state.batch.targets, vocabStart: vocabStart, lse: lse,
                                                weights: head.lossWeights, into: dlogits)
            } else {
                try b.crossEntropyBackward(dlogits, targets: state.batch.targets, dloss: head.lossWeights, into: dlogits)
            }
            alpha = 1
        }
        // The input gradient first, so its reduction over the tensor-parallel group overlaps the
        // weight gradient.
        let dnormedPartial = try b.empty(head.normed.shape, dtype: store.computeDType)
        try b.gemm(dlogits, store.compute(outputWeight), into: dnormedPartial, transposeA: false, transposeB: false,
                   alpha: alpha, beta: 0)
        let (dnormed, pending) = try tensorParallel.startReduce(dnormedPartial, b)
        try b.gemm(dlogits, head.normed, into: store.grad(outputWeight), transposeA: true, transposeB: false,
                   alpha: alpha, beta: 1)
        try withExtendedLifetime(dnormedPartial) { try pending.wait() }
        let dx = try b.zeros(state.layerInputs.shape, dtype: store.computeDType)
        try finalLayernorm.backward(dnormed, input: state.layerInputs, head.finalNorm, accumulateInto: dx, store)
        return dx
    }
}

/// The part of a GPT one pipeline rank builds: its model chunks (global layer ranges, one per
/// virtual stage, in order), and whether it holds the embedding (the first stage, before chunk
/// 0) and the final norm, output layer and loss (the last stage, after the last chunk).
///
///     let part = ModelPart(chunks: [0..<6], embedding: true, output: false)   // stage 0 of 2
public struct ModelPart: Sendable, Equatable {
    public let chunks: [Range<Int>]
    public let embedding: Bool
    public let output: Bool

    public init(chunks: [Range<Int>], embedding: Bool, output: Bool) {
        self.chunks = chunks
        self.embedding = embedding
        self.output = output
    }

    /// Every layer, embedding and head: no pipeline parallelism.
    public static func whole(numLayers: Int) -> ModelPart { ModelPart(chunks: [0..<numLayers], embedding: true, output: true) }
}

extension GPTModel {
    /// Flat-buffer runs of consecutive parameters for which `include` holds.
    private func runs(where include: (ParameterSpec) -> Bool) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for spec in store.layout.specs where include(spec) && spec.shape.count > 0 {
            let r = spec.offset..<spec.offset + spec.shape.count
            if let last = runs.last, last.upperBound == r.lowerBound {
                runs[runs.count - 1] = last.lowerBound..<r.upperBound
            } else {
                runs.append(r)
            }
        }
        return runs
    }

    /// The flat-buffer ranges whose gradients this rank counts in the global gradient norm:
    /// every parameter on tensor-parallel rank 0, only the split ones on the others, so a
    /// parameter every rank holds whole is counted once (Megatron's
    /// `param_is_not_tensor_parallel_duplicate`).
    public var gradientNormRanges: [Range<Int>] {
        tensorParallel.rank == 0 ? [0..<store.layout.count] : runs { $0.shard != nil }
    }

    /// Under sequence parallelism, sums over the tensor-parallel group the gradients of the
    /// parameters every rank holds whole (norms, row-parallel biases, position embeddings): each
    /// rank's backward saw only its slice of the sequence. Call once the backward is done.
    public func reduceSequenceParallelGradients() throws {
        guard tensorParallel.sequenceParallel, let group = tensorParallel.group else { return }
        for run in runs(where: { $0.shard == nil }) {
            try group.allReduce(store.grads.view(offset: run.lowerBound, shape: [run.count]), op: .sum)
        }
    }
}

/// A micro-batch's loss left on the device until it is read, so a training step queues
/// forward and backward without waiting for the GPU.
public struct MicroBatchLoss: Sendable {
    let losses: Tensor   // [T] fp32 per-token losses
    let mask: [Float]?   // nil: every token counts
    /// Unmasked tokens in the micro-batch.
    public let tokenCount: Float
    let backend: any Backend

    /// Mean loss over unmasked tokens (waits for the device).
    public func value() throws -> Float {
        guard tokenCount > 0 else { return 0 }
        let values = try backend.download(losses)
        var total = 0.0
        if let mask {
            for (loss, m) in zip(values, mask) { total += Double(loss) * Double(m) }
        } else {
            for loss in values { total += Double(loss) }
        }
        return Float(total / Double(tokenCount))
    }
}
