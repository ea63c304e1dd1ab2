import ArgumentParser
import Foundation
import MegatronCPU
import MegatronCUDA
import MegatronTensor
import MegatronTraining

/// `megatron gpu-check`: compiles and loads every CUDA kernel group on the GPU, checks cuBLASLt
/// and every backend op against the CPU reference, and compares 50-iteration loss curves with
/// the CPU's fp32 curve; exits non-zero when any check fails.
struct GPUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-check",
        abstract: "Check the CUDA stack on this GPU: NVRTC compilation and loading of every kernel, cuBLASLt products.")

    @Option(help: "CUDA device ordinal.")
    var device = 0

    @ArgumentParser.Flag(help: "Only the small shapes of the op checks (quick).")
    var quick = false

    func run() throws {
        var ok = CUDASelfCheck.run(device: device) { say($0) }
        do {
            let backend = try CUDABackend(device: device)
            for dtype in [DType.fp32, .bf16, .fp16] {
                let results = try BackendCheck(device: backend).run(dtype: dtype, coverage: quick ? .quick : .full)
                for r in results { say(r.description) }
                ok = ok && results.allSatisfy(\.passed)
            }
        } catch {
            say("FAIL CUDA backend op checks: \(error)")
            ok = false
        }
        do {
            ok = try checkLossCurves() && ok
        } catch {
            say("FAIL loss curves: \(error)")
            ok = false
        }
        if !ok { throw ExitCode.failure }
    }

    /// 50 iterations of a small GPT on learnable data: the GPU curves (bf16, with each
    /// recomputation granularity, fp16 with loss scaling, fp32) against the CPU's fp32 curve.
    private func checkLossCurves() throws -> Bool {
        let check = LossCurveCheck()
        let reference = try check.curve(on: CPUBackend(), extraFlags: [])
        let backend = try CUDABackend(device: device)
        var ok = true
        // fp16 starts from a loss scale that needs no skipped steps, so the curves stay aligned.
        for (name, flags) in [
            ("cuda bf16", ["--bf16"]),
            ("cuda bf16, selective recompute", ["--bf16", "--recompute-granularity", "selective"]),
            ("cuda bf16, full recompute", ["--bf16", "--recompute-granularity", "full"]),
            ("cuda fp16, loss scale 4096", ["--fp16", "--initial-loss-scale", "4096"]),
            ("cuda fp32", []),
        ] {
            do {
                let result = try check.compare(name, on: backend, extraFlags: flags, reference: reference)
                say(result.description)
                ok = ok && result.passed
            } catch {
                say("FAIL loss curve \(name): \(error)")
                ok = false
            }
        }
        return ok
    }
}
