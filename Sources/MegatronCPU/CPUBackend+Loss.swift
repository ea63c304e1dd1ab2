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
