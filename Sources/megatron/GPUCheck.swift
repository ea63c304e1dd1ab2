import ArgumentParser
import Foundation
import MegatronCUDA

/// `megatron gpu-check`: compiles and loads every CUDA kernel group on the GPU and checks
/// cuBLASLt against a host reference; exits non-zero when any check fails.
struct GPUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-check",
        abstract: "Check the CUDA stack on this GPU: NVRTC compilation and loading of every kernel, cuBLASLt products.")

    @Option(help: "CUDA device ordinal.")
    var device = 0

    func run() throws {
        let ok = CUDASelfCheck.run(device: device) { say($0) }
        if !ok { throw ExitCode.failure }
    }
}
