import MegatronTensor

extension CUDABackend {
    public func gemm(
        _ a: Tensor, _ b: Tensor, into c: Tensor,
        transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float
    ) throws {
        let op = "gemm"
        for t in [a, b, c] { try checkDevice(t, op) }
        try b.expect(a.dtype, op)
        let (m, k) = transposeA ? (a.shape.last, a.shape.leading) : (a.shape.leading, a.shape.last)
        let (bk, n) = transposeB ? (b.shape.last, b.shape.leading) : (b.shape.leading, b.shape.last)
        guard bk == k else {
            throw TensorError.shapeMismatch(op: op, expected: "b with \(k) rows for a \(a.shape)\(transposeA ? "ᵀ" : "")\(transposeB ? " (bᵀ)" : "")", got: b.shape)
        }
        guard c.shape.leading == m, c.shape.last == n else {
            throw TensorError.shapeMismatch(op: op, expected: "[\(m), \(n)]", got: c.shape)
        }
        try profiler.time("gemm \(a.dtype) [\(m)×\(k)]·[\(k)×\(n)] \(transposeA ? "T" : "N")\(transposeB ? "T" : "N")", on: stream) {
            try blas.gemm(a, b, into: c, transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta, stream: stream)
        }
    }

    public func addBias(_ bias: Tensor, to y: Tensor) throws {
        let op = "addBias"
        let (rows, cols) = (y.shape.leading, y.shape.last)
        try expectCount(bias, cols, op)
        let sfx = try computeSuffix([y, bias], op)
        var args = KernelArguments()
        args.append(y)
        args.append(bias)
        args.append(Int64(rows))
        args.append(try int32(cols, "cols", op))
        try launch("linear", "add_bias_\(sfx)", rowTiled: rows, width: cols, args)
    }

    public func biasBackward(_ dy: Tensor, into dbias: Tensor) throws {
        let op = "biasBackward"
        let (rows, cols) = (dy.shape.leading, dy.shape.last)
        try expectCount(dbias, cols, op)
        try expect(dbias, .fp32, op)
        let sfx = try computeSuffix([dy], op)
        guard rows > 0, cols > 0 else { return }
        let (tiles, splits, rowsPerSplit) = columnPartials(rows: rows, cols: cols)
        let partials = try scratch(floats: splits * cols, "biasBackward partials")
        var args = KernelArguments()
        args.append(dy)
        args.append(Int64(rows))
        args.append(try int32(cols, "cols", op))
        args.append(Int64(rowsPerSplit))
        args.append(partials.pointer)
        try launch("linear", "bias_backward_partial_\(sfx)", grid: Dim3(x: tiles, y: splits), block: Dim3(x: 32, y: 8), args)
        var final = KernelArguments()
        final.append(partials.pointer)
        final.append(Int32(splits))
        final.append(Int32(cols))
        final.append(dbias)
        try launch("linear", "bias_backward_finalize", grid: Dim3(x: (cols + 255) / 256), block: 256, final)
    }
}
