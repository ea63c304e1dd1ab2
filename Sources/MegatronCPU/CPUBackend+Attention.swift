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

    public func attention(
        q: Tensor, k: Tensor, v: Tensor, into out: Tensor, lse: Tensor,
        scale: Float, dropout: Float, seed: UInt64
    ) throws {
        let op = "attention"
        let (_, nq, ng, d) = try headLayout(q: q, k: k, op)
        try v.expect(k.shape, op)
        try out.expect(q.shape, op)
        let (s, b) = (q.shape[0], q.shape[1])
        try expectCount(lse, b * nq * s, op)
        guard dropout >= 0, dropout < 1 else { throw TensorError.invalidArgument(op: op, message: "dropout \(dropout) outside [0, 1)") }
        let pq = SendablePointer(try floats(q, op)), pk = SendablePointer(try floats(k, op))
        let pv = SendablePointer(try floats(v, op)), po = SendablePointer(try floats(out, op))
        let pl = SendablePointer(try floats(lse, op))
        let rng = Philox(seed: seed), keep = 1 / (1 - dropout)
        let perGroup = nq / ng
        parallelFor(b * nq) { task in
            let (bb, h) = (task / nq, task % nq)
            let g = h / perGroup
            var p = [Float](repeating: 0, count: s)
            for i in 0..<s {
                let qi = pq.base + ((i * b + bb) * nq + h) * d
                var m = -Float.infinity
                for j in 0...i {
                    let kj = pk.base + ((j * b + bb) * ng + g) * d
                    var dot: Float = 0
                    for e in 0..<d { dot += qi[e] * kj[e] }
                    p[j] = dot * scale
                    m = max(m, p[j])
                }
                var sum: Float = 0
                for j in 0...i { p[j] = exp(p[j] - m); sum += p[j] }
                pl[(bb * nq + h) * s + i] = m + log(sum)
                let oi = po.base + ((i * b + bb) * nq + h) * d
                for e in 0..<d { oi[e] = 0 }
                let rowCounter = UInt64(((bb * nq + h) * s + i) * s)
                for j in 0...i {
                    var w = p[j] / sum
                    if dropout > 0 { w = rng.uniform(rowCounter &+ UInt64(j)) >= dropout ? w * keep : 0 }
                    let vj = pv.base + ((j * b + bb) * ng + g) * d
                    for e in 0..<d { oi[e] += w * vj[e] }
                }
            }
        }
    }

    public func attentionBackward(
        _ dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
        dq: Tensor, dk: Tensor, dv: Tensor, scale: Float, dropout: Float, seed: UInt64
    ) throws {
        let op = "attentionBackward"
        let (_, nq, ng, d) = try headLayout(q: q, k: k, op)
        for t in [dout, out, dq] { try t.expect(q.shape, op) }
        for t in [v, dk, dv] { try t.expect(k.shape, op) }
        let (s, b) = (q.shape[0], q.shape[1])
        try expectCount(lse, b * nq * s, op)
        let pq = SendablePointer(try floats(q, op)), pk = SendablePointer(try floats(k, op))
        let pv = SendablePointer(try floats(v, op)), po = SendablePointer(try floats(out, op))
        let pdo = SendablePointer(try floats(dout, op)), pl = SendablePointer(try floats(lse, op))
        let pdq = SendablePointer(try floats(dq, op)), pdk = SendablePointer(try floats(dk, op))
        let pdv = SendablePointer(try floats(dv, op))
        let rng = Philox(seed: seed), keep = 1 / (1 - dropout)
        let perGroup = nq / ng
        // One task per (batch, query group): the heads of a group share dk and dv rows.
        parallelFor(b * ng) { task in
            let (bb, g) = (task / ng, task % ng)
            for j in 0..<s {
                let row = ((j * b + bb) * ng + g) * d
                for e in 0..<d { pdk[row + e] = 0; pdv[row + e] = 0 }
            }
            var ds = [Float](repeating: 0, count: s)
            for h in g * perGroup..<(g + 1) * perGroup {
                for i in 0..<s {
                    let qOff = ((i * b + bb) * nq + h) * d
                    let qi = pq.base + qOff, doi = pdo.base + qOff, oi = po.base + qOff, dqi = pdq.base + qOff
                    let l = pl[(bb * nq + h) * s + i]
                    var delta: Float = 0
                    for e in 0..<d { delta += doi[e] * oi[e] }
                    let rowCounter = UInt64(((bb * nq + h) * s + i) * s)
                    for j in 0...i {
                        let kOff = ((j * b + bb) * ng + g) * d
                        let kj = pk.base + kOff, vj = pv.base + kOff, dvj = pdv.base + kOff
                        var dot: Float = 0
                        for e in 0..<d { dot += qi[e] * kj[e] }
                        let pij = exp(dot * scale - l)
                        let z: Float = dropout > 0 ? (rng.uniform(rowCounter &+ UInt64(j)) >= dropout ? keep : 0) : 1
                        var dp: Float = 0
                        for e in 0..<d { dp += doi[e] * vj[e] }
                        let w = pij * z
                        for e in 0..<d { dvj[e] += w * doi[e] }
                        ds[j] = pij * (z * dp - delta) * scale
                    }
                    for e in 0..<d { dqi[e] = 0 }
                    for j in 0...i {
                        let kOff = ((j * b + bb) * ng + g) * d
                        let kj = pk.base + kOff, dkj = pdk.base + kOff
                        for e in 0..<d { dqi[e] += ds[j] * kj[e]; dkj[e] += ds[j] * qi[e] }
                    }
                }
            }
        }
    }
}
