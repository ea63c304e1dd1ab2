import MegatronTensor

extension CUDABackend {
    /// Rows and width of a normalised `[n, h]` tensor and a `[h]` weight.
    private func normLayout(_ x: Tensor, weight: Tensor, _ op: String) throws -> (n: Int, h: Int) {
        let (n, h) = (x.shape.leading, x.shape.last)
        try expectCount(weight, h, op)
        return (n, h)
    }

    public func layerNorm(
        _ x: Tensor, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor
    ) throws {
        try layerNorm(x, residual: nil, weight: weight, bias: bias, epsilon: epsilon, into: y, mean: mean, rstd: rstd, "layerNorm")
    }

    /// One launch: the kernel adds the residual to each row before taking its statistics.
    public func residualLayerNorm(
        _ x: Tensor, residual: Tensor, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor
    ) throws {
        try layerNorm(x, residual: residual, weight: weight, bias: bias, epsilon: epsilon, into: y, mean: mean, rstd: rstd,
                      "residualLayerNorm")
    }

    private func layerNorm(
        _ x: Tensor, residual: Tensor?, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor, _ op: String
    ) throws {
        let (n, h) = try normLayout(x, weight: weight, op)
        try expectCount(y, x.count, op)
        var tensors = [x, weight, y]
        if let bias {
            try expectCount(bias, h, op)
            tensors.append(bias)
        }
        if let residual {
            try expectCount(residual, x.count, op)
            tensors.append(residual)
        }
        let sfx = try computeSuffix(tensors, op)
        for t in [mean, rstd] {
            try expect(t, .fp32, op)
            try expectCount(t, n, op)
        }
        var args = KernelArguments()
        args.append(x)
        if let residual { args.append(residual) } else { args.append(UInt64(0)) }
        args.append(weight)
        if let bias { args.append(bias) } else { args.append(UInt64(0)) }
        args.append(y)
        args.append(mean)
        args.append(rstd)
        args.append(Int64(n))
        args.append(try int32(h, "h", op))
        args.append(epsilon)
        try launch("normalization", "layernorm_forward_\(sfx)", rowGroup: n, width: h, args)
    }

    public func layerNormBackward(
        _ dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
        dx: Tensor, dweight: Tensor, dbias: Tensor?
    ) throws {
        let op = "layerNormBackward"
        let (n, h) = try normLayout(x, weight: weight, op)
        try expectCount(dy, x.count, op)
        try expectCount(dx, x.count, op)
        let sfx = try computeSuffix([dy, x, weight, dx], op)
        for t in [mean, rstd] {
            try expect(t, .fp32, op)
            try expectCount(t, n, op)
        }
        try expect(dweight, .fp32, op)
        try expectCount(dweight, h, op)
        if let dbias {
            try expect(dbias, .fp32, op)
            try expectCount(dbias, h, op)
        }
        guard n > 0, h > 0 else { return }
        let h32 = try int32(h, "h", op)

        var args = KernelArguments()
        args.append(dy)
        args.append(x)
        args.append(weight)
        args.append(mean)
        args.append(rstd)
        args.append(dx)
        args.append(Int64(n))
        args.append(h32)
        try launch("normalization", "layernorm_backward_\(sfx)", rowGroup: n, width: h, args)

        let (tiles, splits, rowsPerSplit) = columnPartials(rows: n, cols: h)
        let partialWeight = try scratch(floats: splits * h, "layerNorm weight partials")
        let partialBias: DeviceBuffer? = try dbias.map { _ in try scratch(floats: splits * h, "layerNorm bias partials") }
        var partial = KernelArguments()
        partial.append(dy)
        partial.append(x)
        partial.append(mean)
        partial.append(rstd)
        partial.append(Int64(n))
        partial.append(h32)
        partial.append(Int64(rowsPerSplit))
        partial.append(partialWeight.pointer)
        if let partialBias { partial.append(partialBias.pointer) } else { partial.append(UInt64(0)) }
        try launch("normalization", "layernorm_backward_weight_partial_\(sfx)",
                   grid: Dim3(x: tiles, y: splits), block: Dim3(x: 32, y: 8), partial)
        try finalizeNormGrad(partialWeight, splits: splits, h: h32, into: dweight)
        if let dbias, let partialBias {
            try finalizeNormGrad(partialBias, splits: splits, h: h32, into: dbias)
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor) throws {
        try rmsNorm(x, residual: nil, weight: weight, epsilon: epsilon, into: y, rstd: rstd, "rmsNorm")
    }

    /// One launch: the kernel adds the residual to each row before taking its statistics.
    public func residualRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor) throws {
        try rmsNorm(x, residual: residual, weight: weight, epsilon: epsilon, into: y, rstd: rstd, "residualRMSNorm")
    }

    private func rmsNorm(
        _ x: Tensor, residual: Tensor?, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor, _ op: String
    ) throws {
        let (n, h) = try normLayout(x, weight: weight, op)
        try expectCount(y, x.count, op)
        var tensors = [x, weight, y]
        if let residual {
            try expectCount(residual, x.count, op)
            tensors.append(residual)
        }
        let sfx = try computeSuffix(tensors, op)
        try expect(rstd, .fp32, op)
        try expectCount(rstd, n, op)
        var args = KernelArguments()
        args.append(x)
        if let residual { args.append(residual) } else { args.append(UInt64(0)) }
        args.append(weight)
        args.append(y)
        args.append(rstd)
        args.append(Int64(n))
        args.append(try int32(h, "h", op))
        args.append(epsilon)
        try launch("normalization", "rmsnorm_forward_\(sfx)", rowGroup: n, width: h, args)
    }

    public func rmsNormBackward(_ dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor, dx: Tensor, dweight: Tensor) throws {
        let op = "rmsNormBackward"
        let (n, h) = try normLayout(x, weight: weight, op)
        try expectCount(dy, x.count, op)
        try expectCount(dx, x.count, op)
        let sfx = try computeSuffix([dy, x, weight, dx], op)
        try expect(rstd, .fp32, op)
        try expectCount(rstd, n, op)
        try expect(dweight, .fp32, op)
        try expectCount(dweight, h, op)
        guard n > 0, h > 0 else { return }
        let h32 = try int32(h, "h", op)

        var args = KernelArguments()
        args.append(dy)
        args.append(x)
        args.append(weight)
        args.append(rstd)
        args.append(dx)
        args.append(Int64(n))
        args.append(h32)
        try launch("normalization", "rmsnorm_backward_\(sfx)", rowGroup: n, width: h, args)

        let (tiles, splits, rowsPerSplit) = columnPartials(rows: n, cols: h)
        let partialWeight = try scratch(floats: splits * h, "rmsNorm weight partials")
        var partial = KernelArguments()
        partial.append(dy)
        partial.append(x)
        partial.append(rstd)
        partial.append(Int64(n))
        partial.append(h32)
        partial.append(Int64(rowsPerSplit))
        partial.append(partialWeight.pointer)
        try launch("normalization", "rmsnorm_backward_weight_partial_\(sfx)",
                   grid: Dim3(x: tiles, y: splits), block: Dim3(x: 32, y: 8), partial)
        try finalizeNormGrad(partialWeight, splits: splits, h: h32, into: dweight)
    }

    /// `out[c] += Σ_s partials[s·h + c]`.
    private func finalizeNormGrad(_ partials: DeviceBuffer, splits: Int, h: Int32, into out: Tensor) throws {
        var args = KernelArguments()
        args.append(partials.pointer)
        args.append(Int32(splits))
        args.append(h)
        args.append(out)
        try launch("normalization", "norm_weight_grad_finalize", grid: Dim3(x: (Int(h) + 255) / 256), block: 256, args)
    }
}
