import MegatronTensor

/// Hands out disjoint ranges of one Philox stream to the dropout sites of a forward pass, so
/// a mask can be regenerated exactly in the backward (or a recomputed forward).
///
///     var rng = DropoutStream(seed: 1234)
///     let offset = rng.take(x.count)
public struct DropoutStream: Sendable {
    public let seed: UInt64
    public private(set) var offset: UInt64 = 0

    public init(seed: UInt64, offset: UInt64 = 0) {
        self.seed = seed
        self.offset = offset
    }

    /// Reserves `count` consecutive counters and returns the first.
    public mutating func take(_ count: Int) -> UInt64 {
        defer { offset &+= UInt64(count) }
        return offset
    }

    /// A seed for a site that needs a whole stream of its own (attention dropout), unique per call.
    public mutating func takeSeed() -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (take(1) &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Dropout on a tensor with a mask drawn from a ``DropoutStream``; identity when `p == 0`.
public struct Dropout: Sendable {
    public let probability: Float

    public init(probability: Float) { self.probability = probability }

    /// Returns the output and the stream offset its mask used.
    public func forward(_ x: Tensor, _ rng: inout DropoutStream, _ backend: any Backend) throws -> (Tensor, UInt64) {
        guard probability > 0 else { return (x, 0) }
        let offset = rng.take(x.count)
        let y = try backend.empty(x.shape, dtype: x.dtype)
        try backend.dropout(x, into: y, probability: probability, seed: rng.seed, offset: offset)
        return (y, offset)
    }

    /// The same mask and scale applied to the incoming gradient.
    public func backward(_ dy: Tensor, offset: UInt64, seed: UInt64, _ backend: any Backend) throws -> Tensor {
        guard probability > 0 else { return dy }
        let dx = try backend.empty(dy.shape, dtype: dy.dtype)
        try backend.dropout(dy, into: dx, probability: probability, seed: seed, offset: offset)
        return dx
    }
}
