import Foundation
import MegatronTensor

extension CPUBackend {
    /// (tokens, query heads, query groups, head dim) from `q [s, b, nq, d]` and `k [s, b, ng, d]`.
    private func headLayout(q: Tensor, k: Tensor, _ op: String) throws -> (tokens: Int, nq: Int, ng: Int, d: Int) {
        guard q.shape.rank == 4, k.shape.rank == 4, q.shape[0] == k.shape[0], q.shape[1] == k.shape[1],
              q.shape[3] == k.shape[3], k.shape[2] > 0, q.shape[2] % k.shape[2] == 0
        else {
            throw TensorError.shapeMismatch(op: op, expected: "q [s, b, nq, d] and k [s, b, ng, d] with ng dividing nq (q is \(q.shape))", got: k.shape)
        }
        return (q.shape[0] * q.shape[1], q.shape[2], k.shape[2], q.shape[3])
    }

    public func splitQKV(_ qkv: Tensor, q: Tensor, k: Tensor, v: Tensor) throws {
        try moveQKV(qkv, q: q, k: k, v: v, split: true, "splitQKV")
    }

    public func mergeQKV(q: Tensor, k: Tensor, v: Tensor, into qkv: Tensor) throws {
        try moveQKV(qkv, q: q, k: k, v: v, split: false, "mergeQKV")
    }

    private func moveQKV(_ qkv: Tensor, q: Tensor, k: Tensor, v: Tensor, split: Bool, _ op: String) throws {
        let (tokens, nq, ng, d) = try headLayout(q: q, k: k, op)
        try v.expect(k.shape, op)
        let width = (nq + 2 * ng) * d
        try expectCount(qkv, tokens * width, op)
        let pf = SendablePointer(try floats(qkv, op)), pq = SendablePointer(try floats(q, op))
        let pk = SendablePointer(try floats(k, op)), pv = SendablePointer(try floats(v, op))
        let perGroup = nq / ng
        forEachRowBlock(tokens, block: rowBlock(columns: width)) { rows in
            for t in rows {
                let fused = pf.base + t * width
                for g in 0..<ng {
                    let group = fused + g * (perGroup + 2) * d
                    let qf = group, kf = group + perGroup * d, vf = group + (perGroup + 1) * d
                    let qx = pq.base + (t * nq + g * perGroup) * d
                    let kx = pk.base + (t * ng + g) * d, vx = pv.base + (t * ng + g) * d
                    if split {
                        qx.update(from: qf, count: perGroup * d)
                        kx.update(from: kf, count: d)
                        vx.update(from: vf, count: d)
                    } else {
                        qf.update(from: qx, count: perGroup * d)
                        kf.update(from: kx, count: d)
                        vf.update(from: vx, count: d)
                    }
                }
            }
        }
    }

    public func rope(_ x: Tensor, base: Float, inverse: Bool) throws {
        guard x.shape.rank == 4, x.shape[3] % 2 == 0 else {
            throw TensorError.shapeMismatch(op: "rope", expected: "[s, b, heads, d] with even d", got: x.shape)
        }
        let (s, rowsPerPosition, d) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        let half = d / 2
        // Angles in fp32 exactly as Megatron and Hugging Face form them: inv_freq = 1 / base^(2i/d).
        var table = [Float](repeating: 0, count: s * d)
        for p in 0..<s {
            for i in 0..<half {
                let invFreq = 1 / pow(base, Float(2 * i) / Float(d))
                let angle = Float(p) * invFreq
                table[p * d + i] = cos(angle)
                table[p * d + half + i] = inverse ? -sin(angle) : sin(angle)
            }
        }
        let px = SendablePointer(try floats(x, "rope"))
        table.withUnsafeMutableBufferPointer { tb in
            let pt = SendablePointer(tb.baseAddress!)
            forEachRowBlock(s, block: max(1, rowBlock(columns: rowsPerPosition * d))) { positions in
                for p in positions {
                    let c = pt.base + p * d, sn = c + half
                    for r in 0..<rowsPerPosition {
                        let row = px.base + (p * rowsPerPosition + r) * d
                        for i in 0..<half {
                            let x1 = row[i], x2 = row[i + half]
                            row[i] = x1 * c[i] - x2 * sn[i]
                            row[i + half] = x2 * c[i] + x1 * sn[i]
                        }
                    }
                }
            }
        }
    }

    /// The int32 `[b, s]` segment ids, checked; nil without segments.
    private func segmentIDs(_ segments: Tensor?, s: Int, b: Int, _ op: String) throws -> SendablePointer<Int32>? {
        guard let segments else { return nil }
        guard segments.count == b * s, segments.shape.rank == 2 else {
            throw TensorError.shapeMismatch(op: op, expected: "segments int32 [b, s] = [\(b), \(s)]", got: segments.shape)
        }
        return SendablePointer(try int32s(segments, op))
    }

    /// Scores of row `i` (keys `0...i`) whose key lies in another segment become −∞ (the key
    /// `i` itself never does, so the row's maximum stays finite).
    @inline(__always)
    private static func maskSegments(_ row: UnsafeMutablePointer<Float>, _ i: Int, _ ids: UnsafeMutablePointer<Int32>) {
        let own = ids[i]
        for j in 0..<i where ids[j] != own { row[j] = -.infinity }
    }

    public func attention(
        q: Tensor, k: Tensor, v: Tensor, into out: Tensor, lse: Tensor,
        scale: Float, dropout: Float, seed: UInt64, segments: Tensor?
    ) throws {
        let op = "attention"
        let (_, nq, ng, d) = try headLayout(q: q, k: k, op)
        try v.expect(k.shape, op)
        try out.expect(q.shape, op)
        let (s, b) = (q.shape[0], q.shape[1])
        try expectCount(lse, b * nq * s, op)
        guard dropout >= 0, dropout < 1 else { throw TensorError.invalidArgument(op: op, message: "dropout \(dropout) outside [0, 1)") }
        let ids = try segmentIDs(segments, s: s, b: b, op)
        let pq = try floats(q, op), pk = try floats(k, op), pv = try floats(v, op), po = try floats(out, op)
        let pl = SendablePointer(try floats(lse, op))
        let probs = UnsafeMutablePointer<Float>.allocate(capacity: s * s)
        defer { probs.deallocate() }
        let pp = SendablePointer(probs)
        let (ldq, ldk) = (b * nq * d, b * ng * d)
        let perGroup = nq / ng
        let mask = AttentionDropoutMask(probability: dropout, seed: seed, seqLength: s)
        // Per (batch, head): S = scale·Q·Kᵀ, causal softmax by rows (keys of other segments
        // masked too), O = P·V. The GEMMs use every core; the full s×s product wastes the masked
        // half but runs at BLAS speed.
        for bb in 0..<b {
            for h in 0..<nq {
                let g = h / perGroup
                let (qh, kg, vg) = (pq + (bb * nq + h) * d, pk + (bb * ng + g) * d, pv + (bb * ng + g) * d)
                CPUGEMM.sgemm(transposeA: false, transposeB: true, m: s, n: s, k: d, alpha: scale,
                              a: qh, lda: ldq, b: kg, ldb: ldk, beta: 0, c: probs, ldc: s)
                let row0 = (bb * nq + h) * s
                forEachRowBlock(s, block: rowBlock(columns: s)) { rows in
                    for i in rows {
                        let r = pp.base + i * s
                        if let ids { Self.maskSegments(r, i, ids.base + bb * s) }
                        let m = VectorMath.max(r, i + 1)
                        let total = VectorMath.expShifted(r, i + 1, shift: m, into: r)
                        pl[row0 + i] = m + Foundation.log(total)
                        let inv = 1 / total
                        for j in 0...i { r[j] *= inv * mask.factor(row: row0 + i, column: j) }
                        for j in (i + 1)..<s { r[j] = 0 }
                    }
                }
                CPUGEMM.sgemm(transposeA: false, transposeB: false, m: s, n: d, k: s, alpha: 1,
                              a: probs, lda: s, b: vg, ldb: ldk, beta: 0, c: po + (bb * nq + h) * d, ldc: ldq)
            }
        }
    }

    public func attentionBackward(
        _ dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
        dq: Tensor, dk: Tensor, dv: Tensor, scale: Float, dropout: Float, seed: UInt64, segments: Tensor?
    ) throws {
        let op = "attentionBackward"
        let (_, nq, ng, d) = try headLayout(q: q, k: k, op)
        for t in [dout, out, dq] { try t.expect(q.shape, op) }
        for t in [v, dk, dv] { try t.expect(k.shape, op) }
        let (s, b) = (q.shape[0], q.shape[1])
        try expectCount(lse, b * nq * s, op)
        let ids = try segmentIDs(segments, s: s, b: b, op)
        let pq = try floats(q, op), pk = try floats(k, op), pv = try floats(v, op)
        let po = SendablePointer(try floats(out, op)), pdo = SendablePointer(try floats(dout, op))
        let pl = SendablePointer(try floats(lse, op))
        let pdq = try floats(dq, op), pdk = try floats(dk, op), pdv = try floats(dv, op)
        try fill(dk, 0)
        try fill(dv, 0)
        let probs = UnsafeMutablePointer<Float>.allocate(capacity: s * s)
        let grads = UnsafeMutablePointer<Float>.allocate(capacity: s * s)
        defer { probs.deallocate(); grads.deallocate() }
        let pp = SendablePointer(probs), pg = SendablePointer(grads)
        let (ldq, ldk) = (b * nq * d, b * ng * d)
        let perGroup = nq / ng
        let mask = AttentionDropoutMask(probability: dropout, seed: seed, seqLength: s)
        for bb in 0..<b {
            for h in 0..<nq {
                let g = h / perGroup
                let (qh, kg, vg) = (pq + (bb * nq + h) * d, pk + (bb * ng + g) * d, pv + (bb * ng + g) * d)
                let dOff = (bb * nq + h) * d
                CPUGEMM.sgemm(transposeA: false, transposeB: true, m: s, n: s, k: d, alpha: scale,
                              a: qh, lda: ldq, b: kg, ldb: ldk, beta: 0, c: probs, ldc: s)
                // dP = dO·Vᵀ
                CPUGEMM.sgemm(transposeA: false, transposeB: true, m: s, n: s, k: d, alpha: 1,
                              a: pdo.base + dOff, lda: ldq, b: vg, ldb: ldk, beta: 0, c: grads, ldc: s)
                let row0 = (bb * nq + h) * s
                // probs becomes the dropped-out P; grads becomes dS = P ∘ (Z ∘ dP − D)·scale.
                forEachRowBlock(s, block: rowBlock(columns: s)) { rows in
                    for i in rows {
                        let (r, gr) = (pp.base + i * s, pg.base + i * s)
                        let l = pl[row0 + i]
                        var delta: Float = 0
                        let (doi, oi) = (pdo.base + dOff + i * ldq, po.base + dOff + i * ldq)
                        for e in 0..<d { delta += doi[e] * oi[e] }
                        if let ids { Self.maskSegments(r, i, ids.base + bb * s) }
                        _ = VectorMath.expShifted(r, i + 1, shift: l, into: r)
                        for j in 0...i {
                            let z = mask.factor(row: row0 + i, column: j)
                            gr[j] = r[j] * (z * gr[j] - delta) * scale
                            r[j] *= z
                        }
                        for j in (i + 1)..<s { r[j] = 0; gr[j] = 0 }
                    }
                }
                // dV += Pᵀ·dO, dQ = dS·K, dK += dSᵀ·Q
                CPUGEMM.sgemm(transposeA: true, transposeB: false, m: s, n: d, k: s, alpha: 1,
                              a: probs, lda: s, b: pdo.base + dOff, ldb: ldq, beta: 1, c: pdv + (bb * ng + g) * d, ldc: ldk)
                CPUGEMM.sgemm(transposeA: false, transposeB: false, m: s, n: d, k: s, alpha: 1,
                              a: grads, lda: s, b: kg, ldb: ldk, beta: 0, c: pdq + dOff, ldc: ldq)
                CPUGEMM.sgemm(transposeA: true, transposeB: false, m: s, n: d, k: s, alpha: 1,
                              a: grads, lda: s, b: qh, ldb: ldq, beta: 1, c: pdk + (bb * ng + g) * d, ldc: ldk)
            }
        }
    }
}

/// Attention dropout's keep-and-scale factor for score (row, column), regenerated from Philox
/// in the backward: row = (batch·heads + head)·s + i.
struct AttentionDropoutMask: Sendable {
    let probability: Float
    let rng: Philox
    let seqLength: Int
    let keepScale: Float

    init(probability: Float, seed: UInt64, seqLength: Int) {
        self.probability = probability
        rng = Philox(seed: seed)
        self.seqLength = seqLength
        keepScale = 1 / (1 - probability)
    }

    @inline(__always)
    func factor(row: Int, column: Int) -> Float {
        guard probability > 0 else { return 1 }
        return rng.uniform(UInt64(row * seqLength + column)) >= probability ? keepScale : 0
    }
}
