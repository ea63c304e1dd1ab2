import MegatronTensor

extension CUDABackend {
    /// One block per row: 512 threads for large vocabularies, else 256.
    func lossLaunch(rows n: Int, vocab: Int) -> (grid: Dim3, block: Dim3) {
        (Dim3(x: min(n, Int(Int32.max))), Dim3(x: vocab >= 16_384 ? 512 : 256))
    }

    public func crossEntropy(_ logits: Tensor, targets: Tensor, losses: Tensor) throws {
        let op = "crossEntropy"
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        let sfx = try computeSuffix([logits], op)
        try expect(targets, .int32, op)
        try expectCount(targets, n, op)
        try expect(losses, .fp32, op)
        try expectCount(losses, n, op)
        guard n > 0 else { return }
        let v32 = try int32(vocab, "vocab", op)
        let (grid, block) = lossLaunch(rows: n, vocab: vocab)
        try withErrorFlag(op, "a target lies outside 0..<\(vocab)") { flag in
            var args = KernelArguments()
            args.append(logits)
            args.append(targets)
            args.append(losses)
            args.append(UInt64(0))  // lse: not kept
            args.append(Int64(n))
            args.append(v32)
            args.append(flag)
            try launch("loss", "cross_entropy_forward_\(sfx)", grid: grid, block: block, args)
        }
    }

    public func crossEntropyBackward(_ logits: Tensor, targets: Tensor, dloss: Tensor, into dlogits: Tensor) throws {
        let op = "crossEntropyBackward"
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        try expectCount(dlogits, n * vocab, op)
        let sfx = try computeSuffix([logits, dlogits], op)
        try expect(targets, .int32, op)
        try expectCount(targets, n, op)
        try expect(dloss, .fp32, op)
        try expectCount(dloss, n, op)
        guard n > 0 else { return }
        let v32 = try int32(vocab, "vocab", op)
        let (grid, block) = lossLaunch(rows: n, vocab: vocab)
        try withErrorFlag(op, "a target lies outside 0..<\(vocab)") { flag in
            var args = KernelArguments()
            args.append(logits)
            args.append(targets)
            args.append(dloss)
            args.append(UInt64(0))  // lse: recomputed
            args.append(dlogits)
            args.append(Int64(n))
            args.append(v32)
            args.append(flag)
            try launch("loss", "cross_entropy_backward_\(sfx)", grid: grid, block: block, args)
        }
    }
}

extension CUDABackend {
    /// One launch: each row is read for its log-sum-exp, then reread and overwritten with its gradient.
    public func crossEntropyFused(_ logits: Tensor, targets: Tensor, weights: Tensor, losses: Tensor) throws {
        let op = "crossEntropyFused"
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        let sfx = try computeSuffix([logits], op)
        try expect(targets, .int32, op)
        try expectCount(targets, n, op)
        try expect(weights, .fp32, op)
        try expectCount(weights, n, op)
        try expect(losses, .fp32, op)
        try expectCount(losses, n, op)
        guard n > 0 else { return }
        let v32 = try int32(vocab, "vocab", op)
        let (grid, block) = lossLaunch(rows: n, vocab: vocab)
        try withErrorFlag(op, "a target lies outside 0..<\(vocab)") { flag in
            var args = KernelArguments()
            args.append(logits)
            args.append(targets)
            args.append(weights)
            args.append(losses)
            args.append(UInt64(0))  // lse: not kept
            args.append(logits)     // dlogits, in place
            args.append(Int64(n))
            args.append(v32)
            args.append(flag)
            try launch("loss", "cross_entropy_fused_\(sfx)", grid: grid, block: block, args)
        }
    }
}
