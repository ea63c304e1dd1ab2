/// Page-locked host memory (`cuMemAllocHost_v2`): copies to and from it are truly asynchronous
/// and run at full PCIe/NVLink-C2C speed. Keep it alive until the stream has finished with it.
///
///     let staging = try PinnedHostBuffer(context: context, byteCount: 4 * n)
///     try stream.copy(from: DevicePointer(loss.address), to: staging.bytes)
///     try stream.synchronize()
///     let values = staging.bytes.bindMemory(to: Float.self)
public final class PinnedHostBuffer: @unchecked Sendable {
    // Sendable: the pointer and size are immutable; ordering accesses with the GPU is the
    // caller's job, as with any buffer handed to a stream.
    public let context: CUDAContext
    public let byteCount: Int
    private let base: UnsafeMutableRawPointer

    public init(context: CUDAContext, byteCount: Int) throws(CUDAError) {
        self.context = context
        self.byteCount = byteCount
        try context.makeCurrent()
        base = try context.driver.allocateHost(max(byteCount, 1))
    }

    deinit {
        try? context.makeCurrent()
        try? context.driver.freeHost(base)
    }

    /// The memory.
    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: byteCount) }
}
