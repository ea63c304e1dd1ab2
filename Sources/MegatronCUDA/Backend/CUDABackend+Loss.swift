import MegatronTensor

extension CUDABackend {
    public func crossEntropy(_ logits: Tensor, targets: Tensor, losses: Tensor) throws {
        try launchLoss("crossEntropy", "cross_entropy_forward", logits: logits, dlogits: nil, targets: targets,
                       targetBound: logits.shape.last, rowVectors: [losses]) {
            $0.append(logits)
            $0.append(targets)
            $0.append(losses)
            $0.append(UInt64(0))  // lse: not kept
        }
    }

    public func crossEntropyBackward(_ logits: Tensor, targets: Tensor, dloss: Tensor, into dlogits: Tensor) throws {
        try launchLoss("crossEntropyBackward", "cross_entropy_backward", logits: logits, dlogits: dlogits, targets: targets,
                       targetBound: logits.shape.last, rowVectors: [dloss]) {
            $0.append(logits)
            $0.append(targets)
            $0.append(dloss)
            $0.append(UInt64(0))  // lse: recomputed
            $0.append(dlogits)
        }
    }

    /// One launch: each row is read for its log-sum-exp, then reread and overwritten with its gradient.
    public func crossEntropyFused(_ logits: Tensor, targets: Tensor, weights: Tensor, losses: Tensor) throws {
        try launchLoss("crossEntropyFused", "cross_entropy_fused", logits: logits, dlogits: nil, targets: targets,
                       targetBound: logits.shape.last, rowVectors: [weights, losses]) {
            $0.append(logits)
            $0.append(targets)
            $0.append(weights)
            $0.append(losses)
            $0.append(UInt64(0))  // lse: not kept
            $0.append(logits)     // dlogits, in place
        }
    }

    public func crossEntropyPartials(_ logits: Tensor, targets: Tensor, vocabStart: Int, vocabSize: Int, into partials: Tensor) throws {
        let op = "crossEntropyPartials"
        try checkShard(vocabStart, logits.shape.last, of: vocabSize, op)
        try expect(partials, .fp32, op)
        try partials.expect([logits.shape.leading, 3], op)
        let size = try int32(vocabSize, "vocabSize", op)
        try launchLoss(op, "cross_entropy_partials", logits: logits, dlogits: nil, targets: targets, targetBound: vocabSize,
                       rowVectors: []) {
            $0.append(logits)
            $0.append(targets)
            $0.append(Int32(vocabStart))  // ≤ vocabSize
            $0.append(size)
            $0.append(partials)
        }
    }

    /// One thread per row: the shards' partials are only 3 floats each.
    public func crossEntropyCombine(_ partials: Tensor, lse: Tensor, losses: Tensor) throws {
        let op = "crossEntropyCombine"
        let n = lse.count
        for t in [partials, lse, losses] { try expect(t, .fp32, op) }
        try expectCount(losses, n, op)
        guard n > 0, partials.shape.last == 3, partials.count % (3 * n) == 0 else {
            throw TensorError.shapeMismatch(op: op, expected: "partials [shards, \(n), 3]", got: partials.shape)
        }
        var args = KernelArguments()
        args.append(partials)
        args.append(lse)
        args.append(losses)
        args.append(Int64(n))
        args.append(try int32(partials.count / (3 * n), "shards", op))
        try launch("loss", "cross_entropy_combine", flat: n, perBlock: 256, args)
    }

    public func crossEntropyShardBackward(
        _ logits: Tensor, targets: Tensor, vocabStart: Int, lse: Tensor, weights: Tensor, into dlogits: Tensor
    ) throws {
        try launchLoss("crossEntropyShardBackward", "cross_entropy_shard_backward", logits: logits, dlogits: dlogits,
                       targets: targets, targetBound: nil, rowVectors: [lse, weights]) {
            $0.append(logits)
            $0.append(targets)
            $0.append(Int64(vocabStart))
            $0.append(lse)
            $0.append(weights)
            $0.append(dlogits)
        }
    }

    /// Checks a loss op's tensors (`logits [n, V]` and `dlogits` in the compute dtype, int32
    /// targets and fp32 per-row vectors `[n]`) and launches `kernel` one block per row (512
    /// threads for large vocabularies, else 256) with the op's leading `arguments`, then the
    /// `n, vocab` every loss kernel ends with, and `error` when `targetBound` is given: a target
    /// outside `0..<targetBound` sets it, and it is thrown here. A kernel that checks no target
    /// (`targetBound` nil) takes no flag, so its launch does not wait for the device.
    private func launchLoss(
        _ op: String, _ kernel: String, logits: Tensor, dlogits: Tensor?, targets: Tensor, targetBound: Int?,
        rowVectors: [Tensor], _ arguments: (inout KernelArguments) -> Void
    ) throws {
        let (n, vocab) = (logits.shape.leading, logits.shape.last)
        if let dlogits { try expectCount(dlogits, n * vocab, op) }
        let sfx = try computeSuffix([logits] + (dlogits.map { [$0] } ?? []), op)
        try expect(targets, .int32, op)
        try expectCount(targets, n, op)
        for vector in rowVectors {
            try expect(vector, .fp32, op)
            try expectCount(vector, n, op)
        }
        guard n > 0 else { return }
        let v32 = try int32(vocab, "vocab", op)
        func run(_ flag: DevicePointer?) throws {
            var args = KernelArguments()
            arguments(&args)
            args.append(Int64(n))
            args.append(v32)
            if let flag { args.append(flag) }
            try launch("loss", "\(kernel)_\(sfx)", grid: Dim3(x: min(n, Int(Int32.max))), block: Dim3(x: vocab >= 16_384 ? 512 : 256), args)
        }
        guard let targetBound else { return try run(nil) }
        try withErrorFlag(op, "a target lies outside 0..<\(targetBound)") { try run($0) }
    }
}
