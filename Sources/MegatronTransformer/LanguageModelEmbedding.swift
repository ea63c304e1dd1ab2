import MegatronTensor

/// Word embeddings plus (optionally) learned absolute positions, then dropout.
///
///     let emb = LanguageModelEmbedding(&layout, config)
///     let (x, saved) = try emb.forward(tokens: ids, positions: pos, &rng, store)  // [s, b] → [s, b, h]
public struct LanguageModelEmbedding: Sendable {
    public let config: TransformerConfig
    public let wordEmbeddings: ParameterRef
    public let positionEmbeddings: ParameterRef?
    public let dropout: Dropout

    public struct Saved: Sendable {
        let tokens: Tensor
        let positions: Tensor?
        let dropoutOffset: UInt64?
        let seed: UInt64
    }

    public init(_ layout: inout ParameterLayout, _ config: TransformerConfig) {
        self.config = config
        let std = config.initMethodStd
        wordEmbeddings = layout.declare("embedding.word_embeddings.weight", [config.paddedVocabSize, config.hiddenSize], init: .normal(std: std))
        positionEmbeddings = config.positionEmbeddingType == .learnedAbsolute
            ? layout.declare("embedding.position_embeddings.weight", [config.positionTableSize, config.hiddenSize], init: .normal(std: std))
            : nil
        dropout = Dropout(probability: config.hiddenDropout)
    }

    /// tokens and positions int32 `[s, b]` → `[s, b, h]`.
    public func forward(tokens: Tensor, positions: Tensor?, _ rng: inout DropoutStream, _ store: ParameterStore) throws -> (Tensor, Saved) {
        let b = store.backend
        let (s, batch) = (tokens.shape[0], tokens.shape[1])
        let x = try b.empty([s * batch, config.hiddenSize], dtype: store.computeDType)
        try b.embedding(tokens, table: store.compute(wordEmbeddings), into: x)
        if let positionEmbeddings {
            guard let positions else {
                throw TensorError.invalidArgument(op: "LanguageModelEmbedding", message: "learned absolute positions need position ids")
            }
            let p = try b.empty(x.shape, dtype: store.computeDType)
            try b.embedding(positions, table: store.compute(positionEmbeddings), into: p)
            try b.add(x, p, into: x)
        }
        let (y, offset) = try dropout.forward(x.reshaped([s, batch, config.hiddenSize]), &rng, b)
        return (y, Saved(tokens: tokens, positions: positions, dropoutOffset: offset, seed: rng.seed))
    }

    public func backward(_ dy: Tensor, _ saved: Saved, _ store: ParameterStore) throws {
        let b = store.backend
        let dx = try dropout.backward(dy, offset: saved.dropoutOffset, seed: saved.seed, b)
        let rows = try dx.reshaped([dx.shape.leading, config.hiddenSize])
        try b.embeddingBackward(saved.tokens, dout: rows, into: store.grad(wordEmbeddings))
        if let positionEmbeddings, let positions = saved.positions {
            try b.embeddingBackward(positions, dout: rows, into: store.grad(positionEmbeddings))
        }
    }
}
