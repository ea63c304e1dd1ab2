import MegatronTensor

extension CUDABackend {
    public func gemm(
        _ a: Tensor, _ b: Tensor, into c: Tensor,
        transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float
    ) throws {
        try matmul(a, b, into: c, transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta, epilogue: .none, "gemm")
    }

    /// The bias add runs in the GEMM's epilogue (cuBLASLt `BIAS`).
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: Tensor) throws {
        let op = "linear"
        guard let bias else {
            return try matmul(x, weight, into: y, transposeA: false, transposeB: true, alpha: 1, beta: 0, epilogue: .none, op)
        }
        try expectCount(bias, y.shape.last, op)
        try checkDevice(bias, op)
        try bias.expect(y.dtype, op)
        try matmul(x, weight, into: y, transposeA: false, transposeB: true, alpha: 1, beta: 0,
                   epilogue: .bias(DevicePointer(bias.address)), op)
    }

    /// With the tanh GeLU on 16-bit activations, bias and GeLU run in the GEMM's epilogue
    /// (cuBLASLt `GELU_AUX_BIAS`, which keeps the pre-activation); otherwise the ops run apart
    /// (cuBLASLt's GeLU is the tanh form, and the fp32 path is checked against the CPU to 1e-5).
    public func linearGeLU(_ x: Tensor, weight: Tensor, bias: Tensor?, preActivation: Tensor, into y: Tensor, approximate: Bool) throws {
        let op = "linearGeLU"
        guard approximate, y.dtype != .fp32, y.shape.last % 8 == 0 else {
            return try composedLinearGeLU(x, weight: weight, bias: bias, preActivation: preActivation, into: y, approximate: approximate)
        }
        try expectCount(preActivation, y.count, op)
        try checkDevice(preActivation, op)
        try preActivation.expect(y.dtype, op)
        let aux = DevicePointer(preActivation.address)
        var epilogue = MatmulEpilogue.geluAux(aux: aux)
        if let bias {
            try expectCount(bias, y.shape.last, op)
            try checkDevice(bias, op)
            try bias.expect(y.dtype, op)
            epilogue = .geluAuxBias(bias: DevicePointer(bias.address), aux: aux)
        }
        try matmul(x, weight, into: y, transposeA: false, transposeB: true, alpha: 1, beta: 0, epilogue: epilogue, op)
    }

    /// With the tanh GeLU on 16-bit activations, the GeLU's derivative is applied in the GEMM's
    /// epilogue (cuBLASLt `DGELU`).
    public func linearInputGradientThroughGeLU(
        _ dy: Tensor, weight: Tensor, preActivation: Tensor, into dpre: Tensor, approximate: Bool
    ) throws {
        let op = "linearInputGradientThroughGeLU"
        guard approximate, dpre.dtype != .fp32, dpre.shape.last % 8 == 0 else {
            return try composedLinearInputGradientThroughGeLU(dy, weight: weight, preActivation: preActivation, into: dpre,
                                                              approximate: approximate)
        }
        try expectCount(preActivation, dpre.count, op)
        try checkDevice(preActivation, op)
        try preActivation.expect(dpre.dtype, op)
        try matmul(dy, weight, into: dpre, transposeA: false, transposeB: false, alpha: 1, beta: 0,
                   epilogue: .dgelu(aux: DevicePointer(preActivation.address)), op)
    }

    /// `c = alpha · op(a) · op(b) + beta · c` and `epilogue` through cuBLASLt, shapes checked.
    private func matmul(
        _ a: Tensor, _ b: Tensor, into c: Tensor, transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float,
        epilogue: MatmulEpilogue, _ op: String
    ) throws {
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
        let label = epilogue == .none ? "gemm" : "gemm+\(epilogue.name)"
        try profiler.time("\(label) \(a.dtype) [\(m)×\(k)]·[\(k)×\(n)] \(transposeA ? "T" : "N")\(transposeB ? "T" : "N")", on: stream) {
            try blas.gemm(a, b, into: c, transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta,
                          epilogue: epilogue, stream: stream)
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
