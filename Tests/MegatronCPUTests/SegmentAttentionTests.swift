import Foundation
import MegatronCPU
import MegatronTensor
import Testing

/// Attention with segment ids (`--reset-attention-mask`): each document of a sequence must
/// behave exactly as if it were attended on its own.
@Suite("Attention within segments")
struct SegmentAttentionTests {
    let b = CPUBackend()

    /// Segment id layouts `[b][s]`: documents of several lengths, one of length 1 first, last and
    /// inside, every token alone, one document (as plain causal), and ids that are not a count
    /// (only equality matters).
    static let layouts: [[[Int32]]] = [
        [[0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0, 1, 1, 1]],
        [[0, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 1]],
        [[0, 0, 1, 2, 2, 2, 3, 4, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8]],
        [[0, 0, 0, 0, 0, 0, 0, 0, 0], [7, 7, 7, -3, -3, 5, 5, 5, 5]],
    ]

    /// `x [s, batch, heads, d]` rows `range` of batch row `bb`, as `[range.count, 1, heads, d]` values.
    func slice(_ x: [Float], _ shape: Shape, batch bb: Int, _ range: Range<Int>) -> [Float] {
        let (batch, width) = (shape[1], shape[2] * shape[3])
        return range.flatMap { t in x[((t * batch + bb) * width)..<((t * batch + bb + 1) * width)] }
    }

    /// Contiguous runs of equal ids.
    func documents(_ ids: [Int32]) -> [Range<Int>] {
        var runs: [Range<Int>] = [], start = 0
        for t in 1...ids.count where t == ids.count || ids[t] != ids[t - 1] {
            runs.append(start..<t)
            start = t
        }
        return runs
    }

    @Test(arguments: layouts.indices)
    func matchesEachDocumentAlone(layout: Int) throws {
        let ids = Self.layouts[layout]
        let (s, batch, heads, groups, d) = (ids[0].count, ids.count, 4, 2, 8)
        let scale = 1 / Float(d).squareRoot()
        let qv = randomValues(s * batch * heads * d, seed: 31 + UInt64(layout)), kv = randomValues(s * batch * groups * d, seed: 41)
        let vv = randomValues(s * batch * groups * d, seed: 51), dov = randomValues(s * batch * heads * d, seed: 61)
        let (qShape, kShape): (Shape, Shape) = ([s, batch, heads, d], [s, batch, groups, d])
        let q = try b.tensor(qv, shape: qShape), k = try b.tensor(kv, shape: kShape), v = try b.tensor(vv, shape: kShape)
        let segments = try b.tensor(int32: ids.flatMap { $0 }, shape: [batch, s])

        let out = try b.empty(qShape, dtype: .fp32), lse = try b.empty([batch, heads, s], dtype: .fp32)
        try b.attention(q: q, k: k, v: v, into: out, lse: lse, scale: scale, dropout: 0, seed: 0, segments: segments)
        let dq = try b.empty(qShape, dtype: .fp32), dk = try b.empty(kShape, dtype: .fp32), dv = try b.empty(kShape, dtype: .fp32)
        try b.attentionBackward(try b.tensor(dov, shape: qShape), q: q, k: k, v: v, out: out, lse: lse,
                                dq: dq, dk: dk, dv: dv, scale: scale, dropout: 0, seed: 0, segments: segments)
        let got = (out: try b.download(out), lse: try b.download(lse), dq: try b.download(dq),
                   dk: try b.download(dk), dv: try b.download(dv))
        for value in [got.out, got.lse, got.dq, got.dk, got.dv] { #expect(value.allSatisfy { $0.isFinite }) }

        for bb in 0..<batch {
            for doc in documents(ids[bb]) {
                let n = doc.count
                let (qs, ks): (Shape, Shape) = ([n, 1, heads, d], [n, 1, groups, d])
                let q1 = try b.tensor(slice(qv, qShape, batch: bb, doc), shape: qs)
                let k1 = try b.tensor(slice(kv, kShape, batch: bb, doc), shape: ks)
                let v1 = try b.tensor(slice(vv, kShape, batch: bb, doc), shape: ks)
                let o1 = try b.empty(qs, dtype: .fp32), l1 = try b.empty([1, heads, n], dtype: .fp32)
                try b.attention(q: q1, k: k1, v: v1, into: o1, lse: l1, scale: scale, dropout: 0, seed: 0, segments: nil)
                let dq1 = try b.empty(qs, dtype: .fp32), dk1 = try b.empty(ks, dtype: .fp32), dv1 = try b.empty(ks, dtype: .fp32)
                try b.attentionBackward(try b.tensor(slice(dov, qShape, batch: bb, doc), shape: qs), q: q1, k: k1, v: v1,
                                        out: o1, lse: l1, dq: dq1, dk: dk1, dv: dv1, scale: scale, dropout: 0, seed: 0, segments: nil)
                let what = "layout \(layout), batch row \(bb), document \(doc)"
                #expect(relativeError(slice(got.out, qShape, batch: bb, doc), try b.download(o1)) < 1e-6, "out, \(what)")
                var lseRows: [Float] = []
                for h in 0..<heads {
                    let row = (bb * heads + h) * s
                    lseRows += got.lse[(row + doc.lowerBound)..<(row + doc.upperBound)]
                }
                #expect(relativeError(lseRows, try b.download(l1)) < 1e-6, "lse, \(what)")
                #expect(relativeError(slice(got.dv, kShape, batch: bb, doc), try b.download(dv1)) < 1e-5, "dv, \(what)")
                if n > 1 {  // a lone token's dq and dk are 0 up to rounding (softmax over one key)
                    #expect(relativeError(slice(got.dq, qShape, batch: bb, doc), try b.download(dq1)) < 1e-5, "dq, \(what)")
                    #expect(relativeError(slice(got.dk, kShape, batch: bb, doc), try b.download(dk1)) < 1e-5, "dk, \(what)")
                } else {
                    #expect(slice(got.dq, qShape, batch: bb, doc).allSatisfy { abs($0) < 1e-5 }, "dq, \(what)")
                    #expect(slice(got.dk, kShape, batch: bb, doc).allSatisfy { abs($0) < 1e-5 }, "dk, \(what)")
                }
            }
        }
    }

    @Test func oneSegmentIsPlainCausalBitForBit() throws {
        let (s, batch, heads, d) = (7, 2, 2, 4)
        let q = try b.tensor(randomValues(s * batch * heads * d, seed: 71), shape: [s, batch, heads, d])
        let k = try b.tensor(randomValues(s * batch * heads * d, seed: 72), shape: [s, batch, heads, d])
        let v = try b.tensor(randomValues(s * batch * heads * d, seed: 73), shape: [s, batch, heads, d])
        let dout = try b.tensor(randomValues(s * batch * heads * d, seed: 74), shape: [s, batch, heads, d])
        func run(_ segments: Tensor?) throws -> [[Float]] {
            let out = try b.empty(q.shape, dtype: .fp32), lse = try b.empty([batch, heads, s], dtype: .fp32)
            try b.attention(q: q, k: k, v: v, into: out, lse: lse, scale: 0.5, dropout: 0.2, seed: 9, segments: segments)
            let dq = try b.empty(q.shape, dtype: .fp32), dk = try b.empty(k.shape, dtype: .fp32), dv = try b.empty(v.shape, dtype: .fp32)
            try b.attentionBackward(dout, q: q, k: k, v: v, out: out, lse: lse, dq: dq, dk: dk, dv: dv, scale: 0.5,
                                    dropout: 0.2, seed: 9, segments: segments)
            return try [out, lse, dq, dk, dv].map { try b.download($0) }
        }
        let plain = try run(nil)
        let oneSegment = try run(try b.tensor(int32: Array(repeating: 3, count: batch * s), shape: [batch, s]))
        #expect(plain == oneSegment)
    }

    /// With dropout, against finite differences.
    @Test func gradientsWithDropout() throws {
        let ids: [Int32] = [0, 0, 1, 1, 1, 2, 0, 0, 0, 0, 1, 1]
        let (s, batch, heads, groups, d) = (6, 2, 4, 2, 4)
        let q = try b.tensor(randomValues(s * batch * heads * d, seed: 81), shape: [s, batch, heads, d])
        let k = try b.tensor(randomValues(s * batch * groups * d, seed: 82), shape: [s, batch, groups, d])
        let v = try b.tensor(randomValues(s * batch * groups * d, seed: 83), shape: [s, batch, groups, d])
        let segments = try b.tensor(int32: ids, shape: [batch, s])
        func run() throws -> (Tensor, Tensor) {
            let out = try b.empty(q.shape, dtype: .fp32), lse = try b.empty([batch, heads, s], dtype: .fp32)
            try b.attention(q: q, k: k, v: v, into: out, lse: lse, scale: 0.5, dropout: 0.3, seed: 5, segments: segments)
            return (out, lse)
        }
        try GradientCheck(backend: b).check(inputs: [("q", q), ("k", k), ("v", v)]) {
            try run().0
        } backward: { dout in
            let (out, lse) = try run()
            let dq = try b.empty(q.shape, dtype: .fp32), dk = try b.empty(k.shape, dtype: .fp32), dv = try b.empty(v.shape, dtype: .fp32)
            try b.attentionBackward(dout, q: q, k: k, v: v, out: out, lse: lse, dq: dq, dk: dk, dv: dv, scale: 0.5,
                                    dropout: 0.3, seed: 5, segments: segments)
            return [dq, dk, dv]
        }
    }

    @Test func segmentsOfTheWrongShapeAreRefused() throws {
        let q = try b.zeros([4, 2, 1, 2]), out = try b.empty([4, 2, 1, 2], dtype: .fp32), lse = try b.empty([2, 1, 4], dtype: .fp32)
        #expect(throws: TensorError.self) {
            try b.attention(q: q, k: q, v: q, into: out, lse: lse, scale: 1, dropout: 0, seed: 0,
                            segments: try b.tensor(int32: Array(repeating: 0, count: 6), shape: [2, 3]))
        }
        #expect(throws: TensorError.self) {
            try b.attention(q: q, k: q, v: q, into: out, lse: lse, scale: 1, dropout: 0, seed: 0,
                            segments: try b.zeros([2, 4]))
        }
    }
}
