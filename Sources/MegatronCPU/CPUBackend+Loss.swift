import Foundation
import MegatronTensor

extension CPUBackend {
    public func crossEntropy(_ logits: Tensor, targets: Tensor, losses: Tensor) throws {
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        try expectCount(targets, n, "crossEntropy")
        try expectCount(losses, n, "crossEntropy")
        let pt = try checkedTargets(targets, vocab: vocab, "crossEntropy")
        let px = SendablePointer(try floats(logits, "crossEntropy")), pl = SendablePointer(try floats(losses, "crossEntropy"))
        forEachRowBlock(n, block: rowBlock(columns: vocab)) { rows in
            for r in rows {
                let row = px.base + r * vocab
                pl[r] = Self.logSumExp(row, vocab) - row[Int(pt[r])]
            }
        }
    }

    public func crossEntropyBackward(_ logits: Tensor, targets: Tensor, dloss: Tensor, into dlogits: Tensor) throws {
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        try expectCount(targets, n, "crossEntropyBackward")
        try expectCount(dloss, n, "crossEntropyBackward")
        try expectCount(dlogits, n * vocab, "crossEntropyBackward")
        let pt = try checkedTargets(targets, vocab: vocab, "crossEntropyBackward")
        let px = SendablePointer(try floats(logits, "crossEntropyBackward")), pg = SendablePointer(try floats(dloss, "crossEntropyBackward"))
        let pd = SendablePointer(try floats(dlogits, "crossEntropyBackward"))
        forEachRowBlock(n, block: rowBlock(columns: vocab)) { rows in
            for r in rows {
                let row = px.base + r * vocab, out = pd.base + r * vocab
                let lse = Self.logSumExp(row, vocab), g = pg[r]
                let target = row[Int(pt[r])]
                _ = VectorMath.expShifted(row, vocab, shift: lse, into: out)
                for j in 0..<vocab { out[j] *= g }
                out[Int(pt[r])] = g * (Foundation.exp(target - lse) - 1)
            }
        }
    }

    public func crossEntropyPartials(_ logits: Tensor, targets: Tensor, vocabStart: Int, vocabSize: Int, into partials: Tensor) throws {
        let op = "crossEntropyPartials"
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        try expectCount(targets, n, op)
        try partials.expect([n, 3], op)
        try checkShard(vocabStart, vocab, of: vocabSize, op)
        let pt = try checkedTargets(targets, vocab: vocabSize, op)
        let px = SendablePointer(try floats(logits, op)), pp = SendablePointer(try floats(partials, op))
        forEachRowBlock(n, block: rowBlock(columns: vocab)) { rows in
            for r in rows {
                let row = px.base + r * vocab
                let m = VectorMath.max(row, vocab)
                let local = Int(pt[r]) - vocabStart
                pp[3 * r] = m
                pp[3 * r + 1] = VectorMath.expShifted(row, vocab, shift: m, into: nil)
                pp[3 * r + 2] = local >= 0 && local < vocab ? row[local] : 0
            }
        }
    }

    public func crossEntropyCombine(_ partials: Tensor, lse: Tensor, losses: Tensor) throws {
        let op = "crossEntropyCombine"
        let n = lse.count
        try expectCount(losses, n, op)
        guard n > 0, partials.shape.last == 3, partials.count % (3 * n) == 0 else {
            throw TensorError.shapeMismatch(op: op, expected: "partials [shards, \(n), 3]", got: partials.shape)
        }
        let shards = partials.count / (3 * n)
        let pp = SendablePointer(try floats(partials, op))
        let pl = SendablePointer(try floats(lse, op)), po = SendablePointer(try floats(losses, op))
        for r in 0..<n {
            var m = -Float.infinity, target: Float = 0
            for k in 0..<shards {
                m = Swift.max(m, pp[3 * (k * n + r)])
                target += pp[3 * (k * n + r) + 2]
            }
            var sum: Float = 0
            for k in 0..<shards where pp[3 * (k * n + r) + 1] > 0 {
                sum += pp[3 * (k * n + r) + 1] * Foundation.exp(pp[3 * (k * n + r)] - m)
            }
            pl[r] = m + Foundation.log(sum)
            po[r] = pl[r] - target
        }
    }

    public func crossEntropyShardBackward(
        _ logits: Tensor, targets: Tensor, vocabStart: Int, lse: Tensor, weights: Tensor, into dlogits: Tensor
    ) throws {
        let op = "crossEntropyShardBackward"
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        try expectCount(targets, n, op)
        try expectCount(lse, n, op)
        try expectCount(weights, n, op)
        try expectCount(dlogits, n * vocab, op)
        let pt = SendablePointer(try int32s(targets, op))
        let px = SendablePointer(try floats(logits, op)), pd = SendablePointer(try floats(dlogits, op))
        let pl = SendablePointer(try floats(lse, op)), pw = SendablePointer(try floats(weights, op))
        forEachRowBlock(n, block: rowBlock(columns: vocab)) { rows in
            for r in rows {
                let row = px.base + r * vocab, out = pd.base + r * vocab
                let g = pw[r], local = Int(pt[r]) - vocabStart
                let target = local >= 0 && local < vocab ? row[local] : 0
                _ = VectorMath.expShifted(row, vocab, shift: pl[r], into: out)
                for j in 0..<vocab { out[j] *= g }
                if local >= 0 && local < vocab { out[local] = g * (Foundation.exp(target - pl[r]) - 1) }
            }
        }
    }

    private func checkedTargets(_ targets: Tensor, vocab: Int, _ op: String) throws -> SendablePointer<Int32> {
        let p = try int32s(targets, op)
        try checkIndices(p, count: targets.count, bound: vocab, what: "target", op)
        return SendablePointer(p)
    }

    @inline(__always)
    static func logSumExp(_ row: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let m = VectorMath.max(row, n)
        return m + log(VectorMath.expShifted(row, n, shift: m, into: nil))
    }
}
