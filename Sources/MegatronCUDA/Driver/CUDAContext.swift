import CCUDA
import Synchronization

/// Layer 3: one GPU's primary context, shared by everything in the process that uses the
/// device (as the CUDA runtime does), with its caching allocator.
///
/// Every operation of the owning types makes the context current on the calling thread first
/// (`cuCtxSetCurrent`, a thread-local store in the driver), so ranks on different threads and
/// devices never see each other's context.
///
///     let context = try CUDAContext.primary(device: 0)
///     let buffer = try context.allocator.allocate(byteCount: 1 << 20, label: "scratch")
///     try context.upload([1, 2, 3] as [Float], to: buffer.pointer)
public final class CUDAContext: @unchecked Sendable {
    // Sendable: all stored properties are immutable; the driver API is thread-safe and the
    // allocator guards its own state.
    public let driver: CUDADriver
    public let device: CUDADevice
    let handle: CUcontext
    /// The device's caching allocator (one per context).
    public let allocator: CachingAllocator

    private static let primaries = Mutex<[Int: CUDAContext]>([:])

    /// The primary context of device `ordinal`, retained on first use and kept for the life of
    /// the process. Throws the library-not-found error when there is no driver, and
    /// ``CUDAError/noDevice(reason:)`` when there is no GPU.
    public static func primary(device ordinal: Int) throws(CUDAError) -> CUDAContext {
        let driver = try CUDADriver.shared()
        let result: Result<CUDAContext, CUDAError> = primaries.withLock { contexts in
            if let context = contexts[ordinal] { return .success(context) }
            do throws(CUDAError) {
                let context = try CUDAContext(driver: driver, device: CUDADevice(ordinal: ordinal, driver: driver))
                contexts[ordinal] = context
                return .success(context)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private init(driver: CUDADriver, device: CUDADevice) throws(CUDAError) {
        self.driver = driver
        self.device = device
        handle = try driver.retainPrimaryContext(device.handle)
        allocator = CachingAllocator(driver: driver, context: handle, device: device)
        try driver.setCurrent(handle)
    }

    deinit {
        // Primary contexts are cached for the life of the process, so this runs only at exit.
        try? driver.releasePrimaryContext(device.handle)
    }

    /// Makes this context current on the calling thread.
    public func makeCurrent() throws(CUDAError) { try driver.setCurrent(handle) }

    /// Waits for all work on every stream of the context.
    public func synchronize() throws(CUDAError) {
        try makeCurrent()
        try driver.synchronizeContext()
    }

    /// Free and total device memory (`cuMemGetInfo_v2`).
    public func memoryInfo() throws(CUDAError) -> (free: Int, total: Int) {
        try makeCurrent()
        return try driver.memoryInfo()
    }

    /// The legacy default stream (stream 0): synchronous copies and launches without a stream go
    /// here, and it waits for / is waited on by every blocking stream.
    public var defaultStream: CUDAStream { CUDAStream(context: self, handle: nil, owned: false) }

    /// A new stream. Blocking streams (the default) are ordered with the legacy default stream,
    /// which keeps the synchronous copies below safe with the caching allocator.
    public func makeStream(nonBlocking: Bool = false) throws(CUDAError) -> CUDAStream {
        try makeCurrent()
        let flags = UInt32(nonBlocking ? CCUDA_STREAM_NON_BLOCKING : CCUDA_STREAM_DEFAULT)
        return CUDAStream(context: self, handle: try driver.createStream(flags: flags), owned: true)
    }

    /// A new event; `timing: false` makes recording and waiting cheaper.
    public func makeEvent(timing: Bool = true) throws(CUDAError) -> CUDAEvent {
        try CUDAEvent(context: self, timing: timing)
    }

    /// Loads a CUBIN, fatbin or PTX image (PTX must end with a NUL byte, as NVRTC's does).
    public func loadModule(image: [UInt8], name: String) throws(CUDAError) -> CUDAModule {
        try CUDAModule(context: self, image: image, name: name)
    }

    // MARK: synchronous copies (ordered with the legacy default stream)

    /// Host → device, returning when the copy is done.
    public func upload(_ bytes: UnsafeRawBufferPointer, to destination: DevicePointer) throws(CUDAError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try makeCurrent()
        try driver.copyHostToDevice(destination.rawValue, base, bytes.count, stream: nil)
    }

    /// Host values → device.
    public func upload<T: BitwiseCopyable>(_ values: [T], to destination: DevicePointer) throws(CUDAError) {
        try rethrowingCUDAError { try values.withUnsafeBytes { bytes in try upload(bytes, to: destination) } }
    }

    /// Device → host, returning when the copy is done.
    public func download(from source: DevicePointer, into bytes: UnsafeMutableRawBufferPointer) throws(CUDAError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try makeCurrent()
        try driver.copyDeviceToHost(base, source.rawValue, bytes.count, stream: nil)
    }

    /// `count` values of type `T` from the device.
    public func download<T: BitwiseCopyable>(_ type: T.Type, count: Int, from source: DevicePointer) throws(CUDAError) -> [T] {
        var failure: CUDAError?
        let result = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(CUDAError) {
                try download(from: source, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return result
    }

    /// Device → device.
    public func copy(from source: DevicePointer, to destination: DevicePointer, byteCount: Int) throws(CUDAError) {
        guard byteCount > 0 else { return }
        try makeCurrent()
        try driver.copyDeviceToDevice(destination.rawValue, source.rawValue, byteCount, stream: nil)
    }

    /// Sets `byteCount` bytes to `value`.
    public func memset(_ destination: DevicePointer, value: UInt8 = 0, byteCount: Int) throws(CUDAError) {
        guard byteCount > 0 else { return }
        try makeCurrent()
        try driver.memset8(destination.rawValue, value, count: byteCount, stream: nil)
    }
}
