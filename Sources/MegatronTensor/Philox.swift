/// Philox4x32-10, the counter-based generator of Salmon et al. (Random123), as cuRAND and
/// PyTorch use for dropout. A value depends only on (key, counter), so any element can be
/// regenerated in any order, on any thread or device.
///
///     let r = Philox(seed: 1234).block(counter: 0)   // four UInt32
public struct Philox: Sendable, Hashable {
    public let key: (UInt32, UInt32)

    public init(seed: UInt64) {
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    public static func == (a: Philox, b: Philox) -> Bool { a.key == b.key }
    public func hash(into h: inout Hasher) { h.combine(key.0); h.combine(key.1) }

    /// The four 32-bit outputs for a 128-bit counter given as (low 64 bits, high 64 bits).
    @inlinable
    public func block(counter: UInt64, subsequence: UInt64 = 0) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2 = UInt32(truncatingIfNeeded: subsequence), c3 = UInt32(truncatingIfNeeded: subsequence >> 32)
        var k0 = key.0, k1 = key.1
        for round in 0..<10 {
            if round > 0 { k0 = k0 &+ 0x9E37_79B9; k1 = k1 &+ 0xBB67_AE85 }
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }

    /// A uniform float in [0, 1) for element `index` of the stream: lane `index % 4` of block
    /// `index / 4`, its top 24 bits scaled by 2⁻²⁴.
    @inlinable
    public func uniform(_ index: UInt64, subsequence: UInt64 = 0) -> Float {
        let b = block(counter: index >> 2, subsequence: subsequence)
        let word: UInt32
        switch index & 3 {
        case 0: word = b.0
        case 1: word = b.1
        case 2: word = b.2
        default: word = b.3
        }
        return Float(word >> 8) * 0x1p-24
    }
}
