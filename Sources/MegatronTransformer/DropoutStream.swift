import MegatronTensor

/// Hands out disjoint ranges of one Philox stream to the dropout sites of a forward pass, so
/// a mask can be regenerated exactly in the backward (or a recomputed forward).
///
///     var rng = DropoutStream(seed: 1234)
///     let offset = rng.take(x.count)
public struct DropoutStream: Sendable {
    public let seed: UInt64
    /// False in evaluation: every dropout site is the identity.
    public let enabled: Bool
    public private(set) var offset: UInt64 = 0

    public init(seed: UInt64, enabled: Bool = true) {
        self.seed = seed
        self.enabled = enabled
    }

    /// Reserves `count` consecutive counters and returns the first.
    public mutating func take(_ count: Int) -> UInt64 {
        defer { offset &+= UInt64(count) }
        return offset
    }

    /// A seed for a site that needs a whole stream of its own (attention dropout), unique per call.
    public mutating func takeSeed() -> UInt64 {
        mixSeed(seed ^ mixSeed(take(1)))
    }
}

/// Dropout on a tensor with a mask drawn from a ``DropoutStream``; identity when `p == 0`.
/// Under sequence parallelism the tensor is this rank's slice of the sequence, and its mask is
/// that slice of the whole sequence's mask, so every layout drops the same elements.
public struct Dropout: Sendable {
    public let probability: Float
    /// Which slice of the sequence the tensors are: (this rank, of how many).
    let slice: (index: Int, count: Int)

    public init(probability: Float, _ tp: TensorParallel = .none) {
        self.probability = probability
        slice = tp.sequenceParallel ? (tp.rank, tp.size) : (0, 1)
    }

    /// Returns the output and the stream offset its mask used (nil when nothing was dropped).
    public func forward(_ x: Tensor, _ rng: inout DropoutStream, _ backend: any Backend) throws -> (Tensor, UInt64?) {
        guard probability > 0, rng.enabled else { return (x, nil) }
        let offset = rng.take(x.count * slice.count) + UInt64(x.count * slice.index)
        let y = try backend.empty(x.shape, dtype: x.dtype)
        try backend.dropout(x, into: y, probability: probability, seed: rng.seed, offset: offset)
        return (y, offset)
    }

    /// The same mask and scale applied to the incoming gradient.
    public func backward(_ dy: Tensor, offset: UInt64?, seed: UInt64, _ backend: any Backend) throws -> Tensor {
        guard let offset else { return dy }
        let dx = try backend.empty(dy.shape, dtype: dy.dtype)
        try backend.dropout(dy, into: dx, probability: probability, seed: seed, offset: offset)
        return dx
    }
}
