import ArgumentParser
import Foundation
import MegatronCUDA

/// `megatron doctor`: reports which CUDA libraries, driver and GPUs this machine has, and where
/// they were found. It only reports, so it always exits 0.
///
///     megatron doctor
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report the CUDA driver, GPUs, NVRTC, cuBLASLt and NCCL this machine offers, and where they were found.")

    func run() throws {
        FileHandle.standardOutput.write(Data((CUDADoctor.report() + "\n").utf8))
    }
}
