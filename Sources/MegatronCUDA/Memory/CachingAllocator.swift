import CCUDA
import MegatronTensor
import Synchronization

/// A caching device allocator, in the manner of PyTorch's: freed blocks go back to a cache keyed
/// by their rounded size and are handed out again, so a training step that allocates the same
/// activations every iteration calls `cuMemAlloc` only during the first and never `cuMemFree`
/// in steady state (both synchronise the device).
///
/// Sizes are rounded up to 512-byte granules up to 1 MiB, and above that to a power of two
/// split in 4 (8 above 256 MiB): at most 25% (12.5%) slack, and few distinct sizes to reuse.
/// When `cuMemAlloc` runs out of memory the cache is released and the allocation retried once.
///
/// Stream order: a freed block can be handed out again at once, which is safe while every use of
/// a block is ordered on one stream (or on blocking streams and the legacy default stream). Work
/// that uses a buffer on another stream must be synchronised before the buffer is dropped.
///
///     let buffer = try context.allocator.allocate(byteCount: 4 << 20, label: "logits")
///     let tensor = try context.allocator.makeTensor([4096, 1024], dtype: .bf16)
///     print(context.allocator.statistics.peakAllocatedBytes)
public final class CachingAllocator: @unchecked Sendable {
    // Sendable: mutable state lives in `state`, a Mutex; the rest is immutable.

    /// What the allocator holds.
    public struct Statistics: Hashable, Sendable {
        /// Bytes of blocks handed out and not yet returned (rounded sizes).
        public var allocatedBytes = 0
        /// Bytes asked for, of those blocks.
        public var requestedBytes = 0
        /// Bytes obtained from `cuMemAlloc` and not freed (allocated + cached).
        public var reservedBytes = 0
        public var peakAllocatedBytes = 0
        public var peakReservedBytes = 0
        /// `allocate` calls, and how many of them the cache served.
        public var allocations = 0
        public var cacheHits = 0
        /// `cuMemAlloc` / `cuMemFree` calls.
        public var deviceAllocations = 0
        public var deviceFrees = 0
        /// Bytes sitting in the cache.
        public var cachedBytes: Int { reservedBytes - allocatedBytes }
    }

    private struct LiveBlock {
        var size: Int
        var requested: Int
    }

    private struct State {
        var cached: [Int: [CUdeviceptr]] = [:]
        var live: [CUdeviceptr: LiveBlock] = [:]
        var statistics = Statistics()
    }

    public static let granule = 512
    public static let smallLimit = 1 << 20

    let driver: CUDADriver
    let context: CUcontext
    public let device: CUDADevice
    private let state = Mutex(State())

    init(driver: CUDADriver, context: CUcontext, device: CUDADevice) {
        self.driver = driver
        self.context = context
        self.device = device
    }

    /// The block size a request of `byteCount` bytes occupies.
    public static func blockSize(for byteCount: Int) -> Int {
        let size = max(byteCount, 1)
        if size <= smallLimit { return (size + granule - 1) / granule * granule }
        let power = 1 << (Int.bitWidth - 1 - size.leadingZeroBitCount)  // largest power of two ≤ size
        let step = power / (size > 256 << 20 ? 8 : 4)
        return (size + step - 1) / step * step
    }

    /// What the allocator holds now.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Restarts the peak counters from the current values.
    public func resetPeakStatistics() {
        state.withLock { s in
            s.statistics.peakAllocatedBytes = s.statistics.allocatedBytes
            s.statistics.peakReservedBytes = s.statistics.reservedBytes
        }
    }

    /// A device buffer of at least `byteCount` bytes (contents unspecified), returned to the
    /// cache when the buffer goes away. `label` names it in an out-of-memory error.
    public func allocate(byteCount: Int, label: @autoclosure () -> String = "buffer") throws(CUDAError) -> DeviceBuffer {
        let pointer = try allocateBlock(byteCount: byteCount, label: label())
        return DeviceBuffer(pointer: DevicePointer(pointer), byteCount: byteCount, allocator: self)
    }

    /// A ``MegatronTensor/Storage`` on this device whose deallocator returns the block here.
    public func makeStorage(byteCount: Int, label: @autoclosure () -> String = "tensor") throws(CUDAError) -> Storage {
        let pointer = try allocateBlock(byteCount: byteCount, label: label())
        guard let address = DevicePointer(pointer).address else {
            release(pointer)
            throw .invalidArgument(op: "CachingAllocator", message: "cuMemAlloc_v2 returned address 0")
        }
        return Storage(address: address, byteCount: byteCount, device: .cuda(device.ordinal)) { [self] address in
            release(DevicePointer(address).rawValue)
        }
    }

    /// A new tensor on this device with unspecified contents.
    public func makeTensor(_ shape: Shape, dtype: DType) throws(CUDAError) -> Tensor {
        let storage = try makeStorage(byteCount: shape.count * dtype.byteSize, label: "tensor \(shape) \(dtype)")
        return Tensor(storage: storage, shape: shape, dtype: dtype)
    }

    /// Frees every cached (unused) block with `cuMemFree`, after waiting for the device.
    public func emptyCache() throws(CUDAError) {
        let blocks = takeCachedBlocks()
        guard !blocks.isEmpty else { return }
        try driver.setCurrent(context)
        try driver.synchronizeContext()
        var freed = 0, failure: CUDAError?
        for (pointer, size) in blocks {
            do throws(CUDAError) {
                try driver.free(pointer)
                freed += size
            } catch {
                failure = failure ?? error
            }
        }
        state.withLock { s in
            s.statistics.reservedBytes -= freed
            s.statistics.deviceFrees += blocks.count
        }
        if let failure { throw failure }
    }

    // MARK: internals

    private func allocateBlock(byteCount: Int, label: String) throws(CUDAError) -> CUdeviceptr {
        guard byteCount >= 0 else {
            throw .invalidArgument(op: "allocate \(label)", message: "negative size \(byteCount)")
        }
        let size = Self.blockSize(for: byteCount)
        let reused: CUdeviceptr? = state.withLock { s in
            s.statistics.allocations += 1
            guard let pointer = s.cached[size]?.popLast() else { return nil }
            s.statistics.cacheHits += 1
            Self.recordLive(&s, pointer: pointer, size: size, requested: byteCount)
            return pointer
        }
        if let reused { return reused }

        try driver.setCurrent(context)
        var (result, pointer) = try driver.tryAllocate(size)
        if result == CUDAResultCode.outOfMemory {
            try emptyCache()
            (result, pointer) = try driver.tryAllocate(size)
        }
        if result == CUDAResultCode.outOfMemory {
            let (free, total) = (try? driver.memoryInfo()) ?? (0, device.totalMemory)
            let statistics = self.statistics
            throw .outOfMemory(allocation: label, requested: size, free: free, total: total,
                               allocated: statistics.allocatedBytes, reserved: statistics.reservedBytes)
        }
        try driver.check(result, "cuMemAlloc_v2(\(size) bytes for \(label))")
        state.withLock { s in
            s.statistics.deviceAllocations += 1
            s.statistics.reservedBytes += size
            s.statistics.peakReservedBytes = max(s.statistics.peakReservedBytes, s.statistics.reservedBytes)
            Self.recordLive(&s, pointer: pointer, size: size, requested: byteCount)
        }
        return pointer
    }

    private static func recordLive(_ s: inout State, pointer: CUdeviceptr, size: Int, requested: Int) {
        s.live[pointer] = LiveBlock(size: size, requested: requested)
        s.statistics.allocatedBytes += size
        s.statistics.requestedBytes += requested
        s.statistics.peakAllocatedBytes = max(s.statistics.peakAllocatedBytes, s.statistics.allocatedBytes)
    }

    /// Returns a block to the cache (no CUDA call, so safe from any thread and from deinit).
    func release(_ pointer: CUdeviceptr) {
        state.withLock { s in
            guard let block = s.live.removeValue(forKey: pointer) else { return }
            s.cached[block.size, default: []].append(pointer)
            s.statistics.allocatedBytes -= block.size
            s.statistics.requestedBytes -= block.requested
        }
    }

    private func takeCachedBlocks() -> [(CUdeviceptr, Int)] {
        state.withLock { s in
            let blocks = s.cached.flatMap { size, pointers in pointers.map { ($0, size) } }
            s.cached.removeAll()
            return blocks
        }
    }
}

/// Device memory from a ``CachingAllocator``; the block goes back to the cache on deinit.
///
///     let buffer = try context.allocator.allocate(byteCount: 1024)
///     try context.memset(buffer.pointer, byteCount: buffer.byteCount)
public final class DeviceBuffer: @unchecked Sendable {
    // Sendable: immutable; the allocator it returns to is thread-safe.
    public let pointer: DevicePointer
    /// The size asked for (the block may be larger, see ``CachingAllocator/blockSize(for:)``).
    public let byteCount: Int
    let allocator: CachingAllocator

    init(pointer: DevicePointer, byteCount: Int, allocator: CachingAllocator) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.allocator = allocator
    }

    deinit { allocator.release(pointer.rawValue) }
}
