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
