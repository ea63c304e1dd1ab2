import Foundation
import Testing
@testable import MegatronCUDA

/// NVRTC needs no GPU: these run wherever the library is (here through the pip wheel). Where it
/// is absent they are skipped with the reason shown; CI installs `nvidia-cuda-nvrtc`.
@Suite(.enabled(if: CUDATestSupport.hasNVRTC, "NVRTC not installed (pip install nvidia-cuda-nvrtc)"))
struct NVRTCTests {
    static let kernel = """
        #include <cuda_bf16.h>
        #include <cuda_fp16.h>
        extern "C" __global__ void scale_bf16(__nv_bfloat16* x, float alpha, long long n) {
            long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
            if (i < n) x[i] = __float2bfloat16_rn(__bfloat162float(x[i]) * alpha);
        }
        extern "C" __global__ void to_half(const float* x, __half* y, long long n) {
            long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
            if (i < n) y[i] = __float2half_rn(x[i]);
        }
        """

    func compiler(cacheIn directory: String) throws -> KernelCompiler {
        KernelCompiler(nvrtc: try #require(CUDATestSupport.nvrtc), cache: KernelCache(directory: directory))
    }

    static let elfMagic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]

    @Test(arguments: [GPUArchitecture(major: 9, minor: 0), GPUArchitecture(major: 8, minor: 0)])
    func compilesBF16KernelToCUBIN(architecture: GPUArchitecture) throws {
        let compiler = try compiler(cacheIn: CUDATestSupport.temporaryDirectory("nvrtc"))
        let kernel = try compiler.compile(source: Self.kernel, name: "scale", architecture: architecture)
        #expect(kernel.format == .cubin)
        #expect(kernel.target == architecture.realName)
        #expect(Array(kernel.image.prefix(4)) == Self.elfMagic)
        #expect(!kernel.fromCache)
        #expect(kernel.options.contains("--gpu-architecture=\(architecture.realName)"))
        #expect(kernel.options.contains("-std=c++17"))
        #expect(!kernel.options.contains("--use_fast_math"))
    }

    @Test func secondCompileIsADiskCacheHit() throws {
        let directory = CUDATestSupport.temporaryDirectory("cache")
        let compiler = try compiler(cacheIn: directory)
        let sm90 = GPUArchitecture(major: 9, minor: 0)
        let first = try compiler.compile(source: Self.kernel, name: "scale", architecture: sm90)
        let second = try compiler.compile(source: Self.kernel, name: "scale", architecture: sm90)
        #expect(!first.fromCache)
        #expect(second.fromCache)
        #expect(second.image == first.image)
        #expect(second.cacheKey == first.cacheKey)
        #expect(FileManager.default.fileExists(atPath: compiler.cache?.path(for: first.cacheKey) ?? ""))
        // Different options or architecture: a different key, so a fresh compile.
        let fast = try compiler.compile(source: Self.kernel, name: "scale", architecture: sm90, fastMath: true)
        #expect(!fast.fromCache)
        #expect(fast.cacheKey != first.cacheKey)
    }

    @Test func corruptCacheFileIsIgnoredAndRebuilt() throws {
        let directory = CUDATestSupport.temporaryDirectory("corrupt")
        let compiler = try compiler(cacheIn: directory)
        let sm80 = GPUArchitecture(major: 8, minor: 0)
        let first = try compiler.compile(source: Self.kernel, name: "scale", architecture: sm80)
        let path = try #require(compiler.cache?.path(for: first.cacheKey))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 10] ^= 0xFF  // flip bits in the payload
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(compiler.cache?.load(key: first.cacheKey) == nil)
        let rebuilt = try compiler.compile(source: Self.kernel, name: "scale", architecture: sm80)
        #expect(!rebuilt.fromCache)
        #expect(rebuilt.image == first.image)
        #expect(compiler.cache?.load(key: first.cacheKey)?.image == first.image)
        // A truncated file is ignored too.
        try Data(bytes.prefix(20)).write(to: URL(fileURLWithPath: path))
        #expect(compiler.cache?.load(key: first.cacheKey) == nil)
    }

    @Test func syntaxErrorGivesKernelNameAndLog() throws {
        let compiler = try compiler(cacheIn: CUDATestSupport.temporaryDirectory("error"))
        let broken = "extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name + ; }"
        let error = #expect(throws: CUDAError.self) {
            _ = try compiler.compile(source: broken, name: "broken_kernel", architecture: GPUArchitecture(major: 9, minor: 0))
        }
        guard case let .compilation(kernel, architecture, _, log) = error else {
            Issue.record("expected a compilation error, got \(String(describing: error))")
            return
        }
        #expect(kernel == "broken_kernel")
        #expect(architecture == "sm_90")
        #expect(log.contains("undefined_name"))
        #expect(log.contains("error"))
        #expect(error?.description.contains("broken_kernel") == true)
    }

    @Test func architectureNewerThanNVRTCFallsBackToPTX() throws {
        let compiler = try compiler(cacheIn: CUDATestSupport.temporaryDirectory("ptx"))
        let newest = try #require(compiler.nvrtc.supportedArchitectures.last)
        let future = GPUArchitecture(major: 99, minor: 0)
        let kernel = try compiler.compile(source: Self.kernel, name: "scale", architecture: future)
        #expect(kernel.format == .ptx)
        #expect(kernel.target == "compute_\(newest)")
        #expect(kernel.image.last == 0)  // NUL-terminated for cuModuleLoadData
        let text = String(decoding: kernel.image.dropLast(), as: UTF8.self)
        #expect(text.contains(".entry scale_bf16"))
    }

    @Test func nvrtcReportsVersionAndArchitectures() throws {
        let nvrtc = try #require(CUDATestSupport.nvrtc)
        #expect(nvrtc.version.major >= 12)
        #expect(nvrtc.supportedArchitectures.contains(90))
        #expect(nvrtc.supportedArchitectures.contains(80))
        #expect(nvrtc.missingSymbols.isEmpty)
    }

    @Test func cacheFromEnvironment() {
        #expect(KernelCache.fromEnvironment(["MEGATRON_KERNEL_CACHE": "/x/k"])?.directory == "/x/k")
        #expect(KernelCache.fromEnvironment(["MEGATRON_KERNEL_CACHE": "off", "HOME": "/h"]) == nil)
        #expect(KernelCache.fromEnvironment(["HOME": "/h"])?.directory == "/h/.cache/swift-megatron/kernels")
    }
}
