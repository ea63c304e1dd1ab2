import MegatronTensor

extension CPUBackend {
    public func gemm(
        _ a: Tensor, _ b: Tensor, into c: Tensor,
        transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float
    ) throws {
        // Tensors of rank > 2 are matrices [leading, last].
        let (ar, ac) = (a.shape.leading, a.shape.last), (br, bc) = (b.shape.leading, b.shape.last)
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (kb, n) = transposeB ? (bc, br) : (br, bc)
        guard k == kb else {
            throw TensorError.shapeMismatch(op: "gemm", expected: "inner dimensions equal (\(k) from a \(a.shape))", got: b.shape)
        }
        guard c.shape.leading == m, c.shape.last == n else {
            throw TensorError.shapeMismatch(op: "gemm", expected: "[\(m), \(n)]", got: c.shape)
        }
        CPUGEMM.sgemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
            a: try floats(a, "gemm"), lda: ac, b: try floats(b, "gemm"), ldb: bc, beta: beta,
            c: try floats(c, "gemm"), ldc: n)
    }

    public func addBias(_ bias: Tensor, to y: Tensor) throws {
        let cols = y.shape.last
        try expectCount(bias, cols, "addBias")
        let pb = SendablePointer(try floats(bias, "addBias")), py = SendablePointer(try floats(y, "addBias"))
        forEachRowBlock(y.shape.leading, block: rowBlock(columns: cols)) { rows in
            for r in rows {
                let row = py.base + r * cols
                for j in 0..<cols { row[j] += pb[j] }
            }
        }
    }

    public func biasBackward(_ dy: Tensor, into dbias: Tensor) throws {
        let cols = dy.shape.last, rows = dy.shape.leading
        try expectCount(dbias, cols, "biasBackward")
        let pdy = SendablePointer(try floats(dy, "biasBackward"))
        let pdb = try floats(dbias, "biasBackward")
        try columnSums(rows: rows, cols: cols, into: pdb) { r, acc in
            let row = pdy.base + r * cols
            for j in 0..<cols { acc[j] += row[j] }
        }
    }

    /// Accumulates per-row contributions into `out[cols]`: each fixed block of rows sums into its
    /// own partial, and partials are added in block order, so the result is deterministic.
    func columnSums(
        rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>,
        _ addRow: @Sendable (_ row: Int, _ partial: UnsafeMutablePointer<Float>) -> Void
    ) throws {
        let block = max(16, rowBlock(columns: cols, work: 1 << 16))
        let blocks = max(1, (rows + block - 1) / block)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: blocks * cols)
        defer { partials.deallocate() }
        partials.initialize(repeating: 0, count: blocks * cols)
        let pp = SendablePointer(partials)
        forEachRowBlock(rows, block: block) { range in
            let partial = pp.base + (range.lowerBound / block) * cols
            for r in range { addRow(r, partial) }
        }
        for b in 0..<blocks {
            let partial = partials + b * cols
            for j in 0..<cols { out[j] += partial[j] }
        }
    }
}
