import CCUDA
import MegatronTensor

/// A CUDA stream: work queued on it runs in order. Copies, memsets and launches here return
/// once queued.
///
/// Host memory given to the asynchronous copies must stay alive until the stream reaches the
/// copy when it is page-locked; with ordinary (pageable) memory the driver stages host→device
/// copies before returning and completes device→host copies before returning.
///
///     let stream = try context.makeStream()
///     try stream.launch(function, grid: Dim3(x: blocks), block: 256, arguments: args)
///     try stream.synchronize()
public final class CUDAStream: @unchecked Sendable {
    // Sendable: the handle is immutable and the driver's stream calls are thread-safe; ordering
    // work between threads is the caller's job, as with any CUDA stream.
    public let context: CUDAContext
    /// nil for the legacy default stream.
    let handle: CUstream?
    private let owned: Bool

    init(context: CUDAContext, handle: CUstream?, owned: Bool) {
        self.context = context
        self.handle = handle
        self.owned = owned
    }

    deinit {
        if owned, let handle {
            try? context.makeCurrent()
            try? context.driver.destroyStream(handle)
        }
    }

    /// The `cudaStream_t` / `CUstream` for libraries that take one (cuBLASLt, NCCL).
    public var rawHandle: OpaquePointer? { handle }

    private var driver: CUDADriver { context.driver }

    /// Blocks until everything queued so far has run.
    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try driver.synchronizeStream(handle)
    }

    /// Whether everything queued so far has run.
    public func isIdle() throws(CUDAError) -> Bool {
        try context.makeCurrent()
        return try driver.queryStream(handle)
    }

    /// Makes later work on this stream wait until `event` has happened.
    public func wait(for event: CUDAEvent) throws(CUDAError) {
        try context.makeCurrent()
        try driver.streamWait(handle, for: event.handle)
    }

    /// Records `event` at this point of the stream.
    public func record(_ event: CUDAEvent) throws(CUDAError) { try event.record(on: self) }

    // MARK: asynchronous copies

    /// Queues host → device, on the legacy default stream too; `bytes` must stay unchanged until
    /// the stream has run the copy (page-locked memory, e.g. ``PinnedHostBuffer``, makes the call
    /// return at once).
    public func copy(from bytes: UnsafeRawBufferPointer, to destination: DevicePointer) throws(CUDAError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try context.makeCurrent()
        try driver.queueHostToDevice(destination.rawValue, base, bytes.count, stream: handle)
    }

    public func copy(from source: DevicePointer, to bytes: UnsafeMutableRawBufferPointer) throws(CUDAError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try context.makeCurrent()
        try driver.copyDeviceToHost(base, source.rawValue, bytes.count, stream: handle)
    }

    public func copy(from source: DevicePointer, to destination: DevicePointer, byteCount: Int) throws(CUDAError) {
        guard byteCount > 0 else { return }
        try context.makeCurrent()
        try driver.copyDeviceToDevice(destination.rawValue, source.rawValue, byteCount, stream: handle)
    }

    /// Sets `byteCount` bytes to `value`.
    public func memset(_ destination: DevicePointer, value: UInt8 = 0, byteCount: Int) throws(CUDAError) {
        guard byteCount > 0 else { return }
        try context.makeCurrent()
        try driver.memset8(destination.rawValue, value, count: byteCount, stream: handle)
    }

    /// Sets `count` 16-bit words to `value` (e.g. `HalfPrecision.bf16Bits(1)`).
    public func memset16(_ destination: DevicePointer, value: UInt16, count: Int) throws(CUDAError) {
        guard count > 0 else { return }
        try context.makeCurrent()
        try driver.memset16(destination.rawValue, value, count: count, stream: handle)
    }

    /// Sets `count` 32-bit words to `value` (e.g. `Float(1).bitPattern`).
    public func memset32(_ destination: DevicePointer, value: UInt32, count: Int) throws(CUDAError) {
        guard count > 0 else { return }
        try context.makeCurrent()
        try driver.memset32(destination.rawValue, value, count: count, stream: handle)
    }

    // MARK: kernels

    /// Launches `function`; `parameters` holds one pointer per kernel argument, pointing at the
    /// argument's value (the layout `cuLaunchKernel` takes).
    public func launch(
        _ function: CUDAFunction, grid: Dim3, block: Dim3, sharedMemoryBytes: Int = 0,
        parameters: [UnsafeMutableRawPointer?]
    ) throws(CUDAError) {
        try context.makeCurrent()
        var parameters = parameters
        let count = parameters.count
        try parameters.withUnsafeMutableBufferPointer { (buffer) throws(CUDAError) in
            try driver.launch(
                function.handle, grid: grid, block: block, sharedMemoryBytes: sharedMemoryBytes, stream: handle,
                parameters: count == 0 ? nil : buffer.baseAddress, name: function.name)
        }
    }

    /// Launches `function` with arguments collected in a ``KernelArguments``.
    public func launch(
        _ function: CUDAFunction, grid: Dim3, block: Dim3, sharedMemoryBytes: Int = 0,
        arguments: KernelArguments
    ) throws(CUDAError) {
        try context.makeCurrent()
        try arguments.withParameters { (parameters) throws(CUDAError) in
            try driver.launch(
                function.handle, grid: grid, block: block, sharedMemoryBytes: sharedMemoryBytes, stream: handle,
                parameters: parameters, name: function.name)
        }
    }
}
