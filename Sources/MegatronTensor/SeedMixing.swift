/// SplitMix64's finaliser: spreads a counter or a combination of seeds over all 64 bits, so
/// nearby inputs (iteration 1, 2, …) give unrelated seeds for independent Philox streams.
///
///     let seed = mixSeed(baseSeed &+ UInt64(iteration))
@inlinable
public func mixSeed(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// SplitMix64 as a generator: tiny, seedable and the same on every platform (unlike
/// `SystemRandomNumberGenerator`), for reproducible shuffles and seeded test data.
///
///     var rng = SplitMix64(seed: 42)
///     let x = Int.random(in: 0..<10, using: &rng)
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        let out = mixSeed(state)
        state &+= 0x9E37_79B9_7F4A_7C15
        return out
    }
}
