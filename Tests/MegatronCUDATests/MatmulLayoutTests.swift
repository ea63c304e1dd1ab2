import MegatronTensor
import Testing
@testable import MegatronCUDA

/// The row-major → column-major translation of cuBLASLt matmuls, checked on the CPU: a naive
/// column-major GEMM run on the translated problem must give the row-major product.
@Suite struct MatmulLayoutTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let m: Int, n: Int, k: Int
        let transposeA: Bool, transposeB: Bool
        let pad: Int  // extra elements per stored row (leading dimension > dense)
        var testDescription: String { "\(m)×\(n)×\(k) \(transposeA ? "Aᵀ" : "A")·\(transposeB ? "Bᵀ" : "B") pad \(pad)" }
    }

    static let cases: [Case] = [(1, 1, 1), (3, 5, 7), (8, 2, 9), (16, 16, 4)].flatMap { m, n, k in
        [(false, false), (true, false), (false, true), (true, true)].flatMap { ta, tb in
            [0, 3].map { Case(m: m, n: n, k: k, transposeA: ta, transposeB: tb, pad: $0) }
        }
    }

    @Test(arguments: cases)
    func columnMajorProblemGivesRowMajorProduct(c: Case) {
        var random = TestRandom(seed: UInt64(c.m * 1000 + c.n * 10 + c.k))
        // Stored shapes (row-major): A is [m, k] or [k, m]; B is [k, n] or [n, k].
        let (aRows, aColumns) = c.transposeA ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bColumns) = c.transposeB ? (c.n, c.k) : (c.k, c.n)
        let lda = aColumns + c.pad, ldb = bColumns + c.pad, ldc = c.n + c.pad
        let a = random.array(aRows * lda), b = random.array(bRows * ldb)

        var expected = [Float](repeating: 0, count: c.m * ldc)
        for i in 0 ..< c.m {
            for j in 0 ..< c.n {
                var sum: Float = 0
                for p in 0 ..< c.k {
                    let x = c.transposeA ? a[p * lda + i] : a[i * lda + p]
                    let y = c.transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += x * y
                }
                expected[i * ldc + j] = sum
            }
        }

        let problem = ColumnMajorMatmul(
            m: c.m, n: c.n, k: c.k,
            a: MatmulOperand(DevicePointer(0), .fp32, transposed: c.transposeA, leadingDimension: lda),
            b: MatmulOperand(DevicePointer(0), .fp32, transposed: c.transposeB, leadingDimension: ldb),
            c: MatmulOperand(DevicePointer(0), .fp32, leadingDimension: ldc))
        // cuBLASLt's A is the row-major B's memory, its B the row-major A's.
        let memoryA = b, memoryB = a
        var result = [Float](repeating: 0, count: c.m * ldc)
        #expect(problem.a.leadingDimension >= problem.a.rows)
        #expect(problem.b.leadingDimension >= problem.b.rows)
        for i in 0 ..< problem.m {
            for j in 0 ..< problem.n {
                var sum: Float = 0
                for p in 0 ..< problem.k {
                    let la = problem.a.leadingDimension, lb = problem.b.leadingDimension
                    let x = problem.transposeA ? memoryA[p + i * la] : memoryA[i + p * la]
                    let y = problem.transposeB ? memoryB[j + p * lb] : memoryB[p + j * lb]
                    sum += x * y
                }
                result[i + j * problem.c.leadingDimension] = sum
            }
        }
        #expect((problem.transposeA ? problem.a.columns : problem.a.rows) == problem.m)
        #expect(result == expected)
    }

    @Test func epilogueValuesMatchCublasLtHeader() {
        let p = DevicePointer(256)
        #expect(MatmulEpilogue.none.cublasValue == 1)
        #expect(MatmulEpilogue.bias(p).cublasValue == 4)
        #expect(MatmulEpilogue.gelu.cublasValue == 32)
        #expect(MatmulEpilogue.geluAux(aux: p).cublasValue == 160)
        #expect(MatmulEpilogue.geluBias(p).cublasValue == 36)
        #expect(MatmulEpilogue.geluAuxBias(bias: p, aux: p).cublasValue == 164)
        #expect(MatmulEpilogue.dgelu(aux: p).cublasValue == 192)
        #expect(MatmulEpilogue.dgeluBiasGradient(aux: p, biasGradient: p).cublasValue == 208)
        #expect(MatmulEpilogue.biasGradientFromA(p).cublasValue == 512)  // BGRADB
        #expect(MatmulEpilogue.biasGradientFromB(p).cublasValue == 256)  // BGRADA
    }

    @Test func planKeyRejectsBadArguments() {
        let p = DevicePointer(1024)
        func key(_ a: DType, _ b: DType, _ c: DType, epilogue: MatmulEpilogue = .none, lda: Int? = nil) throws(CUDAError) -> PlanKey {
            try PlanKey(m: 4, n: 8, k: 16, a: MatmulOperand(p, a, leadingDimension: lda), b: MatmulOperand(p, b),
                        c: MatmulOperand(p, c), epilogue: epilogue, biasType: nil, batchCount: 1, tf32: false)
        }
        #expect(throws: CUDAError.self) { _ = try key(.bf16, .fp32, .fp32) }  // A and B differ
        #expect(throws: CUDAError.self) { _ = try key(.fp32, .fp32, .bf16) }  // fp32 inputs need fp32 C
        #expect(throws: CUDAError.self) { _ = try key(.int32, .int32, .fp32) }
        #expect(throws: CUDAError.self) { _ = try key(.bf16, .bf16, .bf16, lda: 8) }  // ld < 16
        #expect(throws: CUDAError.self) { _ = try key(.bf16, .bf16, .bf16, epilogue: .geluAux(aux: p, leadingDimension: 12)) }
        #expect(throws: Never.self) { _ = try key(.bf16, .bf16, .bf16, epilogue: .geluAuxBias(bias: p, aux: p)) }
        #expect(throws: Never.self) { _ = try key(.bf16, .bf16, .fp32) }
    }

    @Test func pointerAlignment() {
        #expect(DevicePointer(0x1000).alignment() == 256)
        #expect(DevicePointer(0x1002).alignment() == 2)
        #expect(DevicePointer(0x1010).alignment() == 16)
    }
}
