import Foundation
import MegatronTensor
import Testing
@testable import MegatronCUDA

/// cuBLASLt GEMMs against a CPU reference on random inputs (never zeros), by relative error:
/// fp32 under 1e-5, bf16 under 1e-2. Needs a GPU; skipped elsewhere.
@Suite(.enabled(if: CUDATestSupport.hasCUBLASLt, "no NVIDIA GPU or no cuBLASLt"), .serialized)
struct CUBLASLtTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let m: Int, n: Int, k: Int
        let transposeA: Bool, transposeB: Bool
        let beta: Float
        var testDescription: String { "\(m)×\(n)×\(k) \(transposeA ? "Aᵀ" : "A")·\(transposeB ? "Bᵀ" : "B") β=\(beta)" }
    }

    static let cases: [Case] = [(1, 1, 1), (7, 13, 5), (64, 128, 256), (129, 70, 257), (512, 384, 1024)].flatMap { m, n, k in
        [(false, false), (true, false), (false, true), (true, true)].flatMap { ta, tb in
            [Float(0), 0.5].map { Case(m: m, n: n, k: k, transposeA: ta, transposeB: tb, beta: $0) }
        }
    }

    /// Row-major reference in double precision.
    static func reference(_ c: Case, a: [Float], b: [Float], cIn: [Float], alpha: Float) -> [Float] {
        var out = [Float](repeating: 0, count: c.m * c.n)
        for i in 0 ..< c.m {
            for j in 0 ..< c.n {
                var sum = 0.0
                for p in 0 ..< c.k {
                    let x = c.transposeA ? a[p * c.m + i] : a[i * c.k + p]
                    let y = c.transposeB ? b[j * c.k + p] : b[p * c.n + j]
                    sum += Double(x) * Double(y)
                }
                out[i * c.n + j] = Float(Double(alpha) * sum + Double(c.beta) * Double(cIn[i * c.n + j]))
            }
        }
        return out
    }

    static let context = Result { try CUDAContext.primary(device: 0) }
    static let blas = Result { try CUBLASLt(context: context.get()) }

    func upload(_ values: [Float], as dtype: DType) throws -> DeviceBuffer {
        let context = try Self.context.get()
        let buffer = try context.allocator.allocate(byteCount: values.count * dtype.byteSize)
        if dtype == .bf16 {
            try context.upload(values.map(HalfPrecision.bf16Bits), to: buffer.pointer)
        } else {
            try context.upload(values, to: buffer.pointer)
        }
        return buffer
    }

    func download(_ buffer: DeviceBuffer, count: Int, as dtype: DType) throws -> [Float] {
        let context = try Self.context.get()
        if dtype == .bf16 {
            return try context.download(UInt16.self, count: count, from: buffer.pointer).map { HalfPrecision.float(bf16Bits: $0) }
        }
        return try context.download(Float.self, count: count, from: buffer.pointer)
    }

    func rounded(_ values: [Float], _ dtype: DType) -> [Float] {
        dtype == .bf16 ? values.map { HalfPrecision.float(bf16Bits: HalfPrecision.bf16Bits($0)) } : values
    }

    func run(_ c: Case, input: DType, output: DType, tolerance: Double) throws {
        var random = TestRandom(seed: UInt64(c.m * 31 + c.n * 7 + c.k))
        let a = rounded(random.array(c.m * c.k), input), b = rounded(random.array(c.k * c.n), input)
        let cIn = rounded(random.array(c.m * c.n), output)
        let da = try upload(a, as: input), db = try upload(b, as: input), dc = try upload(cIn, as: output)
        let blas = try Self.blas.get()
        let stream = try Self.context.get().defaultStream
        try blas.matmul(m: c.m, n: c.n, k: c.k,
                        a: MatmulOperand(da.pointer, input, transposed: c.transposeA),
                        b: MatmulOperand(db.pointer, input, transposed: c.transposeB),
                        c: MatmulOperand(dc.pointer, output), alpha: 0.75, beta: c.beta, stream: stream)
        try stream.synchronize()
        let result = try download(dc, count: c.m * c.n, as: output)
        let expected = Self.reference(c, a: a, b: b, cIn: cIn, alpha: 0.75)
        let error = relativeError(result, expected)
        #expect(error < tolerance, "relative error \(error)")
    }

    @Test(arguments: cases) func fp32(c: Case) throws { try run(c, input: .fp32, output: .fp32, tolerance: 1e-5) }
    @Test(arguments: cases) func bf16(c: Case) throws { try run(c, input: .bf16, output: .bf16, tolerance: 1e-2) }
    @Test(arguments: cases) func bf16IntoFP32(c: Case) throws { try run(c, input: .bf16, output: .fp32, tolerance: 1e-5) }

    static func geluTanh(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
    static func geluTanhDerivative(_ x: Double) -> Double {
        let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        let t = tanh(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x)
    }

    static let epilogueTypes: [DType] = [.fp32, .bf16]

    /// Linear forward with the fused epilogues: y = GELU(x·wᵀ + b), aux = x·wᵀ + b.
    @Test(arguments: epilogueTypes) func biasAndGELUAuxEpilogues(dtype: DType) throws {
        let tolerance = dtype == .bf16 ? 2e-2 : 1e-4
        let (tokens, inFeatures, outFeatures) = (64, 96, 128)
        var random = TestRandom(seed: 3)
        let x = rounded(random.array(tokens * inFeatures), dtype), w = rounded(random.array(outFeatures * inFeatures), dtype)
        let bias = rounded(random.array(outFeatures), dtype)
        let dx = try upload(x, as: dtype), dw = try upload(w, as: dtype), db = try upload(bias, as: dtype)
        let dy = try upload(random.array(tokens * outFeatures), as: dtype)
        let aux = try upload(random.array(tokens * outFeatures), as: dtype)
        let blas = try Self.blas.get()
        let stream = try Self.context.get().defaultStream
        let problem = Case(m: tokens, n: outFeatures, k: inFeatures, transposeA: false, transposeB: true, beta: 0)
        let product = Self.reference(problem, a: x, b: w, cIn: [Float](repeating: 0, count: tokens * outFeatures), alpha: 1)
        let pre = (0 ..< tokens * outFeatures).map { product[$0] + bias[$0 % outFeatures] }

        try blas.matmul(m: tokens, n: outFeatures, k: inFeatures, a: .init(dx.pointer, dtype),
                        b: .init(dw.pointer, dtype, transposed: true), c: .init(dy.pointer, dtype),
                        epilogue: .bias(db.pointer), stream: stream)
        try stream.synchronize()
        #expect(relativeError(try download(dy, count: pre.count, as: dtype), pre) < tolerance)

        try blas.matmul(m: tokens, n: outFeatures, k: inFeatures, a: .init(dx.pointer, dtype),
                        b: .init(dw.pointer, dtype, transposed: true), c: .init(dy.pointer, dtype),
                        epilogue: .geluAuxBias(bias: db.pointer, aux: aux.pointer), stream: stream)
        try stream.synchronize()
        #expect(relativeError(try download(aux, count: pre.count, as: dtype), pre) < tolerance)
        let gelu = pre.map { Float(Self.geluTanh(Double($0))) }
        #expect(relativeError(try download(dy, count: pre.count, as: dtype), gelu) < tolerance)
    }

    /// MLP backward with the fused epilogues: dPre = (dY·W2) ⊙ GELU'(pre) with its bias
    /// gradient, and the weight gradient dW = dYᵀ·X with the bias gradient Σ_rows dY.
    @Test(arguments: epilogueTypes) func dgeluAndBiasGradientEpilogues(dtype: DType) throws {
        let tolerance = dtype == .bf16 ? 2e-2 : 1e-4
        let (tokens, hidden, ffn) = (64, 32, 128)
        var random = TestRandom(seed: 5)
        let dyOut = rounded(random.array(tokens * hidden), dtype), w2 = rounded(random.array(hidden * ffn), dtype)
        let pre = rounded(random.array(tokens * ffn), dtype)
        let d_dy = try upload(dyOut, as: dtype), d_w2 = try upload(w2, as: dtype), d_pre = try upload(pre, as: dtype)
        let d_dpre = try upload(random.array(tokens * ffn), as: dtype)
        let d_db1 = try upload(random.array(ffn), as: dtype)
        let blas = try Self.blas.get()
        let stream = try Self.context.get().defaultStream

        try blas.matmul(m: tokens, n: ffn, k: hidden, a: .init(d_dy.pointer, dtype), b: .init(d_w2.pointer, dtype),
                        c: .init(d_dpre.pointer, dtype),
                        epilogue: .dgeluBiasGradient(aux: d_pre.pointer, biasGradient: d_db1.pointer), stream: stream)
        try stream.synchronize()
        let problem = Case(m: tokens, n: ffn, k: hidden, transposeA: false, transposeB: false, beta: 0)
        let product = Self.reference(problem, a: dyOut, b: w2, cIn: [Float](repeating: 0, count: tokens * ffn), alpha: 1)
        let dpre = (0 ..< tokens * ffn).map { Float(Double(product[$0]) * Self.geluTanhDerivative(Double(pre[$0]))) }
        #expect(relativeError(try download(d_dpre, count: dpre.count, as: dtype), dpre) < tolerance)
        let db1 = (0 ..< ffn).map { j in (0 ..< tokens).reduce(Float(0)) { $0 + dpre[$1 * ffn + j] } }
        #expect(relativeError(try download(d_db1, count: ffn, as: dtype), db1) < tolerance)

        // dW2[hidden, ffn] = dYᵀ · (a stand-in activation, `pre`), db2[hidden] = Σ_rows dY.
        let d_dw = try upload(random.array(hidden * ffn), as: dtype)
        let d_db2 = try upload(random.array(hidden), as: dtype)
        try blas.matmul(m: hidden, n: ffn, k: tokens, a: .init(d_dy.pointer, dtype, transposed: true),
                        b: .init(d_pre.pointer, dtype), c: .init(d_dw.pointer, dtype),
                        epilogue: .biasGradientFromA(d_db2.pointer), stream: stream)
        try stream.synchronize()
        let wgrad = Case(m: hidden, n: ffn, k: tokens, transposeA: true, transposeB: false, beta: 0)
        let dw = Self.reference(wgrad, a: dyOut, b: pre, cIn: [Float](repeating: 0, count: hidden * ffn), alpha: 1)
        #expect(relativeError(try download(d_dw, count: dw.count, as: dtype), dw) < tolerance)
        let db2 = (0 ..< hidden).map { j in (0 ..< tokens).reduce(Float(0)) { $0 + dyOut[$1 * hidden + j] } }
        #expect(relativeError(try download(d_db2, count: hidden, as: dtype), db2) < tolerance)
    }

    @Test func batchedAndTensorGEMM() throws {
        let (batch, m, n, k) = (3, 16, 24, 8)
        var random = TestRandom(seed: 9)
        let a = random.array(batch * m * k), b = random.array(batch * k * n)
        let da = try upload(a, as: .fp32), db = try upload(b, as: .fp32)
        let dc = try upload(random.array(batch * m * n), as: .fp32)
        let blas = try Self.blas.get()
        let stream = try Self.context.get().defaultStream
        try blas.matmul(m: m, n: n, k: k, a: .init(da.pointer, .fp32, batchStride: m * k),
                        b: .init(db.pointer, .fp32, batchStride: k * n), c: .init(dc.pointer, .fp32, batchStride: m * n),
                        batchCount: batch, stream: stream)
        try stream.synchronize()
        let result = try download(dc, count: batch * m * n, as: .fp32)
        let problem = Case(m: m, n: n, k: k, transposeA: false, transposeB: false, beta: 0)
        for i in 0 ..< batch {
            let expected = Self.reference(problem, a: Array(a[i * m * k ..< (i + 1) * m * k]),
                                          b: Array(b[i * k * n ..< (i + 1) * k * n]),
                                          cIn: [Float](repeating: 0, count: m * n), alpha: 1)
            #expect(relativeError(Array(result[i * m * n ..< (i + 1) * m * n]), expected) < 1e-5)
        }

        // The Tensor form: c[m, n] = a[m, k] · b[n, k]ᵀ
        let context = try Self.context.get()
        let ta = try context.allocator.makeTensor([m, k], dtype: .fp32)
        let tb = try context.allocator.makeTensor([n, k], dtype: .fp32)
        let tc = try context.allocator.makeTensor([m, n], dtype: .fp32)
        let av = random.array(m * k), bv = random.array(n * k)
        try context.upload(av, to: DevicePointer(ta.address))
        try context.upload(bv, to: DevicePointer(tb.address))
        try blas.gemm(ta, tb, into: tc, transposeB: true, stream: stream)
        try stream.synchronize()
        let expected = Self.reference(Case(m: m, n: n, k: k, transposeA: false, transposeB: true, beta: 0),
                                      a: av, b: bv, cIn: [Float](repeating: 0, count: m * n), alpha: 1)
        #expect(relativeError(try context.download(Float.self, count: m * n, from: DevicePointer(tc.address)), expected) < 1e-5)
        #expect(throws: CUDAError.self) { try blas.gemm(ta, ta, into: tc, stream: stream) }
    }

    @Test func plansAreCachedPerProblem() throws {
        let blas = try CUBLASLt(context: Self.context.get())
        let buffer = try upload([Float](repeating: 1, count: 64 * 64), as: .fp32)
        let stream = try Self.context.get().defaultStream
        for _ in 0 ..< 3 {
            try blas.matmul(m: 64, n: 64, k: 64, a: .init(buffer.pointer, .fp32), b: .init(buffer.pointer, .fp32),
                            c: .init(buffer.pointer, .fp32), beta: 0, stream: stream)
        }
        #expect(blas.planCount == 1)
        try stream.synchronize()
    }
}
