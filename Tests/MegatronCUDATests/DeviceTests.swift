import MegatronTensor
import Testing
@testable import MegatronCUDA

/// Runs on a machine with an NVIDIA driver and GPU; skipped elsewhere.
@Suite(.enabled(if: CUDATestSupport.hasDevice, "no NVIDIA driver or GPU"), .serialized)
struct DeviceTests {
    var context: CUDAContext { get throws { try CUDAContext.primary(device: 0) } }

    @Test func deviceProperties() throws {
        let device = try context.device
        #expect(!device.name.isEmpty)
        #expect(device.computeCapability.major >= 7)
        #expect(device.totalMemory > 1 << 30)
        #expect(device.multiprocessorCount > 0)
        #expect(try CUDAContext.primary(device: 0) === context)  // one primary context per device
        let memory = try context.memoryInfo()
        #expect(memory.free > 0 && memory.free <= memory.total)
        #expect(throws: CUDAError.self) { _ = try CUDAContext.primary(device: 10_000) }
    }

    /// An allocator of its own, so that other suites running at the same time don't move the counters.
    func privateAllocator() throws -> CachingAllocator {
        let context = try context
        return CachingAllocator(driver: context.driver, context: context.handle, device: context.device)
    }

    @Test func allocatorReusesBlocksAndKeepsStatistics() throws {
        let allocator = try privateAllocator()
        defer { try? allocator.emptyCache() }
        let before = allocator.statistics
        var first: DeviceBuffer? = try allocator.allocate(byteCount: 3 << 20, label: "first")
        let address = try #require(first).pointer
        #expect(allocator.statistics.allocatedBytes == before.allocatedBytes + (3 << 20))
        first = nil
        #expect(allocator.statistics.allocatedBytes == before.allocatedBytes)
        #expect(allocator.statistics.reservedBytes == before.reservedBytes + (3 << 20))
        let second = try allocator.allocate(byteCount: 3 << 20 - 100, label: "second")
        #expect(second.pointer == address)  // same size class: the cached block comes back
        #expect(allocator.statistics.cacheHits == before.cacheHits + 1)
        #expect(allocator.statistics.deviceAllocations == before.deviceAllocations + 1)
        #expect(allocator.statistics.peakAllocatedBytes >= before.allocatedBytes + (3 << 20))
        _ = second
    }

    @Test func emptyCacheFreesUnusedBlocks() throws {
        let allocator = try privateAllocator()
        do { _ = try allocator.allocate(byteCount: 5 << 20) }
        #expect(allocator.statistics.cachedBytes > 0)
        let kept = try allocator.makeStorage(byteCount: 1000)
        try allocator.emptyCache()
        #expect(allocator.statistics.cachedBytes == 0)
        #expect(allocator.statistics.reservedBytes == 1024)  // the live block stays
        #expect(allocator.statistics.deviceFrees == 1)
        _ = kept
    }

    @Test func outOfMemoryNamesTheAllocation() throws {
        let error = #expect(throws: CUDAError.self) {
            _ = try context.allocator.allocate(byteCount: 1 << 50, label: "huge test buffer")
        }
        guard case let .outOfMemory(allocation, requested, _, total, _, _) = error else {
            Issue.record("expected outOfMemory, got \(String(describing: error))")
            return
        }
        #expect(allocation == "huge test buffer")
        #expect(requested >= 1 << 50)
        #expect(total > 0)
    }

    @Test func storageAndTensorLiveOnTheDevice() throws {
        let context = try context
        let tensor = try context.allocator.makeTensor([4, 8], dtype: .fp32)
        #expect(tensor.device == .cuda(0))
        let values = (0 ..< 32).map(Float.init)
        try context.upload(values, to: DevicePointer(tensor.address))
        #expect(try context.download(Float.self, count: 32, from: DevicePointer(tensor.address)) == values)
    }

    @Test func copiesRoundTripSyncAndAsync() throws {
        let context = try context
        let count = 10_000
        var random = TestRandom(seed: 7)
        let values = random.array(count)
        let a = try context.allocator.allocate(byteCount: count * 4)
        let b = try context.allocator.allocate(byteCount: count * 4)
        try context.upload(values, to: a.pointer)
        try context.copy(from: a.pointer, to: b.pointer, byteCount: count * 4)
        #expect(try context.download(Float.self, count: count, from: b.pointer) == values)

        let stream = try context.makeStream()
        try stream.memset(b.pointer, value: 0, byteCount: count * 4)
        try values.withUnsafeBytes { try stream.copy(from: $0, to: a.pointer) }
        try stream.copy(from: a.pointer, to: b.pointer, byteCount: count * 4)
        var back = [Float](repeating: 0, count: count)
        try back.withUnsafeMutableBytes { try stream.copy(from: b.pointer, to: $0) }
        try stream.synchronize()
        #expect(back == values)

        try stream.memset32(b.pointer, value: Float(1.5).bitPattern, count: count)
        try stream.synchronize()
        #expect(try context.download(Float.self, count: count, from: b.pointer).allSatisfy { $0 == 1.5 })

        try stream.memset16(b.pointer, value: HalfPrecision.bf16Bits(-2), count: 2 * count)
        let pinned = try PinnedHostBuffer(context: context, byteCount: count * 4)
        try stream.copy(from: b.pointer, to: pinned.bytes)
        try stream.synchronize()
        #expect(pinned.bytes.bindMemory(to: UInt16.self).allSatisfy { HalfPrecision.float(bf16Bits: $0) == -2 })
    }

    static let kernelSource = """
        #include <cuda_bf16.h>
        extern "C" __global__ void axpy_f32(float alpha, const float* x, float* y, long long n) {
            for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
                 i += (long long)gridDim.x * blockDim.x) y[i] += alpha * x[i];
        }
        extern "C" __global__ void to_bf16(const float* x, __nv_bfloat16* y, long long n) {
            long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
            if (i < n) y[i] = __float2bfloat16_rn(x[i]);
        }
        """

    @Test(.enabled(if: CUDATestSupport.hasNVRTC, "NVRTC not installed"))
    func compiledKernelLaunchesAndComputes() throws {
        let context = try context
        let cache = ModuleCache(context: context, compiler: try KernelCompiler.shared())
        let axpy = try cache.function("axpy_f32", source: Self.kernelSource, name: "test_kernels")
        let toBF16 = try cache.function("to_bf16", source: Self.kernelSource, name: "test_kernels")
        #expect(cache.count == 1)  // one module for both functions

        let n = 100_003
        var random = TestRandom(seed: 11)
        let x = random.array(n), y = random.array(n)
        let dx = try context.allocator.allocate(byteCount: n * 4)
        let dy = try context.allocator.allocate(byteCount: n * 4)
        let dz = try context.allocator.allocate(byteCount: n * 2)
        try context.upload(x, to: dx.pointer)
        try context.upload(y, to: dy.pointer)

        let stream = try context.makeStream()
        var args = KernelArguments()
        args.append(Float(0.5))
        args.append(dx.pointer)
        args.append(dy.pointer)
        args.append(Int64(n))
        try stream.launch(axpy, grid: Dim3(x: 120), block: 256, arguments: args)
        // The same launch through the raw parameter array.
        var alpha = Float(0.5), px = dx.pointer.rawValue, py = dy.pointer.rawValue, count = Int64(n)
        try withUnsafeMutablePointer(to: &alpha) { a in
            try withUnsafeMutablePointer(to: &px) { b in
                try withUnsafeMutablePointer(to: &py) { c in
                    try withUnsafeMutablePointer(to: &count) { d in
                        try stream.launch(axpy, grid: Dim3(x: (n + 255) / 256), block: 256,
                                          parameters: [UnsafeMutableRawPointer(a), UnsafeMutableRawPointer(b),
                                                       UnsafeMutableRawPointer(c), UnsafeMutableRawPointer(d)])
                    }
                }
            }
        }
        var convert = KernelArguments()
        convert.append(dy.pointer)
        convert.append(dz.pointer)
        convert.append(Int64(n))
        try stream.launch(toBF16, grid: Dim3(x: (n + 255) / 256), block: 256, arguments: convert)
        try stream.synchronize()

        let result = try context.download(Float.self, count: n, from: dy.pointer)
        let expected = zip(x, y).map { x, y in (y + 0.5 * x) + 0.5 * x }
        #expect(relativeError(result, expected) < 1e-6)
        let bf16 = try context.download(UInt16.self, count: n, from: dz.pointer)
        #expect(bf16 == result.map(HalfPrecision.bf16Bits))
    }

    @Test func eventsMeasureTime() throws {
        let context = try context
        let stream = try context.makeStream()
        let start = try context.makeEvent(), end = try context.makeEvent()
        let buffer = try context.allocator.allocate(byteCount: 64 << 20)
        try start.record(on: stream)
        for _ in 0 ..< 10 { try stream.memset(buffer.pointer, value: 1, byteCount: 64 << 20) }
        try end.record(on: stream)
        let milliseconds = try end.elapsedMilliseconds(since: start)
        #expect(milliseconds > 0)
        #expect(try end.isComplete())
        let other = try context.makeStream()
        try other.wait(for: end)
        try other.synchronize()
    }
}
