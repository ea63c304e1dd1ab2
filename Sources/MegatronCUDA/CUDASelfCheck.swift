import Foundation
import MegatronTensor

/// The GPU checks that need no CUDA backend: every kernel group compiles with NVRTC for this
/// device and loads, and cuBLASLt matrix products agree with a double-precision host reference
/// on fresh random inputs (poisoned output, fp32 under 1e-5, bf16 and fp16 under 1e-2). Each
/// check prints one `PASS`/`FAIL` line.
///
///     let ok = CUDASelfCheck.run(device: 0) { print($0) }
public enum CUDASelfCheck {
    public static func run(device ordinal: Int = 0, log: (String) -> Void) -> Bool {
        var ok = true
        func report(_ passed: Bool, _ line: String) {
            ok = ok && passed
            log("\(passed ? "PASS" : "FAIL") \(line)")
        }
        let context: CUDAContext
        do {
            context = try CUDAContext.primary(device: ordinal)
        } catch {
            report(false, "CUDA context on device \(ordinal): \(error)")
            return false
        }
        log("device \(ordinal): \(context.device)")
        do {
            let compiler = try KernelCompiler.shared()
            let modules = ModuleCache(context: context, compiler: compiler)
            for (name, source) in KernelSources.all {
                let start = Date()
                do {
                    _ = try modules.module(source: source, name: name)
                    report(true, String(format: "nvrtc+load %@ (%.0f ms)", name, Date().timeIntervalSince(start) * 1000))
                } catch {
                    report(false, "nvrtc+load \(name): \(error)")
                }
            }
        } catch {
            report(false, "NVRTC: \(error)")
        }
        do {
            let blas = try CUBLASLt(context: context)
            for dtype in [DType.fp32, .bf16, .fp16] {
                for (m, n, k, ta, tb) in [(7, 13, 5, false, false), (129, 70, 257, true, false), (512, 768, 768, false, true), (1000, 512, 64, true, true)] {
                    let error = try gemmError(blas, context, m: m, n: n, k: k, transposeA: ta, transposeB: tb, dtype: dtype)
                    let tolerance = dtype == .fp32 ? 1e-5 : 1e-2
                    report(error < tolerance, String(format: "cublasLt %@ %d×%d×%d %@%@ rel. error %.2e", dtype.rawValue, m, n, k, ta ? "T" : "N", tb ? "T" : "N", error))
                }
            }
            let stats = context.allocator.statistics
            log("allocator: peak \(stats.peakAllocatedBytes) B allocated, \(stats.reservedBytes) B reserved, \(stats.deviceAllocations) device allocations")
        } catch {
            report(false, "cuBLASLt: \(error)")
        }
        return ok
    }

    /// ‖C − ref‖/‖ref‖ for one product; inputs rounded to `dtype` on the host so the reference sees
    /// exactly the device's values.
    static func gemmError(_ blas: CUBLASLt, _ context: CUDAContext, m: Int, n: Int, k: Int,
                          transposeA: Bool, transposeB: Bool, dtype: DType) throws -> Double {
        let rng = Philox(seed: UInt64(Date().timeIntervalSince1970 * 1000))
        func values(_ count: Int, _ stream: UInt64) -> [Float] {
            (0..<count).map { i in
                let v = rng.uniform(UInt64(i), subsequence: stream) * 2 - 1
                switch dtype {
                case .bf16: return HalfPrecision.float(bf16Bits: HalfPrecision.bf16Bits(v))
                case .fp16: return HalfPrecision.float(fp16Bits: HalfPrecision.fp16Bits(v))
                default: return v
                }
            }
        }
        let a = values(m * k, 1), b = values(k * n, 2)
        func tensor(_ host: [Float], _ shape: Shape) throws -> Tensor {
            let t = try context.allocator.makeTensor(shape, dtype: dtype)
            switch dtype {
            case .bf16: try context.upload(host.map(HalfPrecision.bf16Bits), to: DevicePointer(t.address))
            case .fp16: try context.upload(host.map(HalfPrecision.fp16Bits), to: DevicePointer(t.address))
            default: try context.upload(host, to: DevicePointer(t.address))
            }
            return t
        }
        let ta = try tensor(a, transposeA ? [k, m] : [m, k]), tb = try tensor(b, transposeB ? [n, k] : [k, n])
        let c = try context.allocator.makeTensor([m, n], dtype: .fp32)
        try context.upload([Float](repeating: .nan, count: m * n), to: DevicePointer(c.address))
        try blas.gemm(ta, tb, into: c, transposeA: transposeA, transposeB: transposeB, stream: context.defaultStream)
        try context.synchronize()
        let got = try context.download(Float.self, count: m * n, from: DevicePointer(c.address))
        var want = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p * m + i] : a[i * k + p]
                    let y = transposeB ? b[j * k + p] : b[p * n + j]
                    s += Double(x) * Double(y)
                }
                want[i * n + j] = Float(s)
            }
        }
        return relativeError(got, want)
    }
}
