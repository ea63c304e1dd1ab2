import MegatronCPU
import MegatronTensor
import Testing

@Suite("CPU memory and elementwise ops")
struct TensorOpsTests {
    let b = CPUBackend()

    @Test func uploadDownloadRoundTripsThroughHalfTypes() throws {
        let values: [Float] = [1, -2.5, 0.1, 65504, 1e-8]
        for dtype in [DType.bf16, .fp16] {
            let t = try b.tensor(values, shape: [5], dtype: dtype)
            let back = try b.download(t)
            let expected = values.map { dtype == .bf16 ? HalfPrecision.float(bf16Bits: HalfPrecision.bf16Bits($0)) : HalfPrecision.float(fp16Bits: HalfPrecision.fp16Bits($0)) }
            #expect(back == expected)
        }
    }

    @Test func copyConvertsBetweenDtypes() throws {
        let src = try b.tensor([1.5, -3, 7.25], shape: [3])
        let half = try b.empty([3], dtype: .bf16)
        try b.copy(src, to: half)
        let back = try b.empty([3], dtype: .fp32)
        try b.copy(half, to: back)
        #expect(try b.download(back) == [1.5, -3, 7.25])
    }

    @Test func viewsShareStorage() throws {
        let flat = try b.zeros([10])
        let v = try flat.view(offset: 4, shape: [2, 2])
        try b.fill(v, 3)
        #expect(try b.download(flat) == [0, 0, 0, 0, 3, 3, 3, 3, 0, 0])
        #expect(throws: TensorError.self) { try flat.view(offset: 8, shape: [3]) }
    }

    @Test func elementwiseOps() throws {
        let x = try b.tensor([1, 2, 3], shape: [3]), y = try b.tensor([10, 20, 30], shape: [3])
        try b.axpy(2, x, y)
        #expect(try b.download(y) == [12, 24, 36])
        try b.scale(y, by: 0.5)
        #expect(try b.download(y) == [6, 12, 18])
        let z = try b.empty([3], dtype: .fp32)
        try b.add(x, y, into: z)
        #expect(try b.download(z) == [7, 14, 21])
        #expect(try b.sumOfSquares(x) == 14)
    }

    @Test func shapeMismatchThrows() throws {
        let x = try b.zeros([2, 3]), w = try b.zeros([4, 5]), y = try b.zeros([2, 4])
        #expect(throws: TensorError.self) { try b.gemm(x, w, into: y, transposeB: true) }
    }
}
