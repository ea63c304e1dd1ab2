@testable import MegatronCUDA
import Testing

/// Every CUDA C kernel group must compile with NVRTC, so a kernel that does not compile fails CI
/// even without a GPU (`.ci/run` installs NVRTC from PyPI's nvidia-cuda-nvrtc wheel).
@Suite("Kernel sources compile", .enabled(if: CUDATestSupport.hasNVRTC, "NVRTC not found: pip install nvidia-cuda-nvrtc nvidia-cuda-runtime"))
struct KernelSourcesTests {
    @Test(arguments: KernelSources.all.map(\.name))
    func compilesForHopper(group: String) throws {
        let source = try #require(KernelSources.all.first { $0.name == group }?.source)
        let compiler = KernelCompiler(nvrtc: try #require(CUDATestSupport.nvrtc), cache: nil)
        let kernel = try compiler.compile(source: source, name: group, architecture: GPUArchitecture(major: 9, minor: 0))
        #expect(kernel.format == .cubin && kernel.image.count > 1000)
    }
}
