import MegatronTensor

extension CPUBackend {
    public func embedding(_ ids: Tensor, table: Tensor, vocabStart: Int, vocabSize: Int, into out: Tensor) throws {
        let (rows, h) = (table.shape.leading, table.shape.last)
        let n = ids.count
        try out.expect([n, h], "embedding")
        try checkShard(vocabStart, rows, of: vocabSize, "embedding")
        let pid = try int32s(ids, "embedding")
        try checkIndices(pid, count: n, bound: vocabSize, what: "token id", "embedding")
        let ids = SendablePointer(pid), shardRows = rows
        let pt = SendablePointer(try floats(table, "embedding")), po = SendablePointer(try floats(out, "embedding"))
        forEachRowBlock(n, block: rowBlock(columns: h)) { rows in
            for i in rows {
                let local = Int(ids[i]) - vocabStart
                if local >= 0 && local < shardRows {
                    (po.base + i * h).update(from: pt.base + local * h, count: h)
                } else {
                    (po.base + i * h).update(repeating: 0, count: h)
                }
            }
        }
    }

    public func embeddingBackward(_ ids: Tensor, dout: Tensor, vocabStart: Int, vocabSize: Int, into dtable: Tensor) throws {
        let (rows, h) = (dtable.shape.leading, dtable.shape.last)
        let n = ids.count
        try dout.expect([n, h], "embeddingBackward")
        try checkShard(vocabStart, rows, of: vocabSize, "embeddingBackward")
        let pid = try int32s(ids, "embeddingBackward")
        try checkIndices(pid, count: n, bound: vocabSize, what: "token id", "embeddingBackward")
        // Split the hidden dimension across threads: every thread visits tokens in order, so the
        // sum into each row is deterministic and no two threads write the same element.
        let ids = SendablePointer(pid)
        let pd = SendablePointer(try floats(dout, "embeddingBackward")), pt = SendablePointer(try floats(dtable, "embeddingBackward"))
        let colBlock = 64
        forEachRowBlock(h, block: colBlock) { cols in
            for i in 0..<n {
                let local = Int(ids[i]) - vocabStart
                guard local >= 0 && local < rows else { continue }
                let src = pd.base + i * h, dst = pt.base + local * h
                for j in cols { dst[j] += src[j] }
            }
        }
    }
}
