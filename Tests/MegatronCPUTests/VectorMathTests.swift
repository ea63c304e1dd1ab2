import Foundation
@testable import MegatronCPU
import Testing

@Suite("Vectorised math")
struct VectorMathTests {
    @Test func expIsWithinTwoUlpOfLibm() {
        var worst = 0.0
        var x: Float = -87
        while x < 88.5 {
            let got = Double(VectorMath.exp(x)), want = Foundation.exp(Double(x))
            worst = max(worst, abs(got - want) / want)
            x += 0.013
        }
        #expect(worst < 2.5e-7, "worst relative error \(worst)")
    }

    @Test func expEdgeCases() {
        #expect(VectorMath.exp(-Float.infinity) == 0)
        #expect(VectorMath.exp(-100) == 0)
        #expect(VectorMath.exp(100) == .infinity)
        #expect(VectorMath.exp(0) == 1)
    }

    @Test func shiftedSumAndMax() {
        let x: [Float] = (0..<19).map { Float($0) * 0.25 - 2 }
        var out = [Float](repeating: 0, count: 19)
        let total = x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { VectorMath.expShifted(xp.baseAddress!, 19, shift: 1, into: $0.baseAddress!) }
        }
        let expected = x.map { Foundation.exp(Double($0) - 1) }
        #expect(abs(Double(total) - expected.reduce(0, +)) / expected.reduce(0, +) < 1e-6)
        #expect(zip(out, expected).allSatisfy { abs(Double($0) - $1) / $1 < 3e-7 })
        #expect(x.withUnsafeBufferPointer { VectorMath.max($0.baseAddress!, 19) } == 2.5)
    }
}

@Suite("Vectorised tanh")
struct VectorTanhTests {
    @Test func tanhMatchesLibm() {
        var worst = 0.0
        var x: Float = -12
        while x < 12 {
            let got = Double(VectorMath.tanh(SIMD8(repeating: x))[0]), want = Foundation.tanh(Double(x))
            worst = max(worst, abs(got - want) / max(abs(want), 1e-30))
            x += 0.0037
        }
        // 1 − 2/(e²ˣ + 1) keeps all but a few bits just above the series cut-over (|x| = 0.05).
        #expect(worst < 2e-6, "worst relative error \(worst)")
        #expect(VectorMath.tanh(SIMD8(repeating: -.infinity))[0] == -1)
        #expect(VectorMath.tanh(SIMD8(repeating: 30))[0] == 1)
    }
}
