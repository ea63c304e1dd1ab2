import CCUDA

/// A loaded CUBIN/PTX module; unloaded when the last reference (including its functions) goes.
///
///     let module = try context.loadModule(image: compiled.image, name: "add")
///     let add = try module.function(named: "add_bf16")
public final class CUDAModule: @unchecked Sendable {
    // Sendable: the handle is immutable; module and function queries are thread-safe.
    public let context: CUDAContext
    let handle: CUmodule
    /// The name given at load time (for error messages).
    public let name: String

    init(context: CUDAContext, image: [UInt8], name: String) throws(CUDAError) {
        guard !image.isEmpty else { throw .invalidArgument(op: "loadModule(\(name))", message: "empty image") }
        self.context = context
        self.name = name
        try context.makeCurrent()
        handle = try rethrowingCUDAError {
            try image.withUnsafeBytes { bytes -> CUmodule in
                guard let base = bytes.baseAddress else {
                    throw CUDAError.invalidArgument(op: "loadModule(\(name))", message: "empty image")
                }
                return try context.driver.loadModule(base, description: "\(name), \(image.count) bytes")
            }
        }
    }

    deinit {
        try? context.makeCurrent()
        try? context.driver.unloadModule(handle)
    }

    /// The `extern "C"` kernel `name` of this module.
    public func function(named name: String) throws(CUDAError) -> CUDAFunction {
        try context.makeCurrent()
        return CUDAFunction(module: self, handle: try context.driver.function(named: name, in: handle), name: name)
    }
}

/// A kernel of a loaded module; keeps its module alive.
public struct CUDAFunction: @unchecked Sendable {
    // Sendable: an immutable handle plus a Sendable module reference.
    public let module: CUDAModule
    let handle: CUfunction
    public let name: String

    /// Allows `bytes` of dynamic shared memory per block (needed above 48 KiB).
    public func setMaxDynamicSharedMemory(_ bytes: Int) throws(CUDAError) {
        try module.context.makeCurrent()
        try module.context.driver.setFunctionAttribute(handle, Int(CCUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), bytes)
    }

    /// Registers used per thread.
    public func registerCount() throws(CUDAError) -> Int {
        try module.context.driver.functionAttribute(handle, Int(CCUDA_FUNC_ATTRIBUTE_NUM_REGS))
    }

    /// The largest block this kernel can be launched with.
    public func maxThreadsPerBlock() throws(CUDAError) -> Int {
        try module.context.driver.functionAttribute(handle, Int(CCUDA_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK))
    }
}
