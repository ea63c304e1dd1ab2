import MegatronCPU
import Testing

/// One GEMM problem: shape, transposes and beta; leading dimensions are padded past the minimum.
struct GEMMCase: Sendable, CustomTestStringConvertible {
    let m: Int, n: Int, k: Int
    let transposeA: Bool, transposeB: Bool
    let beta: Float

    var testDescription: String {
        "\(m)×\(n)×\(k) \(transposeA ? "Aᵀ" : "A")·\(transposeB ? "Bᵀ" : "B") β=\(beta)"
    }

    /// Shapes cover single elements, sizes that are not multiples of the micro-tile, more than one
    /// block along each of m, n and k, a wide-and-short C that the kernel splits by columns across
    /// threads, and enough work to run multi-threaded.
    static let all: [GEMMCase] = {
        let shapes = [(1, 1, 1), (7, 13, 5), (33, 65, 17), (129, 70, 257), (6, 8, 300), (20, 300, 300), (3, 2100, 9)]
        return shapes.flatMap { m, n, k in
            [(false, false), (true, false), (false, true), (true, true)].flatMap { ta, tb in
                [Float(0), 0.5].map { GEMMCase(m: m, n: n, k: k, transposeA: ta, transposeB: tb, beta: $0) }
            }
        }
    }()
}

/// 64-bit LCG giving values in ±[0.1, 1): reproducible, and never zero so no product is skipped.
private struct LCG {
    var state: UInt64

    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let unit = Float(state >> 40) / Float(1 << 24)
        return (state >> 39) & 1 == 0 ? 0.1 + 0.9 * unit : -(0.1 + 0.9 * unit)
    }

    mutating func fill(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

/// Runs `sgemm` on `problem` and returns ‖C − ref‖/‖ref‖ against a Double triple loop. Also checks
/// that C holds no NaN (beta == 0 must overwrite the NaN it starts with) and that the padding
/// between rows of C is untouched.
private func gemmRelativeError(_ problem: GEMMCase, implementation: CPUGEMM.Implementation) -> Double {
    let (m, n, k) = (problem.m, problem.n, problem.k)
    let alpha: Float = 1.25
    let (aRows, aCols) = problem.transposeA ? (k, m) : (m, k)
    let (bRows, bCols) = problem.transposeB ? (n, k) : (k, n)
    let lda = aCols + 3, ldb = bCols + 2, ldc = n + 5
    var rng = LCG(state: UInt64(m * 1_000_003 + n * 1009 + k))
    let a = rng.fill(aRows * lda), b = rng.fill(bRows * ldb)
    let padding: Float = 12345
    var c = [Float](repeating: padding, count: m * ldc)
    for i in 0..<m {
        for j in 0..<n { c[i * ldc + j] = problem.beta == 0 ? .nan : rng.next() }
    }
    let initial = c

    func opA(_ i: Int, _ p: Int) -> Double { Double(problem.transposeA ? a[p * lda + i] : a[i * lda + p]) }
    func opB(_ p: Int, _ j: Int) -> Double { Double(problem.transposeB ? b[j * ldb + p] : b[p * ldb + j]) }

    CPUGEMM.sgemm(
        transposeA: problem.transposeA, transposeB: problem.transposeB, m: m, n: n, k: k, alpha: alpha,
        a: a, lda: lda, b: b, ldb: ldb, beta: problem.beta, c: &c, ldc: ldc, implementation: implementation)

    var errorSquared = 0.0, referenceSquared = 0.0
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k { sum += opA(i, p) * opB(p, j) }
            var reference = Double(alpha) * sum
            if problem.beta != 0 { reference += Double(problem.beta) * Double(initial[i * ldc + j]) }
            let got = Double(c[i * ldc + j])
            errorSquared += (got - reference) * (got - reference)
            referenceSquared += reference * reference
        }
        for j in n..<ldc { #expect(c[i * ldc + j] == padding, "padding of row \(i) overwritten") }
    }
    return (errorSquared / referenceSquared).squareRoot()
}

@Suite("fp32 GEMM")
struct GEMMTests {
    @Test("Swift kernel matches a Double reference", arguments: GEMMCase.all)
    func swiftKernel(_ problem: GEMMCase) {
        #expect(gemmRelativeError(problem, implementation: .swift) < 1e-5)
    }

    @Test("System BLAS matches a Double reference",
          .enabled(if: CPUGEMM.blasDescription != nil, "no system BLAS was found"),
          arguments: GEMMCase.all)
    func blas(_ problem: GEMMCase) {
        #expect(gemmRelativeError(problem, implementation: .blas) < 1e-5)
    }

    @Test("preferred is BLAS exactly when one was loaded")
    func preferredFollowsLoading() {
        #expect((CPUGEMM.preferred == .blas) == (CPUGEMM.blasDescription != nil))
    }

    @Test("k == 0 or alpha == 0 scales C by beta without reading A or B",
          arguments: [CPUGEMM.Implementation.swift, .blas])
    func degenerate(_ implementation: CPUGEMM.Implementation) {
        let poison = [Float](repeating: .nan, count: 6)
        var c: [Float] = [1, 2, 3, 4, 5, 6]
        CPUGEMM.sgemm(transposeA: false, transposeB: false, m: 2, n: 3, k: 0, alpha: 1, a: poison, lda: 1,
                      b: poison, ldb: 3, beta: 0.5, c: &c, ldc: 3, implementation: implementation)
        #expect(c == [0.5, 1, 1.5, 2, 2.5, 3])
        CPUGEMM.sgemm(transposeA: false, transposeB: false, m: 2, n: 3, k: 2, alpha: 0, a: poison, lda: 2,
                      b: poison, ldb: 3, beta: 2, c: &c, ldc: 3, implementation: implementation)
        #expect(c == [1, 2, 3, 4, 5, 6])
        c = [Float](repeating: .nan, count: 6)
        CPUGEMM.sgemm(transposeA: true, transposeB: true, m: 2, n: 3, k: 0, alpha: 1, a: poison, lda: 2,
                      b: poison, ldb: 1, beta: 0, c: &c, ldc: 3, implementation: implementation)
        #expect(c == [0, 0, 0, 0, 0, 0])
    }

    @Test("m == 0 or n == 0 leaves C untouched", arguments: [CPUGEMM.Implementation.swift, .blas])
    func empty(_ implementation: CPUGEMM.Implementation) {
        let ones = [Float](repeating: 1, count: 4)
        var c: [Float] = [7, 7, 7, 7]
        CPUGEMM.sgemm(transposeA: false, transposeB: false, m: 0, n: 2, k: 2, alpha: 1, a: ones, lda: 2,
                      b: ones, ldb: 2, beta: 0, c: &c, ldc: 2, implementation: implementation)
        CPUGEMM.sgemm(transposeA: false, transposeB: false, m: 2, n: 0, k: 2, alpha: 1, a: ones, lda: 2,
                      b: ones, ldb: 1, beta: 0, c: &c, ldc: 1, implementation: implementation)
        #expect(c == [7, 7, 7, 7])
    }

    @Test("benchmark reports a positive rate")
    func benchmarkRuns() {
        let gflops = CPUGEMM.benchmark(n: 16, repeats: 1, implementation: .swift)
        #expect(gflops > 0 && gflops.isFinite)
    }
}
