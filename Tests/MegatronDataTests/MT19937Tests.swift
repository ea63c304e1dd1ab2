import MegatronData
import Testing

@Suite("NumpyRandomState matches numpy's legacy RandomState")
struct MT19937Tests {
    @Test func rawOutputsAndShuffles() throws {
        let cases: [NumpyCase] = try OrderFixtures.load("numpy_random_state")
        #expect(cases.count == 5)
        for c in cases {
            var rng = NumpyRandomState(seed: c.seed)
            #expect((0..<c.raw.count).map { _ in rng.nextUInt32() } == c.raw, "seed \(c.seed)")
            // The fixture's shuffles run one after another on the same stream, as here.
            for s in c.shuffles {
                var a = Array(0..<s.n)
                rng.shuffle(&a)
                #expect(Array(a.prefix(64)) == s.head, "seed \(c.seed) n \(s.n) \(s.dtype)")
                #expect(a.enumerated().reduce(0) { $0 + $1.offset * $1.element } == s.sum_ix)
            }
            // The 64-bit branch of the bounded draw, continuing the same stream.
            #expect((0..<c.wide.count).map { _ in rng.interval(c.wide_max) } == c.wide, "seed \(c.seed) 64-bit")
        }
    }

    @Test func knownMT19937Output() {
        // Reference MT19937 (init_genrand(5489)) first output.
        var rng = NumpyRandomState(seed: 5489)
        #expect(rng.nextUInt32() == 3_499_211_612)
    }

    @Test func intervalStaysInBounds() {
        var rng = NumpyRandomState(seed: 3)
        for bound: UInt64 in [0, 1, 2, 5, 1 << 31, 0xffff_ffff, 1 << 40] {
            for _ in 0..<50 { #expect(rng.interval(bound) <= bound) }
        }
    }
}
