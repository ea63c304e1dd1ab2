import Foundation

/// Row-major single-precision GEMM: `C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C`.
/// A is m×k (lda ≥ k) or, transposed, k×m (lda ≥ m); B is k×n (ldb ≥ n) or, transposed,
/// n×k (ldb ≥ k). Runs on a system BLAS when one loads (see ``blasDescription``), else on a
/// packed Swift SIMD kernel.
///
///     CPUGEMM.sgemm(transposeA: false, transposeB: true, m: 4, n: 3, k: 5, alpha: 1,
///                   a: x, lda: 5, b: w, ldb: 5, beta: 0, c: y, ldc: 3)
public enum CPUGEMM {
    public enum Implementation: String, Sendable { case blas, swift }

    /// BLAS when a library was found at first use, else swift.
    public static var preferred: Implementation { BLASLibrary.shared == nil ? .swift : .blas }

    /// The loaded BLAS ("OpenBLAS 0.3.21 … (libopenblas.so.0)"), or nil.
    public static var blasDescription: String? { BLASLibrary.shared?.description }

    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, implementation: Implementation? = nil
    ) {
        guard m > 0, n > 0 else { return }
        let fitsInt32 = [m, n, k, lda, ldb, ldc].allSatisfy { $0 <= Int(Int32.max) }
        if (implementation ?? preferred) == .blas, fitsInt32, k > 0, let blas = BLASLibrary.shared {
            // cblas: RowMajor = 101, NoTrans = 111, Trans = 112.
            blas.sgemm(101, transposeA ? 112 : 111, transposeB ? 112 : 111, Int32(m), Int32(n), Int32(k), alpha,
                       a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        SIMDGEMM.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// GFLOP/s of `sgemm` on n×n×n random matrices (2n³ per call), best of `repeats` after a warm-up.
    public static func benchmark(n: Int, repeats: Int = 5, implementation: Implementation) -> Double {
        let count = n * n
        let a = UnsafeMutablePointer<Float>.allocate(capacity: count), b = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        var state: UInt32 = 12345
        for i in 0..<count {
            state = state &* 1_664_525 &+ 1_013_904_223
            a[i] = Float(state >> 8) * 0x1p-24 - 0.5
            b[i] = Float(state >> 9) * 0x1p-23 - 0.5
        }
        var best = Double.infinity
        for r in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            sgemm(transposeA: false, transposeB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: b, ldb: n,
                  beta: 0, c: c, ldc: n, implementation: implementation)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if r > 0 { best = min(best, seconds) }
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}
