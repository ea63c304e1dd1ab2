import CCUDA

/// Layer 2: checked CUDA driver calls. Every call returns a value or throws a ``CUDAError`` that
/// names the call, its arguments and the driver's error name; nothing here owns a resource (the
/// owning types are ``CUDAContext``, ``CUDAStream``, ``CUDAEvent``, ``CUDAModule`` and
/// ``CachingAllocator``).
///
/// Calls act on the calling thread's current context; the owning types make their context
/// current first.
///
///     let driver = try CUDADriver.shared()
///     print(driver.version)            // 13000
///     print(try driver.deviceCount())  // 8
public final class CUDADriver: Sendable {
    /// The minimum driver API version: CUDA 12.0.
    public static let requiredVersion = 12000

    public let library: DynamicLibrary
    let symbols: DriverSymbols
    /// `cuDriverGetVersion`: 1000·major + 10·minor, e.g. 13000 for CUDA 13.0.
    public let version: Int

    /// Entry points this libcuda lacks (each fails only when called).
    public var missingSymbols: [String] { symbols.missing }

    private static let sharedResult: Result<CUDADriver, CUDAError> = Result { () throws(CUDAError) in
        try CUDADriver(library: CUDALibraries.report(for: .driver).get())
    }

    /// The process-wide driver: libcuda loaded, version checked and `cuInit` called, once.
    /// Throws the library-not-found error on machines without the NVIDIA driver.
    public static func shared() throws(CUDAError) -> CUDADriver { try sharedResult.get() }

    /// `driver`, or the shared one when nil.
    static func given(_ driver: CUDADriver?) throws(CUDAError) -> CUDADriver {
        if let driver { return driver }
        return try shared()
    }

    /// A driver loaded with a custom search (tests, `doctor`); not cached.
    public static func load(search: LibrarySearch) throws(CUDAError) -> CUDADriver {
        try CUDADriver(library: search.load(.driver).get())
    }

    init(library: DynamicLibrary) throws(CUDAError) {
        self.library = library
        let symbols = DriverSymbols(library)
        self.symbols = symbols
        guard let getVersion = symbols.cuDriverGetVersion else {
            throw .symbolNotFound(library: library.path, symbol: "cuDriverGetVersion")
        }
        var version: Int32 = 0
        let status = getVersion(&version)
        guard status == 0 else {
            throw .driver(call: "cuDriverGetVersion", result: Self.resultCode(status, symbols))
        }
        self.version = Int(version)
        guard self.version >= Self.requiredVersion else {
            throw .driverTooOld(version: self.version, required: Self.requiredVersion)
        }
        guard let initialize = symbols.cuInit else { throw .symbolNotFound(library: library.path, symbol: "cuInit") }
        let initialized = initialize(0)
        if initialized == CUDAResultCode.noDevice {
            throw .noDevice(reason: "cuInit reports CUDA_ERROR_NO_DEVICE (no NVIDIA GPU visible; check CUDA_VISIBLE_DEVICES)")
        }
        guard initialized == 0 else { throw .driver(call: "cuInit(0)", result: Self.resultCode(initialized, symbols)) }
    }

    // MARK: checking

    private static func resultCode(_ code: CUresult, _ symbols: DriverSymbols) -> CUDAResultCode {
        var name: UnsafePointer<CChar>?
        if let getName = symbols.cuGetErrorName, getName(code, &name) == 0, let name {
            return CUDAResultCode(rawValue: code, name: String(cString: name))
        }
        return CUDAResultCode(rawValue: code, name: "CUDA error \(code)")
    }

    /// The result code with its `cuGetErrorName` name.
    public func resultCode(_ code: CUresult) -> CUDAResultCode { Self.resultCode(code, symbols) }

    /// Throws unless `result` is CUDA_SUCCESS; `call` is only formatted on failure.
    @inline(__always)
    func check(_ result: CUresult, _ call: @autoclosure () -> String) throws(CUDAError) {
        guard result == 0 else { throw .driver(call: call(), result: resultCode(result)) }
    }

    /// The entry point, or the symbol-not-found error.
    @inline(__always)
    func require<F>(_ function: F?, _ name: StaticString) throws(CUDAError) -> F {
        guard let function else { throw .symbolNotFound(library: library.path, symbol: "\(name)") }
        return function
    }

    // MARK: devices

    public func deviceCount() throws(CUDAError) -> Int {
        var count: Int32 = 0
        try check(require(symbols.cuDeviceGetCount, "cuDeviceGetCount")(&count), "cuDeviceGetCount")
        return Int(count)
    }

    public func device(ordinal: Int) throws(CUDAError) -> CUdevice {
        var device: CUdevice = 0
        try check(require(symbols.cuDeviceGet, "cuDeviceGet")(&device, Int32(ordinal)), "cuDeviceGet(\(ordinal))")
        return device
    }

    public func deviceName(_ device: CUdevice) throws(CUDAError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let get = try require(symbols.cuDeviceGetName, "cuDeviceGetName")
        try check(get(&buffer, Int32(buffer.count - 1), device), "cuDeviceGetName(\(device))")
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `cuDeviceGetAttribute`; `attribute` is a `CU_DEVICE_ATTRIBUTE_*` value (CCUDA_DEVICE_ATTRIBUTE_*).
    public func deviceAttribute(_ attribute: Int, _ device: CUdevice) throws(CUDAError) -> Int {
        var value: Int32 = 0
        let get = try require(symbols.cuDeviceGetAttribute, "cuDeviceGetAttribute")
        try check(get(&value, CUdevice_attribute(attribute), device), "cuDeviceGetAttribute(\(attribute), device \(device))")
        return Int(value)
    }

    public func deviceTotalMemory(_ device: CUdevice) throws(CUDAError) -> Int {
        var bytes = 0
        try check(require(symbols.cuDeviceTotalMem, "cuDeviceTotalMem_v2")(&bytes, device), "cuDeviceTotalMem_v2(\(device))")
        return bytes
    }

    // MARK: contexts

    public func retainPrimaryContext(_ device: CUdevice) throws(CUDAError) -> CUcontext {
        var context: CUcontext?
        let retain = try require(symbols.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
        try check(retain(&context, device), "cuDevicePrimaryCtxRetain(device \(device))")
        guard let context else {
            throw .driver(call: "cuDevicePrimaryCtxRetain(device \(device)) returned no context",
                          result: resultCode(1))
        }
        return context
    }

    public func releasePrimaryContext(_ device: CUdevice) throws(CUDAError) {
        let release = try require(symbols.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")
        try check(release(device), "cuDevicePrimaryCtxRelease_v2(device \(device))")
    }

    public func setCurrent(_ context: CUcontext?) throws(CUDAError) {
        try check(require(symbols.cuCtxSetCurrent, "cuCtxSetCurrent")(context), "cuCtxSetCurrent")
    }

    public func currentContext() throws(CUDAError) -> CUcontext? {
        var context: CUcontext?
        try check(require(symbols.cuCtxGetCurrent, "cuCtxGetCurrent")(&context), "cuCtxGetCurrent")
        return context
    }

    public func synchronizeContext() throws(CUDAError) {
        try check(require(symbols.cuCtxSynchronize, "cuCtxSynchronize")(), "cuCtxSynchronize")
    }

    /// Free and total memory of the current context's device.
    public func memoryInfo() throws(CUDAError) -> (free: Int, total: Int) {
        var free = 0, total = 0
        try check(require(symbols.cuMemGetInfo, "cuMemGetInfo_v2")(&free, &total), "cuMemGetInfo_v2")
        return (free, total)
    }

    // MARK: memory

    /// `cuMemAlloc_v2`; the raw result so the allocator can react to CUDA_ERROR_OUT_OF_MEMORY.
    func tryAllocate(_ byteCount: Int) throws(CUDAError) -> (CUresult, CUdeviceptr) {
        var pointer: CUdeviceptr = 0
        let result = try require(symbols.cuMemAlloc, "cuMemAlloc_v2")(&pointer, byteCount)
        return (result, pointer)
    }

    public func allocate(_ byteCount: Int) throws(CUDAError) -> CUdeviceptr {
        let (result, pointer) = try tryAllocate(byteCount)
        try check(result, "cuMemAlloc_v2(\(byteCount) bytes)")
        return pointer
    }

    public func free(_ pointer: CUdeviceptr) throws(CUDAError) {
        try check(require(symbols.cuMemFree, "cuMemFree_v2")(pointer), "cuMemFree_v2(0x\(String(pointer, radix: 16)))")
    }

    /// Page-locked host memory (fast, truly asynchronous copies).
    public func allocateHost(_ byteCount: Int) throws(CUDAError) -> UnsafeMutableRawPointer {
        var pointer: UnsafeMutableRawPointer?
        try check(require(symbols.cuMemAllocHost, "cuMemAllocHost_v2")(&pointer, byteCount), "cuMemAllocHost_v2(\(byteCount) bytes)")
        guard let pointer else { throw .driver(call: "cuMemAllocHost_v2(\(byteCount) bytes)", result: resultCode(2)) }
        return pointer
    }

    public func freeHost(_ pointer: UnsafeMutableRawPointer) throws(CUDAError) {
        try check(require(symbols.cuMemFreeHost, "cuMemFreeHost")(pointer), "cuMemFreeHost")
    }

    /// Host → device; synchronous when `stream` is nil, else queued on the stream.
    public func copyHostToDevice(
        _ destination: CUdeviceptr, _ source: UnsafeRawPointer, _ byteCount: Int, stream: CUstream?
    ) throws(CUDAError) {
        if let stream {
            try check(require(symbols.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2")(destination, source, byteCount, stream),
                      "cuMemcpyHtoDAsync_v2(\(byteCount) bytes)")
        } else {
            try check(require(symbols.cuMemcpyHtoD, "cuMemcpyHtoD_v2")(destination, source, byteCount),
                      "cuMemcpyHtoD_v2(\(byteCount) bytes)")
        }
    }

    /// Host → device queued on `stream` (nil: the legacy default stream), returning at once when
    /// `source` is page-locked; `source` must stay unchanged until the stream has run the copy.
    public func queueHostToDevice(
        _ destination: CUdeviceptr, _ source: UnsafeRawPointer, _ byteCount: Int, stream: CUstream?
    ) throws(CUDAError) {
        try check(require(symbols.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2")(destination, source, byteCount, stream),
                  "cuMemcpyHtoDAsync_v2(\(byteCount) bytes)")
    }

    /// Device → host; synchronous when `stream` is nil, else queued on the stream.
    public func copyDeviceToHost(
        _ destination: UnsafeMutableRawPointer, _ source: CUdeviceptr, _ byteCount: Int, stream: CUstream?
    ) throws(CUDAError) {
        if let stream {
            try check(require(symbols.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2")(destination, source, byteCount, stream),
                      "cuMemcpyDtoHAsync_v2(\(byteCount) bytes)")
        } else {
            try check(require(symbols.cuMemcpyDtoH, "cuMemcpyDtoH_v2")(destination, source, byteCount),
                      "cuMemcpyDtoH_v2(\(byteCount) bytes)")
        }
    }

    /// Device → device; ordered on the legacy default stream when `stream` is nil.
    public func copyDeviceToDevice(
        _ destination: CUdeviceptr, _ source: CUdeviceptr, _ byteCount: Int, stream: CUstream?
    ) throws(CUDAError) {
        if let stream {
            try check(require(symbols.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2")(destination, source, byteCount, stream),
                      "cuMemcpyDtoDAsync_v2(\(byteCount) bytes)")
        } else {
            try check(require(symbols.cuMemcpyDtoD, "cuMemcpyDtoD_v2")(destination, source, byteCount),
                      "cuMemcpyDtoD_v2(\(byteCount) bytes)")
        }
    }

    /// Sets `count` bytes to `value`.
    public func memset8(_ destination: CUdeviceptr, _ value: UInt8, count: Int, stream: CUstream?) throws(CUDAError) {
        if let stream {
            try check(require(symbols.cuMemsetD8Async, "cuMemsetD8Async")(destination, value, count, stream),
                      "cuMemsetD8Async(\(count) bytes)")
        } else {
            try check(require(symbols.cuMemsetD8, "cuMemsetD8_v2")(destination, value, count), "cuMemsetD8_v2(\(count) bytes)")
        }
    }

    /// Sets `count` 16-bit words to `value` (the destination must be 2-byte aligned).
    public func memset16(_ destination: CUdeviceptr, _ value: UInt16, count: Int, stream: CUstream?) throws(CUDAError) {
        if let stream {
            try check(require(symbols.cuMemsetD16Async, "cuMemsetD16Async")(destination, value, count, stream),
                      "cuMemsetD16Async(\(count) words)")
        } else {
            try check(require(symbols.cuMemsetD16, "cuMemsetD16_v2")(destination, value, count), "cuMemsetD16_v2(\(count) words)")
        }
    }

    /// Sets `count` 32-bit words to `value` (the destination must be 4-byte aligned).
    public func memset32(_ destination: CUdeviceptr, _ value: UInt32, count: Int, stream: CUstream?) throws(CUDAError) {
        if let stream {
            try check(require(symbols.cuMemsetD32Async, "cuMemsetD32Async")(destination, value, count, stream),
                      "cuMemsetD32Async(\(count) words)")
        } else {
            try check(require(symbols.cuMemsetD32, "cuMemsetD32_v2")(destination, value, count), "cuMemsetD32_v2(\(count) words)")
        }
    }

    // MARK: streams and events

    public func createStream(flags: UInt32) throws(CUDAError) -> CUstream {
        var stream: CUstream?
        try check(require(symbols.cuStreamCreate, "cuStreamCreate")(&stream, flags), "cuStreamCreate(flags \(flags))")
        guard let stream else { throw .driver(call: "cuStreamCreate returned no stream", result: resultCode(1)) }
        return stream
    }

    public func destroyStream(_ stream: CUstream) throws(CUDAError) {
        try check(require(symbols.cuStreamDestroy, "cuStreamDestroy_v2")(stream), "cuStreamDestroy_v2")
    }

    /// Waits for the stream (nil: the legacy default stream).
    public func synchronizeStream(_ stream: CUstream?) throws(CUDAError) {
        try check(require(symbols.cuStreamSynchronize, "cuStreamSynchronize")(stream), "cuStreamSynchronize")
    }

    /// Whether all work queued on the stream has finished.
    public func queryStream(_ stream: CUstream?) throws(CUDAError) -> Bool {
        let result = try require(symbols.cuStreamQuery, "cuStreamQuery")(stream)
        if result == CUDAResultCode.notReady { return false }
        try check(result, "cuStreamQuery")
        return true
    }

    public func streamWait(_ stream: CUstream?, for event: CUevent) throws(CUDAError) {
        try check(require(symbols.cuStreamWaitEvent, "cuStreamWaitEvent")(stream, event, 0), "cuStreamWaitEvent")
    }

    public func createEvent(flags: UInt32) throws(CUDAError) -> CUevent {
        var event: CUevent?
        try check(require(symbols.cuEventCreate, "cuEventCreate")(&event, flags), "cuEventCreate(flags \(flags))")
        guard let event else { throw .driver(call: "cuEventCreate returned no event", result: resultCode(1)) }
        return event
    }

    public func destroyEvent(_ event: CUevent) throws(CUDAError) {
        try check(require(symbols.cuEventDestroy, "cuEventDestroy_v2")(event), "cuEventDestroy_v2")
    }

    public func recordEvent(_ event: CUevent, on stream: CUstream?) throws(CUDAError) {
        try check(require(symbols.cuEventRecord, "cuEventRecord")(event, stream), "cuEventRecord")
    }

    public func synchronizeEvent(_ event: CUevent) throws(CUDAError) {
        try check(require(symbols.cuEventSynchronize, "cuEventSynchronize")(event), "cuEventSynchronize")
    }

    public func queryEvent(_ event: CUevent) throws(CUDAError) -> Bool {
        let result = try require(symbols.cuEventQuery, "cuEventQuery")(event)
        if result == CUDAResultCode.notReady { return false }
        try check(result, "cuEventQuery")
        return true
    }

    /// Milliseconds between two recorded, completed events.
    public func elapsedTime(from start: CUevent, to end: CUevent) throws(CUDAError) -> Float {
        var milliseconds: Float = 0
        try check(require(symbols.cuEventElapsedTime, "cuEventElapsedTime_v2")(&milliseconds, start, end), "cuEventElapsedTime")
        return milliseconds
    }

    // MARK: modules and kernels

    /// Loads a CUBIN, fatbin or NUL-terminated PTX image into the current context.
    public func loadModule(_ image: UnsafeRawPointer, description: @autoclosure () -> String) throws(CUDAError) -> CUmodule {
        var module: CUmodule?
        try check(require(symbols.cuModuleLoadData, "cuModuleLoadData")(&module, image), "cuModuleLoadData(\(description()))")
        guard let module else { throw .driver(call: "cuModuleLoadData returned no module", result: resultCode(1)) }
        return module
    }

    public func unloadModule(_ module: CUmodule) throws(CUDAError) {
        try check(require(symbols.cuModuleUnload, "cuModuleUnload")(module), "cuModuleUnload")
    }

    public func function(named name: String, in module: CUmodule) throws(CUDAError) -> CUfunction {
        var function: CUfunction?
        try check(require(symbols.cuModuleGetFunction, "cuModuleGetFunction")(&function, module, name),
                  "cuModuleGetFunction(\"\(name)\")")
        guard let function else { throw .driver(call: "cuModuleGetFunction(\"\(name)\") returned nothing", result: resultCode(500)) }
        return function
    }

    /// `cuFuncSetAttribute`; `attribute` is a `CU_FUNC_ATTRIBUTE_*` value.
    public func setFunctionAttribute(_ function: CUfunction, _ attribute: Int, _ value: Int) throws(CUDAError) {
        try check(require(symbols.cuFuncSetAttribute, "cuFuncSetAttribute")(function, CUfunction_attribute(attribute), Int32(value)),
                  "cuFuncSetAttribute(\(attribute), \(value))")
    }

    public func functionAttribute(_ function: CUfunction, _ attribute: Int) throws(CUDAError) -> Int {
        var value: Int32 = 0
        try check(require(symbols.cuFuncGetAttribute, "cuFuncGetAttribute")(&value, CUfunction_attribute(attribute), function),
                  "cuFuncGetAttribute(\(attribute))")
        return Int(value)
    }

    /// `cuLaunchKernel`: `parameters` points to one pointer per kernel argument, each pointing
    /// to the argument's value.
    public func launch(
        _ function: CUfunction, grid: Dim3, block: Dim3, sharedMemoryBytes: Int, stream: CUstream?,
        parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, name: @autoclosure () -> String
    ) throws(CUDAError) {
        let launch = try require(symbols.cuLaunchKernel, "cuLaunchKernel")
        try check(
            launch(function, grid.x, grid.y, grid.z, block.x, block.y, block.z, UInt32(sharedMemoryBytes), stream,
                   parameters, nil),
            "cuLaunchKernel(\(name()), grid \(grid), block \(block), shared \(sharedMemoryBytes) bytes)")
    }
}

/// A grid or block size.
///
///     try stream.launch(f, grid: Dim3(x: blocks), block: 256, arguments: args)
public struct Dim3: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var x: UInt32, y: UInt32, z: UInt32
    public init(x: Int, y: Int = 1, z: Int = 1) {
        self.x = UInt32(clamping: x)
        self.y = UInt32(clamping: y)
        self.z = UInt32(clamping: z)
    }
    public init(integerLiteral value: Int) { self.init(x: value) }
    public var description: String { "(\(x), \(y), \(z))" }
}
