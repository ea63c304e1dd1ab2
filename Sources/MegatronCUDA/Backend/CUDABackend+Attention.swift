import MegatronTensor

extension CUDABackend {
    /// `(tokens, nq, ng, d)` of `q [s, b, nq, d]` and `k [s, b, ng, d]`.
    private func headLayout(q: Tensor, k: Tensor, _ op: String) throws -> (tokens: Int, nq: Int, ng: Int, d: Int) {
        guard q.shape.rank == 4, k.shape.rank == 4, q.shape[0] == k.shape[0], q.shape[1] == k.shape[1],
              q.shape[3] == k.shape[3], k.shape[2] > 0, q.shape[2] % k.shape[2] == 0
        else {
            throw TensorError.shapeMismatch(
                op: op, expected: "q [s, b, nq, d] and k [s, b, ng, d] with ng dividing nq (q is \(q.shape))", got: k.shape)
        }
        return (q.shape[0] * q.shape[1], q.shape[2], k.shape[2], q.shape[3])
    }

    public func splitQKV(_ qkv: Tensor, q: Tensor, k: Tensor, v: Tensor) throws {
        try moveQKV(qkv, q: q, k: k, v: v, function: "split_qkv", "splitQKV")
    }

    public func mergeQKV(q: Tensor, k: Tensor, v: Tensor, into qkv: Tensor) throws {
        try moveQKV(qkv, q: q, k: k, v: v, function: "merge_qkv", "mergeQKV")
    }

    private func moveQKV(_ qkv: Tensor, q: Tensor, k: Tensor, v: Tensor, function: String, _ op: String) throws {
        let (tokens, nq, ng, d) = try headLayout(q: q, k: k, op)
        try v.expect(k.shape, op)
        let width = (nq + 2 * ng) * d
        try expectCount(qkv, tokens * width, op)
        let sfx = try computeSuffix([qkv, q, k, v], op)
        var args = KernelArguments()
        if function == "split_qkv" {
            args.append(qkv)
            args.append(q)
            args.append(k)
            args.append(v)
        } else {
            args.append(q)
            args.append(k)
            args.append(v)
            args.append(qkv)
        }
        args.append(Int64(tokens))
        args.append(try int32(nq, "nq", op))
        args.append(try int32(ng, "ng", op))
        args.append(try int32(d, "d", op))
        _ = try int32(width, "row width", op)
        try launch("attention_layout", "\(function)_\(sfx)", flat: tokens * width, args)
    }

    public func rope(_ x: Tensor, base: Float, inverse: Bool) throws {
        let op = "rope"
        guard x.shape.rank == 4, x.shape[3] % 2 == 0 else {
            throw TensorError.shapeMismatch(op: op, expected: "[s, b, heads, d] with even d", got: x.shape)
        }
        let sfx = try computeSuffix([x], op)
        let (s, rowsPerPosition, d) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        guard s > 0, rowsPerPosition > 0, d > 0 else { return }
        let gx = min(max((rowsPerPosition * ((d + 15) / 16) + 255) / 256, 1), 65535)
        var args = KernelArguments()
        args.append(x)
        args.append(Int64(s))
        args.append(Int64(rowsPerPosition))
        args.append(try int32(d, "d", op))
        args.append(base)
        args.append(Int32(inverse ? 1 : 0))
        try launch("attention_layout", "rope_\(sfx)", grid: Dim3(x: gx, y: min(s, 65535)), block: 256,
                   sharedBytes: d * 4, args)
    }

    /// Checks the attention arguments shared by the forward and the backward; returns the
    /// dimensions and the kernels' element type (q's dtype; the callers check that the others match).
    private func attentionLayout(
        q: Tensor, k: Tensor, v: Tensor, lse: Tensor, scale: Float, dropout: Float, _ op: String
    ) throws -> (s: Int, b: Int, nq: Int, ng: Int, d: Int, element: FlashAttentionKernels.Element) {
        let (_, nq, ng, d) = try headLayout(q: q, k: k, op)
        try v.expect(k.shape, op)
        let (s, b) = (q.shape[0], q.shape[1])
        try expect(lse, .fp32, op)
        try expectCount(lse, b * nq * s, op)
        guard dropout >= 0, dropout < 1 else {
            throw TensorError.invalidArgument(op: op, message: "dropout \(dropout) outside [0, 1)")
        }
        guard scale > 0 else { throw TensorError.invalidArgument(op: op, message: "scale \(scale) must be > 0") }
        guard d > 0, d <= FlashAttentionKernels.maxHeadDim else {
            throw TensorError.invalidArgument(op: op, message: "head dimension \(d) outside 1...\(FlashAttentionKernels.maxHeadDim)")
        }
        guard s <= Int(Int32.max), b * nq <= Int(Int32.max) else {
            throw TensorError.invalidArgument(op: op, message: "s \(s) or b·nq \(b * nq) does not fit a 32-bit int")
        }
        guard let element = FlashAttentionKernels.Element(q.dtype) else {
            throw TensorError.unsupportedDType(op: op, dtype: q.dtype, backend: "cuda")
        }
        return (s, b, nq, ng, d, element)
    }

    /// The tensor-core kernels load with 16-byte accesses: check the tensors they read and write.
    private func checkFlashAlignment(_ tensors: [Tensor], _ element: FlashAttentionKernels.Element, d: Int, _ op: String) throws {
        guard FlashAttentionKernels.usesTensorCores(element, d: d) else { return }
        for t in tensors where DevicePointer(t.address).alignment(limit: 16) < 16 {
            throw TensorError.invalidArgument(
                op: op, message: "the \(element.rawValue) d=\(d) tensor-core kernels need 16-byte aligned tensors; \(t) is at \(DevicePointer(t.address))")
        }
    }

    /// Checks the optional segment ids: int32 `[b, s]` on this device.
    private func checkSegments(_ segments: Tensor?, s: Int, b: Int, _ op: String) throws {
        guard let segments else { return }
        try expect(segments, .int32, op)
        guard segments.shape.rank == 2, segments.count == b * s else {
            throw TensorError.shapeMismatch(op: op, expected: "segments int32 [b, s] = [\(b), \(s)]", got: segments.shape)
        }
        guard DevicePointer(segments.address).alignment(limit: 4) >= 4 else {
            throw TensorError.invalidArgument(op: op, message: "segments must be 4-byte aligned; \(segments) is at \(DevicePointer(segments.address))")
        }
    }

    private func launchFlash(_ l: FlashAttentionKernels.Launch, _ args: KernelArguments) throws {
        guard l.gridY <= 65535 else {
            throw TensorError.invalidArgument(op: l.function, message: "grid y \(l.gridY) exceeds 65535 (sequence too long)")
        }
        try launch(l.group, l.function, grid: Dim3(x: l.gridX, y: l.gridY), block: Dim3(x: l.block),
                   sharedBytes: l.sharedBytes, args)
    }

    public func attention(
        q: Tensor, k: Tensor, v: Tensor, into out: Tensor, lse: Tensor,
        scale: Float, dropout: Float, seed: UInt64, segments: Tensor?
    ) throws {
        let op = "attention"
        let (s, b, nq, ng, d, element) = try attentionLayout(q: q, k: k, v: v, lse: lse, scale: scale, dropout: dropout, op)
        try out.expect(q.shape, op)
        _ = try computeSuffix([q, k, v, out], op)
        try checkSegments(segments, s: s, b: b, op)
        guard s > 0, b > 0 else { return }
        try checkFlashAlignment([q, k, v, out], element, d: d, op)
        // With segments, the same kernel compiled with the segment mask (its own group; the
        // plain kernels carry no segment code) and one more argument.
        let l = FlashAttentionKernels.forward(element, s: s, b: b, nq: nq, ng: ng, d: d, dropout: dropout, segments: segments != nil)
        var args = KernelArguments()
        args.append(q)
        args.append(k)
        args.append(v)
        args.append(out)
        args.append(lse)
        args.append(Int32(s))
        args.append(Int32(b))
        args.append(Int32(nq))
        args.append(Int32(ng))
        args.append(Int32(d))
        args.append(scale)
        args.append(dropout)
        args.append(seed)
        if let segments { args.append(segments) }
        try launchFlash(l, args)
    }

    public func attentionBackward(
        _ dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
        dq: Tensor, dk: Tensor, dv: Tensor, scale: Float, dropout: Float, seed: UInt64, segments: Tensor?
    ) throws {
        let op = "attentionBackward"
        let (s, b, nq, ng, d, element) = try attentionLayout(q: q, k: k, v: v, lse: lse, scale: scale, dropout: dropout, op)
        for t in [dout, out, dq] { try t.expect(q.shape, op) }
        for t in [dk, dv] { try t.expect(k.shape, op) }
        _ = try computeSuffix([dout, q, k, v, out, dq, dk, dv], op)
        try checkSegments(segments, s: s, b: b, op)
        guard s > 0, b > 0 else { return }
        try checkFlashAlignment([dout, q, k, v], element, d: d, op)

        // 1. delta = rowsum(dO ∘ O), dq_accum zeroed (an fp32 scratch unless dq itself is fp32).
        let delta = try scratch(floats: b * nq * s, "attention delta")
        let dqAccumBuffer: DeviceBuffer? = element == .f32 ? nil : try scratch(floats: q.count, "attention dq_accum")
        let dqAccum = dqAccumBuffer?.pointer ?? DevicePointer(dq.address)
        let pre = FlashAttentionKernels.backwardPreprocess(element, s: s, b: b, nq: nq, d: d)
        var preArgs = KernelArguments()
        preArgs.append(dout)
        preArgs.append(out)
        preArgs.append(delta.pointer)
        preArgs.append(dqAccum)
        preArgs.append(Int32(s))
        preArgs.append(Int32(b))
        preArgs.append(Int32(nq))
        preArgs.append(Int32(d))
        try launchFlash(pre, preArgs)

        // 2. dK, dV, and dQ accumulated in fp32 (the segment-masked kernel with segments).
        let bwd = FlashAttentionKernels.backward(element, s: s, b: b, nq: nq, ng: ng, d: d, dropout: dropout,
                                                 segments: segments != nil)
        var args = KernelArguments()
        args.append(dout)
        args.append(q)
        args.append(k)
        args.append(v)
        args.append(lse)
        args.append(delta.pointer)
        args.append(dqAccum)
        args.append(dk)
        args.append(dv)
        args.append(Int32(s))
        args.append(Int32(b))
        args.append(Int32(nq))
        args.append(Int32(ng))
        args.append(Int32(d))
        args.append(scale)
        args.append(dropout)
        args.append(seed)
        if let segments { args.append(segments) }
        try launchFlash(bwd, args)

        // 3. dq = T(dq_accum) (fp32 wrote dq directly).
        if let dqAccumBuffer {
            let convert = FlashAttentionKernels.convertDQ(element, count: q.count)
            var convertArgs = KernelArguments()
            convertArgs.append(dqAccumBuffer.pointer)
            convertArgs.append(dq)
            convertArgs.append(Int64(q.count))
            try launchFlash(convert, convertArgs)
        }
    }
}
