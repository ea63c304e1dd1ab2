/// A packed, cache-blocked fp32 GEMM in portable Swift SIMD (the GotoBLAS/BLIS structure):
/// B is packed into NR-wide column panels and A into MR-tall row panels, transposes resolved
/// while packing, so one 6×8 register-blocked micro-kernel does all the arithmetic. Blocks of
/// C rows run on all cores.
enum SIMDGEMM {
    static let mr = 6, nr = 8
    static let kc = 256, mc = 96, nc = 2048

    typealias V = SIMD8<Float>

    /// C = alpha·op(A)·op(B) + beta·C (row-major).
    static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        scaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        guard k > 0, alpha != 0 else { return }
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kc * (nc + nr))
        defer { packedB.deallocate() }
        let pa = SendableConstPointer(a), pc = SendablePointer(c), pb = SendableConstPointer(UnsafePointer(packedB))
        for jc in stride(from: 0, to: n, by: nc) {
            let ncur = min(nc, n - jc)
            for pcol in stride(from: 0, to: k, by: kc) {
                let kcur = min(kc, k - pcol)
                packB(b, ldb: ldb, transposed: transposeB, rows: pcol, kc: kcur, cols: jc, nc: ncur, into: packedB)
                let blocks = (m + mc - 1) / mc
                parallelFor(blocks) { block in
                    let ic = block * mc, mcur = min(mc, m - ic)
                    let packedA = UnsafeMutablePointer<Float>.allocate(capacity: (mc + mr) * kcur)
                    defer { packedA.deallocate() }
                    packA(pa.base, lda: lda, transposed: transposeA, rows: ic, mc: mcur, cols: pcol, kc: kcur, into: packedA)
                    for jr in stride(from: 0, to: ncur, by: nr) {
                        let ncols = min(nr, ncur - jr)
                        for ir in stride(from: 0, to: mcur, by: mr) {
                            let nrows = min(mr, mcur - ir)
                            kernel(kcur, packedA + ir * kcur, pb.base + jr * kcur,
                                   pc.base + (ic + ir) * ldc + jc + jr, ldc, alpha: alpha, rows: nrows, cols: ncols)
                        }
                    }
                }
            }
        }
    }

    private static func scaleC(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard beta != 1 else { return }
        for i in 0..<m {
            let row = c + i * ldc
            // beta == 0 overwrites, so NaN or garbage already in C never leaks through (BLAS semantics).
            if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
        }
    }

    /// Packs op(A)[rows..<rows+mc, cols..<cols+kc] as MR-row panels, k-major, zero-padded.
    private static func packA(
        _ a: UnsafePointer<Float>, lda: Int, transposed: Bool, rows: Int, mc: Int, cols: Int, kc: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        for ir in stride(from: 0, to: mc, by: mr) {
            let panel = out + ir * kc
            let valid = min(mr, mc - ir)
            for p in 0..<kc {
                let dst = panel + p * mr
                for r in 0..<mr {
                    let i = rows + ir + r, col = cols + p
                    dst[r] = r < valid ? (transposed ? a[col * lda + i] : a[i * lda + col]) : 0
                }
            }
        }
    }

    /// Packs op(B)[rows..<rows+kc, cols..<cols+nc] as NR-column panels, k-major, zero-padded.
    private static func packB(
        _ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, rows: Int, kc: Int, cols: Int, nc: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        for jr in stride(from: 0, to: nc, by: nr) {
            let panel = out + jr * kc
            let valid = min(nr, nc - jr)
            for p in 0..<kc {
                let dst = panel + p * nr, row = rows + p
                if !transposed, valid == nr {
                    dst.update(from: b + row * ldb + cols + jr, count: nr)
                    continue
                }
                for c in 0..<nr {
                    let j = cols + jr + c
                    dst[c] = c < valid ? (transposed ? b[j * ldb + row] : b[row * ldb + j]) : 0
                }
            }
        }
    }

    /// C[rows×cols] += alpha · Apanel · Bpanel over kc, with 6×8 accumulators in registers.
    @inline(__always)
    private static func kernel(
        _ kc: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, alpha: Float, rows: Int, cols: Int
    ) {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        var pa = UnsafePointer(a), pb = b
        for _ in 0..<kc {
            let bv = UnsafeRawPointer(pb).loadUnaligned(as: V.self)
            c0 = c0 + bv * pa[0]
            c1 = c1 + bv * pa[1]
            c2 = c2 + bv * pa[2]
            c3 = c3 + bv * pa[3]
            c4 = c4 + bv * pa[4]
            c5 = c5 + bv * pa[5]
            pa += mr
            pb += nr
        }
        @inline(__always) func store(_ r: Int, _ acc: V) {
            guard r < rows else { return }
            let row = c + r * ldc
            if cols == nr {
                let dst = UnsafeMutableRawPointer(row)
                dst.storeBytes(of: dst.loadUnaligned(as: V.self) + alpha * acc, as: V.self)
            } else {
                for j in 0..<cols { row[j] += alpha * acc[j] }
            }
        }
        store(0, c0); store(1, c1); store(2, c2); store(3, c3); store(4, c4); store(5, c5)
    }
}

/// A read-only pointer shared by the threads of one GEMM.
struct SendableConstPointer<T>: @unchecked Sendable {
    let base: UnsafePointer<T>
    init(_ base: UnsafePointer<T>) { self.base = base }
}
