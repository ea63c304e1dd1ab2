import MegatronTensor

extension CPUBackend {
    public func embedding(_ ids: Tensor, table: Tensor, into out: Tensor) throws {
        let (vocab, h) = (table.shape.leading, table.shape.last)
        let n = ids.count
        try out.expect([n, h], "embedding")
        let pid = try int32s(ids, "embedding")
        try checkIndices(pid, count: n, bound: vocab, what: "token id", "embedding")
        let ids = SendablePointer(pid)
        let pt = SendablePointer(try floats(table, "embedding")), po = SendablePointer(try floats(out, "embedding"))
        forEachRowBlock(n, block: rowBlock(columns: h)) { rows in
            for i in rows { (po.base + i * h).update(from: pt.base + Int(ids[i]) * h, count: h) }
        }
    }

    public func embeddingBackward(_ ids: Tensor, dout: Tensor, into dtable: Tensor) throws {
        let (vocab, h) = (dtable.shape.leading, dtable.shape.last)
        let n = ids.count
        try dout.expect([n, h], "embeddingBackward")
        let pid = try int32s(ids, "embeddingBackward")
        try checkIndices(pid, count: n, bound: vocab, what: "token id", "embeddingBackward")
        // Split the hidden dimension across threads: every thread visits tokens in order, so the
        // sum into each row is deterministic and no two threads write the same element.
        let ids = SendablePointer(pid)
        let pd = SendablePointer(try floats(dout, "embeddingBackward")), pt = SendablePointer(try floats(dtable, "embeddingBackward"))
        let colBlock = 64
        forEachRowBlock(h, block: colBlock) { cols in
            for i in 0..<n {
                let src = pd.base + i * h, dst = pt.base + Int(ids[i]) * h
                for j in cols { dst[j] += src[j] }
            }
        }
    }
}
