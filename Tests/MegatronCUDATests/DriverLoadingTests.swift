import Testing
@testable import MegatronCUDA

/// Without libcuda the driver layer throws the library-not-found error; nothing crashes.
@Suite struct DriverLoadingTests {
    @Test func missingLibcudaThrowsNotFound() {
        let error = #expect(throws: CUDAError.self) { _ = try CUDADriver.load(search: CUDATestSupport.emptySearch()) }
        guard case let .libraryNotFound(library, sonames, _, _, _) = error else {
            Issue.record("expected libraryNotFound, got \(String(describing: error))")
            return
        }
        #expect(library == "CUDA driver")
        #expect(sonames == ["libcuda.so.1"])
    }

    @Test(.enabled(if: !CUDATestSupport.hasDriver, "this machine has an NVIDIA driver"))
    func contextWithoutDriverThrowsInsteadOfCrashing() {
        #expect(throws: CUDAError.self) { _ = try CUDAContext.primary(device: 0) }
        #expect(throws: CUDAError.self) { _ = try CUDADevice.count() }
    }

    @Test func errorMessagesNameTheCallAndTheCUDAError() {
        let error = CUDAError.driver(call: "cuMemAlloc_v2(1073741824 bytes)",
                                     result: CUDAResultCode(rawValue: 2, name: "CUDA_ERROR_OUT_OF_MEMORY"))
        #expect(error.description == "cuMemAlloc_v2(1073741824 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY")
        #expect(CUDAError.driverTooOld(version: 11080, required: 12000).description.contains("CUDA 11.8"))
        let oom = CUDAError.outOfMemory(allocation: "logits", requested: 3 << 30, free: 1 << 30, total: 80 << 30,
                                        allocated: 70 << 30, reserved: 75 << 30)
        #expect(oom.description.contains("logits"))
        #expect(oom.description.contains("3.0 GiB"))
        #expect(oom.description.contains("1.0 GiB (1073741824 bytes) free of 80.0 GiB"))
    }

    @Test func architectureNames() throws {
        #expect(GPUArchitecture(major: 9, minor: 0).realName == "sm_90")
        #expect(GPUArchitecture(major: 9, minor: 0, suffix: "a").virtualName == "compute_90a")
        #expect(try #require(GPUArchitecture("sm_90a")) == GPUArchitecture(major: 9, minor: 0, suffix: "a"))
        #expect(try #require(GPUArchitecture("8.6")) == GPUArchitecture(major: 8, minor: 6))
        #expect(GPUArchitecture("sm_x") == nil)
    }
}
