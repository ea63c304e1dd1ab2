import MegatronTensor
import Testing

@Suite("Half precision and Philox")
struct NumericsTests {
    @Test func bf16RoundsToNearestEven() {
        // 1 + 2⁻⁸ lies halfway between bf16 neighbours 1 and 1 + 2⁻⁷: ties go to the even one (1).
        #expect(HalfPrecision.bf16Bits(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ (odd mantissa) and 1 + 2⁻⁶: rounds up to even.
        #expect(HalfPrecision.bf16Bits(1 + 3 * 0x1p-8) == 0x3F82)
        // Just above the halfway point rounds up.
        #expect(HalfPrecision.bf16Bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(HalfPrecision.bf16Bits(-2) == 0xC000)
        #expect(HalfPrecision.float(bf16Bits: HalfPrecision.bf16Bits(.infinity)) == .infinity)
        #expect(HalfPrecision.float(bf16Bits: HalfPrecision.bf16Bits(.nan)).isNaN)
    }

    @Test func fp16RoundsToNearestEvenAndOverflows() {
        #expect(HalfPrecision.fp16Bits(1 + 0x1p-11) == 0x3C00)
        #expect(HalfPrecision.fp16Bits(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(HalfPrecision.fp16Bits(65520) == 0x7C00)  // rounds past the largest finite (65504)
        #expect(HalfPrecision.float(fp16Bits: 0x0001) == 0x1p-24)  // smallest subnormal
    }

    @Test func philoxMatchesRandom123KnownAnswers() {
        // Random123's kat_vectors for philox4x32_10.
        let zero = Philox(seed: 0).block(counter: 0, subsequence: 0)
        #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])
        let ones = Philox(seed: .max).block(counter: .max, subsequence: .max)
        #expect([ones.0, ones.1, ones.2, ones.3] == [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])
    }

    @Test func philoxUniformIsInUnitInterval() {
        let rng = Philox(seed: 42)
        let values = (0..<10_000).map { rng.uniform(UInt64($0)) }
        #expect(values.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = values.reduce(0, +) / Float(values.count)
        #expect(abs(mean - 0.5) < 0.01)
    }
}
