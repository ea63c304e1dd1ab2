import Synchronization

/// Compiled-and-loaded kernels of one context, kept in memory: each (source, name, options)
/// is compiled (or read from the disk cache) and loaded once.
///
///     let kernels = ModuleCache(context: context, compiler: try .shared())
///     let add = try kernels.function("add_f32", source: elementwiseSource, name: "elementwise")
///     try stream.launch(add, grid: Dim3(x: blocks), block: 256, arguments: args)
public final class ModuleCache: Sendable {
    public let context: CUDAContext
    public let compiler: KernelCompiler
    /// The architecture compiled for (the device's own unless given).
    public let architecture: GPUArchitecture

    private struct Key: Hashable {
        let source: String
        let name: String
        let options: [String]
        let fastMath: Bool
    }

    private let modules = Mutex<[Key: CUDAModule]>([:])

    public init(context: CUDAContext, compiler: KernelCompiler, architecture: GPUArchitecture? = nil) {
        self.context = context
        self.compiler = compiler
        self.architecture = architecture ?? context.device.architecture
    }

    /// The loaded module for `source`, compiling and loading it on first use.
    public func module(source: String, name: String, options: [String] = [], fastMath: Bool = false) throws(CUDAError) -> CUDAModule {
        let key = Key(source: source, name: name, options: options, fastMath: fastMath)
        if let module = modules.withLock({ $0[key] }) { return module }
        // Compile outside the lock: another thread may do the same, the first insert wins.
        let kernel = try compiler.compile(source: source, name: name, architecture: architecture,
                                          options: options, fastMath: fastMath)
        let module = try context.loadModule(image: kernel.image, name: name)
        return modules.withLock { modules in
            if let existing = modules[key] { return existing }
            modules[key] = module
            return module
        }
    }

    /// Kernel `function` of the module built from `source`.
    public func function(
        _ function: String, source: String, name: String, options: [String] = [], fastMath: Bool = false
    ) throws(CUDAError) -> CUDAFunction {
        try module(source: source, name: name, options: options, fastMath: fastMath).function(named: function)
    }

    /// Number of modules loaded.
    public var count: Int { modules.withLock { $0.count } }
}
