import MegatronTensor

extension CPUBackend {
    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        let n = a.count
        try expectCount(b, n, "add")
        try expectCount(out, n, "add")
        let pa = SendablePointer(try floats(a, "add")), pb = SendablePointer(try floats(b, "add"))
        let po = SendablePointer(try floats(out, "add"))
        forEachRowBlock(n, block: 1 << 16) { r in
            for i in r { po[i] = pa[i] + pb[i] }
        }
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        try expectCount(y, x.count, "axpy")
        let px = SendablePointer(try floats(x, "axpy")), py = SendablePointer(try floats(y, "axpy"))
        forEachRowBlock(x.count, block: 1 << 16) { r in
            for i in r { py[i] += alpha * px[i] }
        }
    }

    public func scale(_ x: Tensor, by alpha: Float) throws {
        let px = SendablePointer(try floats(x, "scale"))
        forEachRowBlock(x.count, block: 1 << 16) { r in
            for i in r { px[i] *= alpha }
        }
    }

    public func sumOfSquares(_ x: Tensor) throws -> Double {
        let p = try floats(x, "sumOfSquares")
        var total = 0.0
        for i in 0..<x.count { total += Double(p[i]) * Double(p[i]) }
        return total
    }

    public func dropout(_ x: Tensor, into y: Tensor, probability p: Float, seed: UInt64, offset: UInt64) throws {
        guard p >= 0, p < 1 else { throw TensorError.invalidArgument(op: "dropout", message: "probability \(p) outside [0, 1)") }
        try expectCount(y, x.count, "dropout")
        let px = SendablePointer(try floats(x, "dropout")), py = SendablePointer(try floats(y, "dropout"))
        let rng = Philox(seed: seed)
        let keepScale = 1 / (1 - p)
        forEachRowBlock(x.count, block: 1 << 14) { r in
            for i in r {
                py[i] = rng.uniform(offset &+ UInt64(i)) >= p ? px[i] * keepScale : 0
            }
        }
    }
}
