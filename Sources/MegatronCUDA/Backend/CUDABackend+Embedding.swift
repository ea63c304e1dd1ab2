import MegatronTensor

extension CUDABackend {
    public func embedding(_ ids: Tensor, table: Tensor, vocabStart: Int, vocabSize: Int, into out: Tensor) throws {
        let op = "embedding"
        try expect(ids, .int32, op)
        guard table.shape.rank == 2 else {
            throw TensorError.shapeMismatch(op: op, expected: "table [V, h]", got: table.shape)
        }
        let (rows, h, n) = (table.shape[0], table.shape[1], ids.count)
        try out.expect([n, h], op)
        try checkShard(vocabStart, rows, of: vocabSize, op)
        let sfx = try computeSuffix([table, out], op)
        guard n > 0, h > 0 else { return }
        try withErrorFlag(op, "a token id lies outside 0..<\(vocabSize)") { flag in
            var args = KernelArguments()
            args.append(ids)
            args.append(table)
            args.append(out)
            args.append(Int64(n))
            args.append(try int32(h, "h", op))
            try appendShard(rows, vocabStart, vocabSize, to: &args, op)
            args.append(flag)
            try launch("embedding", "embedding_forward_\(sfx)", rowTiled: n, width: h, args)
        }
    }

    public func embeddingBackward(_ ids: Tensor, dout: Tensor, vocabStart: Int, vocabSize: Int, into dtable: Tensor) throws {
        let op = "embeddingBackward"
        try expect(ids, .int32, op)
        try expect(dtable, .fp32, op)
        guard dtable.shape.rank == 2 else {
            throw TensorError.shapeMismatch(op: op, expected: "dtable [V, h]", got: dtable.shape)
        }
        let (rows, h, n) = (dtable.shape[0], dtable.shape[1], ids.count)
        try dout.expect([n, h], op)
        try checkShard(vocabStart, rows, of: vocabSize, op)
        let sfx = try computeSuffix([dout], op)
        guard n > 0, h > 0, rows > 0 else { return }
        let units = (h + 7) / 8
        let columnBlocks = (units + 255) / 256
        let rowsPerBlock = max(1, (rows * columnBlocks + 4 * multiprocessors - 1) / (4 * multiprocessors))
        let grid = Dim3(x: (rows + rowsPerBlock - 1) / rowsPerBlock, y: columnBlocks)
        try withErrorFlag(op, "a token id lies outside 0..<\(vocabSize)") { flag in
            var args = KernelArguments()
            args.append(ids)
            args.append(dout)
            args.append(dtable)
            args.append(Int64(n))
            args.append(try int32(h, "h", op))
            try appendShard(rows, vocabStart, vocabSize, to: &args, op)
            args.append(Int32(rowsPerBlock))
            args.append(flag)
            try launch("embedding", "embedding_backward_\(sfx)", grid: grid, block: 256, args)
        }
    }

    /// The embedding kernels' `rows, vocab_start, vocab_size` (a checked shard: `vocabStart` and
    /// `rows` are at most `vocabSize`, so they fit an int when it does).
    private func appendShard(_ rows: Int, _ vocabStart: Int, _ vocabSize: Int, to args: inout KernelArguments, _ op: String) throws {
        let size = try int32(vocabSize, "vocabSize", op)
        args.append(Int32(rows))
        args.append(Int32(vocabStart))
        args.append(size)
    }
}
