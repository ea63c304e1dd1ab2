import MegatronTensor

extension CUDABackend {
    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        let op = "add"
        try expectCount(b, a.count, op)
        try expectCount(out, a.count, op)
        let sfx = try computeSuffix([a, b, out], op)
        var args = KernelArguments()
        args.append(a)
        args.append(b)
        args.append(out)
        args.append(Int64(a.count))
        try launch("elementwise", "add_\(sfx)", flat: a.count, args)
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let op = "axpy"
        try expectCount(y, x.count, op)
        try checkDevice(x, op)
        try checkDevice(y, op)
        let function: String
        if x.dtype == .bf16 || x.dtype == .fp16, y.dtype == .fp32 {
            // A 16-bit x into an fp32 y (as gradients into fp32 accumulators).
            function = "axpy_\(try suffix(x.dtype, op))_f32"
        } else {
            function = "axpy_" + (try computeSuffix([x, y], op))
        }
        var args = KernelArguments()
        args.append(x)
        args.append(y)
        args.append(Int64(x.count))
        args.append(alpha)
        try launch("elementwise", function, flat: x.count, args)
    }

    public func scale(_ x: Tensor, by alpha: Float) throws {
        let sfx = try computeSuffix([x], "scale")
        var args = KernelArguments()
        args.append(x)
        args.append(Int64(x.count))
        args.append(alpha)
        try launch("elementwise", "scale_\(sfx)", flat: x.count, args)
    }

    public func sumOfSquares(_ x: Tensor) throws -> Double {
        let op = "sumOfSquares"
        let sfx = try computeSuffix([x], op)
        let n = x.count
        guard n > 0 else { return 0 }
        let blocks = max(1, min((n + 2047) / 2048, 4 * multiprocessors))
        let partials = try context.allocator.allocate(byteCount: blocks * 8, label: "sumOfSquares partials")
        let result = try context.allocator.allocate(byteCount: 8, label: "sumOfSquares result")
        var args = KernelArguments()
        args.append(x)
        args.append(Int64(n))
        args.append(partials.pointer)
        try launch("elementwise", "sum_of_squares_partial_\(sfx)", grid: Dim3(x: blocks), block: 256, args)
        var final = KernelArguments()
        final.append(partials.pointer)
        final.append(Int32(blocks))
        final.append(result.pointer)
        try launch("elementwise", "sum_of_squares_finalize", grid: 1, block: 256, final)
        return try context.download(Double.self, count: 1, from: result.pointer)[0]
    }

    public func dropout(_ x: Tensor, into y: Tensor, probability p: Float, seed: UInt64, offset: UInt64) throws {
        let op = "dropout"
        try expectCount(y, x.count, op)
        let sfx = try computeSuffix([x, y], op)
        guard p >= 0, p < 1 else {
            throw TensorError.invalidArgument(op: op, message: "probability \(p) outside [0, 1)")
        }
        var args = KernelArguments()
        args.append(x)
        args.append(y)
        args.append(Int64(x.count))
        args.append(p)
        args.append(seed)
        args.append(offset)
        try launch("elementwise", "dropout_\(sfx)", flat: x.count, perBlock: 1024, args)
    }
}
