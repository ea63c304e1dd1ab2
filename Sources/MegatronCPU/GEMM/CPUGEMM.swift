import Dispatch
import Foundation

/// Row-major single-precision GEMM: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
/// A is m×k (lda ≥ k) or, transposed, k×m (lda ≥ m); B is k×n (ldb ≥ n) or, transposed, n×k (ldb ≥ k).
///
/// Runs on a system BLAS when one was found at first use (see `blasDescription`), else on a
/// portable multi-threaded Swift SIMD kernel. Set `MEGATRON_BLAS=none` to force the Swift kernel,
/// or `MEGATRON_BLAS_LIBRARY=/path/libfoo.so` to try a specific library first.
///
///     CPUGEMM.sgemm(transposeA: false, transposeB: true, m: tokens, n: out, k: in, alpha: 1,
///                   a: x, lda: in, b: weight, ldb: in, beta: 0, c: y, ldc: out)
public enum CPUGEMM {
    /// Where a GEMM runs.
    ///
    ///     CPUGEMM.sgemm(…, implementation: .swift)
    public enum Implementation: String, Sendable {
        case blas, swift
    }

    /// The implementation used by `sgemm`: BLAS when a library was found at first use, else swift.
    ///
    ///     print("GEMM on \(CPUGEMM.preferred)")
    public static var preferred: Implementation { BLASLibrary.shared == nil ? .swift : .blas }

    /// Human-readable name of the loaded BLAS ("OpenBLAS 0.3.21 (/usr/lib/x86_64-linux-gnu/libopenblas.so.0)") or nil.
    ///
    ///     print(CPUGEMM.blasDescription ?? "no BLAS; using the Swift kernel")
    public static var blasDescription: String? { BLASLibrary.shared?.description }

    /// C = alpha * op(A) * op(B) + beta * C, row-major. beta == 0 overwrites C without reading it,
    /// so NaN there does not propagate; k == 0 or alpha == 0 scales C by beta without reading A
    /// or B; m == 0 or n == 0 does nothing. `implementation` overrides `preferred`; `.blas` falls
    /// back to the Swift kernel when no BLAS is loaded or a size exceeds Int32.
    ///
    ///     CPUGEMM.sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1,
    ///                   a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
    ///
    /// - Precondition: m, n, k ≥ 0 and each leading dimension at least its row length.
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, implementation: Implementation? = nil
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size \(m)×\(n)×\(k)")
        precondition(lda >= max(1, transposeA ? m : k), "sgemm: lda \(lda) too small")
        precondition(ldb >= max(1, transposeB ? k : n), "sgemm: ldb \(ldb) too small")
        precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) too small")
        guard m > 0, n > 0 else { return }
        guard k > 0, alpha != 0 else {
            scale(c, rows: m, columns: n, ldc: ldc, by: beta)
            return
        }
        let limit = Int(Int32.max)
        if (implementation ?? preferred) == .blas, let blas = BLASLibrary.shared,
           max(m, n, k, lda, ldb, ldc) <= limit {
            let (ta, tb) = (transposeA ? BLASLibrary.trans : BLASLibrary.noTrans, transposeB ? BLASLibrary.trans : BLASLibrary.noTrans)
            // Split C into one block of rows (or, for few rows, of columns) per core; each block
            // is an independent single-threaded BLAS call.
            let parts = 2 * m * n * k < 4_000_000 ? 1 : ProcessInfo.processInfo.activeProcessorCount
            let byRows = m >= n || m >= 8 * parts
            let extent = byRows ? m : n
            let chunk = (extent + parts - 1) / parts
            let pa = SendableConstPointer(a), pb = SendableConstPointer(b), pc = SendablePointer(c)
            parallelFor((extent + chunk - 1) / chunk) { part in
                let start = part * chunk, size = min(chunk, extent - start)
                if byRows {
                    blas.sgemm(BLASLibrary.rowMajor, ta, tb, Int32(size), Int32(n), Int32(k), alpha,
                               pa.base + (transposeA ? start : start * lda), Int32(lda), pb.base, Int32(ldb),
                               beta, pc.base + start * ldc, Int32(ldc))
                } else {
                    blas.sgemm(BLASLibrary.rowMajor, ta, tb, Int32(m), Int32(size), Int32(k), alpha,
                               pa.base, Int32(lda), pb.base + (transposeB ? start * ldb : start), Int32(ldb),
                               beta, pc.base + start, Int32(ldc))
                }
            }
            return
        }
        SIMDGEMM.sgemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
            a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Times `sgemm` on n×n×n (after one warm-up) and returns GFLOP/s (2n³ per call, best of `repeats`).
    ///
    ///     let gflops = CPUGEMM.benchmark(n: 1024, implementation: CPUGEMM.preferred)
    public static func benchmark(n: Int, repeats: Int = 5, implementation: Implementation) -> Double {
        precondition(n > 0 && repeats > 0, "benchmark: n and repeats must be positive")
        let count = n * n
        let a = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer {
            a.deallocate()
            b.deallocate()
            c.deallocate()
        }
        // Non-trivial values: some BLAS kernels shortcut zeros.
        for i in 0..<count {
            a[i] = Float(i % 17) * 0.03 - 0.2
            b[i] = Float(i % 13) * 0.05 - 0.3
        }
        c.initialize(repeating: 0, count: count)
        func run() {
            sgemm(transposeA: false, transposeB: false, m: n, n: n, k: n, alpha: 1,
                  a: a, lda: n, b: b, ldb: n, beta: 0, c: c, ldc: n, implementation: implementation)
        }
        run()
        var best = UInt64.max
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            run()
            best = min(best, DispatchTime.now().uptimeNanoseconds - start)
        }
        return 2 * Double(n) * Double(n) * Double(n) / Double(max(best, 1))
    }

    /// C = beta * C, where beta == 0 writes zeros without reading C.
    private static func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ldc: Int, by beta: Float) {
        guard beta != 1 else { return }
        for i in 0..<rows {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: columns)
            } else {
                for j in 0..<columns { row[j] *= beta }
            }
        }
    }
}
