import MegatronTensor

extension CUDABackend {
    public func gelu(_ x: Tensor, into y: Tensor, approximate: Bool) throws {
        let op = "gelu"
        try expectCount(y, x.count, op)
        let sfx = try computeSuffix([x, y], op)
        var args = KernelArguments()
        args.append(x)
        args.append(y)
        args.append(Int64(x.count))
        args.append(Int32(approximate ? 1 : 0))
        try launch("activation", "gelu_forward_\(sfx)", flat: x.count, args)
    }

    public func geluBackward(_ dy: Tensor, x: Tensor, into dx: Tensor, approximate: Bool) throws {
        let op = "geluBackward"
        try expectCount(dy, x.count, op)
        try expectCount(dx, x.count, op)
        let sfx = try computeSuffix([dy, x, dx], op)
        var args = KernelArguments()
        args.append(dy)
        args.append(x)
        args.append(dx)
        args.append(Int64(x.count))
        args.append(Int32(approximate ? 1 : 0))
        try launch("activation", "gelu_backward_\(sfx)", flat: x.count, args)
    }

    public func swiglu(_ x: Tensor, into y: Tensor) throws {
        let op = "swiglu"
        let (n, f) = (y.shape.leading, y.shape.last)
        try expectCount(x, n * 2 * f, op)
        let sfx = try computeSuffix([x, y], op)
        var args = KernelArguments()
        args.append(x)
        args.append(y)
        args.append(Int64(n))
        args.append(try int32(f, "f", op))
        try launch("activation", "swiglu_forward_\(sfx)", rowTiled: n, width: f, args)
    }

    public func swigluBackward(_ dy: Tensor, x: Tensor, into dx: Tensor) throws {
        let op = "swigluBackward"
        let (n, f) = (dy.shape.leading, dy.shape.last)
        try expectCount(x, n * 2 * f, op)
        try expectCount(dx, n * 2 * f, op)
        let sfx = try computeSuffix([dy, x, dx], op)
        var args = KernelArguments()
        args.append(dy)
        args.append(x)
        args.append(dx)
        args.append(Int64(n))
        args.append(try int32(f, "f", op))
        try launch("activation", "swiglu_backward_\(sfx)", rowTiled: n, width: f, args)
    }
}
