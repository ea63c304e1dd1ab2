/// numpy's legacy `numpy.random.RandomState(seed)` for an integer seed: the MT19937 stream and
/// the bounded draws `shuffle` makes, bit for bit. Megatron's GPTDataset draws its document and
/// shuffle indices from one such stream, so reproducing its sample order needs exactly this.
///
///     var rng = NumpyRandomState(seed: 1234)
///     var order = Array(0..<10)
///     rng.shuffle(&order)      // same permutation as RandomState(1234).shuffle(arange(10))
///
/// Seeding is MT19937's `init_genrand` (numpy's `mt19937_seed`), which numpy's legacy seeding
/// uses for a Python int in [0, 2³²); array seeds (`init_by_array`) are not needed by Megatron.
public struct NumpyRandomState: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var position = 624

    /// A stream seeded as `numpy.random.RandomState(seed)`.
    public init(seed: UInt32) {
        var s = seed
        for i in 0..<624 {
            state[i] = s
            s = 1_812_433_253 &* (s ^ (s >> 30)) &+ UInt32(i + 1)
        }
        position = 624
    }

    /// The next raw 32-bit output (numpy's `next_uint32`, `random_raw` of the legacy generator).
    public mutating func nextUInt32() -> UInt32 {
        if position >= 624 { regenerate() }
        var y = state[position]
        position += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// numpy's `next_uint64` for MT19937: the first 32-bit draw is the high half.
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(nextUInt32())
        return high << 32 | UInt64(nextUInt32())
    }

    /// A uniform integer in `0...max` by numpy's `random_interval`: mask to the smallest
    /// all-ones value covering `max` and reject draws above it. Bounds that fit 32 bits draw
    /// 32-bit outputs; larger bounds draw 64-bit ones (two outputs each), as numpy does.
    public mutating func interval(_ max: UInt64) -> UInt64 {
        if max == 0 { return 0 }
        var mask = max
        mask |= mask >> 1
        mask |= mask >> 2
        mask |= mask >> 4
        mask |= mask >> 8
        mask |= mask >> 16
        mask |= mask >> 32
        if max <= 0xffff_ffff {
            while true {
                let value = UInt64(nextUInt32()) & mask
                if value <= max { return value }
            }
        }
        while true {
            let value = nextUInt64() & mask
            if value <= max { return value }
        }
    }

    /// Shuffles in place as numpy's legacy `RandomState.shuffle` does for a 1-D array:
    /// Fisher–Yates from the end, swapping element i with `interval(i)` for i = n-1 down to 1.
    /// The element type does not change the draws, so int32, uint32 and int64 arrays agree.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        array.withUnsafeMutableBufferPointer { buffer in
            for i in stride(from: buffer.count - 1, through: 1, by: -1) {
                let j = Int(interval(UInt64(i)))
                buffer.swapAt(i, j)
            }
        }
    }

    /// MT19937's twist: refills the 624-word state.
    private mutating func regenerate() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7fff_ffff
        state.withUnsafeMutableBufferPointer { mt in
            for k in 0..<624 {
                let y = (mt[k] & upper) | (mt[(k + 1) % 624] & lower)
                mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : 0x9908_b0df)
            }
        }
        position = 0
    }
}
