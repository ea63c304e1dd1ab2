import Foundation
import MegatronCPU
import MegatronTensor
import Testing

@Suite("CPU op gradients against finite differences")
struct OpGradientTests {
    let b = CPUBackend()
    var check: GradientCheck { GradientCheck(backend: b) }

    func random(_ shape: Shape, seed: UInt64, scale: Float = 1) throws -> Tensor {
        try b.tensor(randomValues(shape.count, seed: seed, scale: scale), shape: shape)
    }

    @Test func linearWithBias() throws {
        let x = try random([6, 5], seed: 1), w = try random([3, 5], seed: 2), bias = try random([3], seed: 3)
        try check.check(inputs: [("x", x), ("w", w), ("bias", bias)]) {
            let y = try b.empty([6, 3], dtype: .fp32)
            try b.gemm(x, w, into: y, transposeB: true)
            try b.addBias(bias, to: y)
            return y
        } backward: { dy in
            let dx = try b.empty(x.shape, dtype: .fp32), dw = try b.zeros(w.shape), db = try b.zeros(bias.shape)
            try b.gemm(dy, w, into: dx)
            try b.gemm(dy, x, into: dw, transposeA: true, transposeB: false, alpha: 1, beta: 1)
            try b.biasBackward(dy, into: db)
            return [dx, dw, db]
        }
    }

    @Test func embedding() throws {
        let table = try random([7, 4], seed: 4)
        let ids = try b.tensor(int32: [3, 0, 6, 3, 1], shape: [5])
        try check.check(inputs: [("table", table)]) {
            let y = try b.empty([5, 4], dtype: .fp32)
            try b.embedding(ids, table: table, into: y)
            return y
        } backward: { dy in
            let dt = try b.zeros(table.shape)
            try b.embeddingBackward(ids, dout: dy, into: dt)
            return [dt]
        }
    }

    @Test func embeddingRejectsOutOfRangeIds() throws {
        let table = try random([7, 4], seed: 4)
        let ids = try b.tensor(int32: [3, 7], shape: [2])
        #expect(throws: TensorError.self) { try b.embedding(ids, table: table, into: try b.empty([2, 4], dtype: .fp32)) }
    }

    @Test(arguments: [true, false]) func layerNorm(withBias: Bool) throws {
        let x = try random([5, 8], seed: 5, scale: 2), w = try random([8], seed: 6), bias = try random([8], seed: 7)
        try check.check(inputs: [("x", x), ("weight", w), ("bias", bias)]) {
            let y = try b.empty(x.shape, dtype: .fp32)
            try b.layerNorm(x, weight: w, bias: withBias ? bias : nil, epsilon: 1e-5, into: y,
                            mean: try b.empty([5], dtype: .fp32), rstd: try b.empty([5], dtype: .fp32))
            return y
        } backward: { dy in
            let y = try b.empty(x.shape, dtype: .fp32), mean = try b.empty([5], dtype: .fp32), rstd = try b.empty([5], dtype: .fp32)
            try b.layerNorm(x, weight: w, bias: withBias ? bias : nil, epsilon: 1e-5, into: y, mean: mean, rstd: rstd)
            let dx = try b.zeros(x.shape), dw = try b.zeros(w.shape), db = try b.zeros(bias.shape)
            try b.layerNormBackward(dy, x: x, weight: w, mean: mean, rstd: rstd, dx: dx, dweight: dw, dbias: withBias ? db : nil)
            return [dx, dw, withBias ? db : nil]
        }
    }

    @Test func layerNormForwardMatchesDefinition() throws {
        let values = randomValues(3 * 6, seed: 8, scale: 3)
        let x = try b.tensor(values, shape: [3, 6]), w = try random([6], seed: 9), bias = try random([6], seed: 10)
        let y = try b.empty(x.shape, dtype: .fp32)
        try b.layerNorm(x, weight: w, bias: bias, epsilon: 1e-5, into: y,
                        mean: try b.empty([3], dtype: .fp32), rstd: try b.empty([3], dtype: .fp32))
        let (wv, bv) = (try b.download(w), try b.download(bias))
        var expected: [Float] = []
        for r in 0..<3 {
            let row = values[r * 6..<(r + 1) * 6].map(Double.init)
            let mean = row.reduce(0, +) / 6
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 6
            for j in 0..<6 { expected.append(Float((row[j] - mean) / (variance + 1e-5).squareRoot() * Double(wv[j]) + Double(bv[j]))) }
        }
        #expect(relativeError(try b.download(y), expected) < 1e-6)
    }

    @Test func rmsNorm() throws {
        let x = try random([4, 8], seed: 11, scale: 2), w = try random([8], seed: 12)
        try check.check(inputs: [("x", x), ("weight", w)]) {
            let y = try b.empty(x.shape, dtype: .fp32)
            try b.rmsNorm(x, weight: w, epsilon: 1e-5, into: y, rstd: try b.empty([4], dtype: .fp32))
            return y
        } backward: { dy in
            let y = try b.empty(x.shape, dtype: .fp32), rstd = try b.empty([4], dtype: .fp32)
            try b.rmsNorm(x, weight: w, epsilon: 1e-5, into: y, rstd: rstd)
            let dx = try b.zeros(x.shape), dw = try b.zeros(w.shape)
            try b.rmsNormBackward(dy, x: x, weight: w, rstd: rstd, dx: dx, dweight: dw)
            return [dx, dw]
        }
    }

    @Test(arguments: [false, true]) func gelu(approximate: Bool) throws {
        let x = try random([40], seed: 13, scale: 4)
        try check.check(inputs: [("x", x)]) {
            let y = try b.empty(x.shape, dtype: .fp32)
            try b.gelu(x, into: y, approximate: approximate)
            return y
        } backward: { dy in
            let dx = try b.empty(x.shape, dtype: .fp32)
            try b.geluBackward(dy, x: x, into: dx, approximate: approximate)
            return [dx]
        }
    }

    @Test func geluForwardKnownValues() throws {
        // Φ(1) = 0.841344746…; tanh form at 1: 0.5·(1 + tanh(0.7978845608·1.044715)) = 0.841191990…
        let x = try b.tensor([1, -2], shape: [2]), y = try b.empty([2], dtype: .fp32)
        try b.gelu(x, into: y, approximate: false)
        let exact = try b.download(y)
        #expect(abs(exact[0] - 0.8413447) < 1e-6 && abs(exact[1] - -0.04550026) < 1e-6)
        try b.gelu(x, into: y, approximate: true)
        #expect(abs(try b.download(y)[0] - 0.8411920) < 1e-6)
    }

    @Test func swiglu() throws {
        let x = try random([3, 10], seed: 14, scale: 3)
        try check.check(inputs: [("x", x)]) {
            let y = try b.empty([3, 5], dtype: .fp32)
            try b.swiglu(x, into: y)
            return y
        } backward: { dy in
            let dx = try b.empty(x.shape, dtype: .fp32)
            try b.swigluBackward(dy, x: x, into: dx)
            return [dx]
        }
    }

    @Test func ropeBackwardIsInverseRotation() throws {
        let x = try random([5, 2, 3, 8], seed: 15)
        try check.check(inputs: [("x", x)]) {
            let y = try b.empty(x.shape, dtype: .fp32)
            try b.copy(x, to: y)
            try b.rope(y, base: 10000, inverse: false)
            return y
        } backward: { dy in
            let dx = try b.empty(dy.shape, dtype: .fp32)
            try b.copy(dy, to: dx)
            try b.rope(dx, base: 10000, inverse: true)
            return [dx]
        }
    }

    @Test func ropeRotatesHalvesByPosition() throws {
        // Position 1, d = 4: pairs (0, 2) rotate by 1 rad, (1, 3) by 1/100 rad (base 10000^(2/4)).
        let x = try b.tensor([0, 0, 0, 0, 1, 1, 0, 0], shape: [2, 1, 1, 4])
        try b.rope(x, base: 10000, inverse: false)
        let y = try b.download(x)
        let expected: [Float] = [0, 0, 0, 0, cos(1), cos(0.01), sin(1), sin(0.01)]
        #expect(relativeError(y, expected) < 1e-6)
    }

    @Test(arguments: [(Float(0), 4, 2), (0, 2, 2), (0.3, 4, 1)])
    func attention(dropout: Float, heads: Int, groups: Int) throws {
        let (s, batch, d) = (5, 2, 4)
        let q = try random([s, batch, heads, d], seed: 16), k = try random([s, batch, groups, d], seed: 17)
        let v = try random([s, batch, groups, d], seed: 18)
        let scale = 1 / Float(d).squareRoot()
        func run() throws -> (Tensor, Tensor) {
            let out = try b.empty(q.shape, dtype: .fp32), lse = try b.empty([batch, heads, s], dtype: .fp32)
            try b.attention(q: q, k: k, v: v, into: out, lse: lse, scale: scale, dropout: dropout, seed: 5, segments: nil)
            return (out, lse)
        }
        try check.check(inputs: [("q", q), ("k", k), ("v", v)]) {
            try run().0
        } backward: { dout in
            let (out, lse) = try run()
            let dq = try b.empty(q.shape, dtype: .fp32), dk = try b.empty(k.shape, dtype: .fp32), dv = try b.empty(v.shape, dtype: .fp32)
            try b.attentionBackward(dout, q: q, k: k, v: v, out: out, lse: lse, dq: dq, dk: dk, dv: dv, scale: scale, dropout: dropout, seed: 5, segments: nil)
            return [dq, dk, dv]
        }
    }

    @Test func attentionForwardMatchesCausalSoftmax() throws {
        let (s, batch, heads, groups, d) = (6, 2, 4, 2, 3)
        let qv = randomValues(s * batch * heads * d, seed: 19), kv = randomValues(s * batch * groups * d, seed: 20)
        let vv = randomValues(s * batch * groups * d, seed: 21)
        let out = try b.empty([s, batch, heads, d], dtype: .fp32)
        try b.attention(q: try b.tensor(qv, shape: [s, batch, heads, d]), k: try b.tensor(kv, shape: [s, batch, groups, d]),
                        v: try b.tensor(vv, shape: [s, batch, groups, d]), into: out,
                        lse: try b.empty([batch, heads, s], dtype: .fp32), scale: 0.5, dropout: 0, seed: 0, segments: nil)
        var expected = [Float](repeating: 0, count: out.count)
        for bb in 0..<batch {
            for h in 0..<heads {
                let g = h / (heads / groups)
                for i in 0..<s {
                    let scores = (0...i).map { j in
                        (0..<d).map { Double(qv[((i * batch + bb) * heads + h) * d + $0]) * Double(kv[((j * batch + bb) * groups + g) * d + $0]) }.reduce(0, +) * 0.5
                    }
                    let m = scores.max()!, z = scores.map { Foundation.exp($0 - m) }, total = z.reduce(0, +)
                    for e in 0..<d {
                        expected[((i * batch + bb) * heads + h) * d + e] = Float((0...i).map { z[$0] / total * Double(vv[(($0 * batch + bb) * groups + g) * d + e]) }.reduce(0, +))
                    }
                }
            }
        }
        #expect(relativeError(try b.download(out), expected) < 1e-6)
    }

    @Test func qkvSplitAndMergeAreInverse() throws {
        let (s, batch, heads, groups, d) = (3, 2, 4, 2, 2)
        let fused = randomValues(s * batch * (heads + 2 * groups) * d, seed: 22)
        let qkv = try b.tensor(fused, shape: [s, batch, (heads + 2 * groups) * d])
        let q = try b.empty([s, batch, heads, d], dtype: .fp32)
        let k = try b.empty([s, batch, groups, d], dtype: .fp32), v = try b.empty([s, batch, groups, d], dtype: .fp32)
        try b.splitQKV(qkv, q: q, k: k, v: v)
        // Group 0 of token 0: query heads 0 and 1, then k, then v.
        #expect(Array(try b.download(q)[0..<4]) == Array(fused[0..<4]))
        #expect(Array(try b.download(k)[0..<2]) == Array(fused[4..<6]))
        #expect(Array(try b.download(v)[0..<2]) == Array(fused[6..<8]))
        let back = try b.zeros(qkv.shape)
        try b.mergeQKV(q: q, k: k, v: v, into: back)
        #expect(try b.download(back) == fused)
    }

    @Test func crossEntropy() throws {
        let logits = try random([4, 9], seed: 23, scale: 3)
        let targets = try b.tensor(int32: [0, 8, 3, 3], shape: [4])
        try check.check(inputs: [("logits", logits)]) {
            let l = try b.empty([4], dtype: .fp32)
            try b.crossEntropy(logits, targets: targets, losses: l)
            return l
        } backward: { dl in
            let d = try b.empty(logits.shape, dtype: .fp32)
            try b.crossEntropyBackward(logits, targets: targets, dloss: dl, into: d)
            return [d]
        }
    }

    @Test func crossEntropyOfUniformLogitsIsLogV() throws {
        let l = try b.empty([2], dtype: .fp32)
        try b.crossEntropy(try b.zeros([2, 50]), targets: try b.tensor(int32: [1, 49], shape: [2]), losses: l)
        #expect(try b.download(l).allSatisfy { abs($0 - Float(Foundation.log(50.0))) < 1e-6 })
    }

    @Test func dropoutIsItsOwnBackwardAndKeepsTheRightFraction() throws {
        let x = try random([4000], seed: 24)
        try check.check(inputs: [("x", x)]) {
            let y = try b.empty(x.shape, dtype: .fp32)
            try b.dropout(x, into: y, probability: 0.25, seed: 7, offset: 100)
            return y
        } backward: { dy in
            let dx = try b.empty(dy.shape, dtype: .fp32)
            try b.dropout(dy, into: dx, probability: 0.25, seed: 7, offset: 100)
            return [dx]
        }
        let ones = try b.tensor([Float](repeating: 1, count: 4000), shape: [4000]), y = try b.empty([4000], dtype: .fp32)
        try b.dropout(ones, into: y, probability: 0.25, seed: 7, offset: 0)
        let values = try b.download(y)
        let kept = values.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
        #expect(abs(Double(kept.count) / 4000 - 0.75) < 0.03)
    }
}
