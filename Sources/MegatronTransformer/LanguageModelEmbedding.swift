import MegatronTensor

/// Word embeddings plus (optionally) learned absolute positions, then dropout. Under tensor
/// parallelism the word embeddings are vocabulary-parallel: each rank holds a block of rows,
/// looks up the tokens it owns (zeros for the others), and the partial rows are summed over the
/// group (reduce-scattered along the sequence under sequence parallelism).
///
///     let emb = LanguageModelEmbedding(&layout, config)
///     let (x, saved) = try emb.forward(tokens: ids, positions: pos, &rng, store)  // [s, b] → [s, b, h]
public struct LanguageModelEmbedding: Sendable {
    public let config: TransformerConfig
    public let wordEmbeddings: ParameterRef
    public let positionEmbeddings: ParameterRef?
    public let dropout: Dropout
    public let tensorParallel: TensorParallel
    /// The first vocabulary row this rank holds.
    public let vocabStart: Int

    public struct Saved: Sendable {
        let tokens: Tensor
        let positions: Tensor?   // this rank's rows under sequence parallelism
        let dropoutOffset: UInt64?
        let seed: UInt64
    }

    public init(_ layout: inout ParameterLayout, _ config: TransformerConfig, _ tp: TensorParallel = .none) {
        self.config = config
        tensorParallel = tp
        let std = config.initMethodStd
        let table: Shape = [config.paddedVocabSize, config.hiddenSize]
        let shard = tp.size > 1 ? ParameterShard.rowBlock(table, part: tp.rank, of: tp.size) : nil
        vocabStart = shard?.rows[0].lowerBound ?? 0
        wordEmbeddings = layout.declare("embedding.word_embeddings.weight", table, init: .normal(std: std), shard: shard)
        positionEmbeddings = config.positionEmbeddingType == .learnedAbsolute
            ? layout.declare("embedding.position_embeddings.weight", [config.positionTableSize, config.hiddenSize], init: .normal(std: std))
            : nil
        dropout = Dropout(probability: config.hiddenDropout, tp)
    }

    /// tokens and positions int32 `[s, b]` → `[s, b, h]` (`[s/tp, b, h]` under sequence parallelism).
    public func forward(tokens: Tensor, positions: Tensor?, _ rng: inout DropoutStream, _ store: ParameterStore) throws -> (Tensor, Saved) {
        let b = store.backend
        let (s, batch) = (tokens.shape[0], tokens.shape[1])
        let partial = try b.empty([s, batch, config.hiddenSize], dtype: store.computeDType)
        try b.embedding(tokens, table: store.compute(wordEmbeddings), vocabStart: vocabStart, vocabSize: config.paddedVocabSize,
                        into: partial.reshaped([s * batch, config.hiddenSize]))
        let x = try tensorParallel.reduce(partial, b)  // [s', b, h]
        var localPositions: Tensor?
        if let positionEmbeddings {
            guard let positions else {
                throw TensorError.invalidArgument(op: "LanguageModelEmbedding", message: "learned absolute positions need position ids")
            }
            let rows = x.shape.leading
            let mine = try positions.view(offset: tensorParallel.sequenceParallel ? tensorParallel.rank * rows : 0, shape: [rows])
            let p = try b.empty([rows, config.hiddenSize], dtype: store.computeDType)
            try b.embedding(mine, table: store.compute(positionEmbeddings), into: p)
            try b.add(x, p, into: x)
            localPositions = mine
        }
        let (y, offset) = try dropout.forward(x, &rng, b)
        return (y, Saved(tokens: tokens, positions: localPositions, dropoutOffset: offset, seed: rng.seed))
    }

    public func backward(_ dy: Tensor, _ saved: Saved, _ store: ParameterStore) throws {
        let b = store.backend
        let dx = try dropout.backward(dy, offset: saved.dropoutOffset, seed: saved.seed, b)
        let rows = try dx.reshaped([dx.shape.leading, config.hiddenSize])
        if let positionEmbeddings, let positions = saved.positions {
            try b.embeddingBackward(positions, dout: rows, into: store.grad(positionEmbeddings))
        }
        try b.embeddingBackward(saved.tokens, dout: tensorParallel.gather(rows, b), vocabStart: vocabStart,
                                vocabSize: config.paddedVocabSize, into: store.grad(wordEmbeddings))
    }
}
