import ArgumentParser
import Foundation
import MegatronCUDA
import MegatronTensor
import MegatronTraining

/// `megatron gpu-check`: compiles and loads every CUDA kernel group on the GPU and checks
/// cuBLASLt against a host reference; exits non-zero when any check fails.
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
            for dtype in [DType.fp32, .bf16] {
                let results = try BackendCheck(device: backend).run(dtype: dtype, coverage: quick ? .quick : .full)
                for r in results { say(r.description) }
                ok = ok && results.allSatisfy(\.passed)
            }
        } catch {
            say("FAIL CUDA backend op checks: \(error)")
            ok = false
        }
        if !ok { throw ExitCode.failure }
    }
}
