import MegatronTensor

extension CUDABackend {
    public func crossEntropy(_ logits: Tensor, targets: Tensor, losses: Tensor) throws {
        try launchLoss("crossEntropy", "cross_entropy_forward", logits: logits, dlogits: nil, targets: targets, rowVectors: [losses]) {
            $0.append(logits)
            $0.append(targets)
            $0.append(losses)
            $0.append(UInt64(0))  // lse: not kept
        }
    }

    public func crossEntropyBackward(_ logits: Tensor, targets: Tensor, dloss: Tensor, into dlogits: Tensor) throws {
        try launchLoss("crossEntropyBackward", "cross_entropy_backward", logits: logits, dlogits: dlogits, targets: targets,
                       rowVectors: [dloss]) {
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
                       rowVectors: [weights, losses]) {
            $0.append(logits)
            $0.append(targets)
            $0.append(weights)
            $0.append(losses)
            $0.append(UInt64(0))  // lse: not kept
            $0.append(logits)     // dlogits, in place
        }
    }

    // TEMPORARY until the vocabulary-shard kernels land.
    public func crossEntropyPartials(_ logits: Tensor, targets: Tensor, vocabStart: Int, vocabSize: Int, into partials: Tensor) throws {
        throw TensorError.invalidArgument(op: "crossEntropyPartials", message: "not implemented on CUDA yet")
    }
    public func crossEntropyCombine(_ partials: Tensor, lse: Tensor, losses: Tensor) throws {
        throw TensorError.invalidArgument(op: "crossEntropyCombine", message: "not implemented on CUDA yet")
    }
    public func crossEntropyShardBackward(
        _ logits: Tensor, targets: Tensor, vocabStart: Int, lse: Tensor, weights: Tensor, into dlogits: Tensor
    ) throws {
        throw TensorError.invalidArgument(op: "crossEntropyShardBackward", message: "not implemented on CUDA yet")
    }

    /// Checks a loss op's tensors (`logits [n, V]` and `dlogits` in the compute dtype, int32
    /// targets and fp32 per-row vectors `[n]`) and launches `kernel` one block per row (512
    /// threads for large vocabularies, else 256) with the op's leading `arguments`, then the
    /// `n, vocab, error` every loss kernel ends with.
    private func launchLoss(
        _ op: String, _ kernel: String, logits: Tensor, dlogits: Tensor?, targets: Tensor, rowVectors: [Tensor],
        _ arguments: (inout KernelArguments) -> Void
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
        try withErrorFlag(op, "a target lies outside 0..<\(vocab)") { flag in
            var args = KernelArguments()
            arguments(&args)
            args.append(Int64(n))
            args.append(v32)
            args.append(flag)
            try launch("loss", "\(kernel)_\(sfx)", grid: Dim3(x: min(n, Int(Int32.max))), block: Dim3(x: vocab >= 16_384 ? 512 : 256), args)
        }
    }
}
