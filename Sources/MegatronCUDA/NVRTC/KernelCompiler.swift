import Foundation
import MegatronTensor

/// A kernel compiled by NVRTC (or read back from the disk cache).
public struct CompiledKernel: Sendable {
    public enum Format: String, Sendable {
        /// Machine code for one architecture.
        case cubin
        /// NUL-terminated PTX, compiled by the driver at load time (for GPUs newer than NVRTC).
        case ptx

        var code: UInt8 { self == .cubin ? 1 : 2 }
        init?(code: UInt8) {
            switch code {
            case 1: self = .cubin
            case 2: self = .ptx
            default: return nil
            }
        }
    }

    /// The program name given to NVRTC (appears in errors and logs).
    public let name: String
    public let image: [UInt8]
    public let format: Format
    /// The target compiled for: `sm_90`, or `compute_XX` for the PTX fallback.
    public let target: String
    /// The full option list passed to NVRTC.
    public let options: [String]
    /// The SHA-256 key of (source, options, architecture, NVRTC version).
    public let cacheKey: String
    /// Whether the image came from the disk cache.
    public let fromCache: Bool
    /// The compiler log (warnings); empty on a cache hit.
    public let log: String
}

/// Compiles CUDA C++ with NVRTC for one GPU architecture, through the disk cache.
///
/// Options always given: `--gpu-architecture=sm_XX`, `-std=c++17`, `-default-device`;
/// `--use_fast_math` only when asked. When NVRTC does not know the architecture (a GPU newer
/// than the library), the newest architecture NVRTC knows is compiled to PTX instead and the
/// driver finishes the job.
///
/// Kernels should be `extern "C" __global__` so that their names are not mangled.
///
///     let compiler = try KernelCompiler.shared()
///     let kernel = try compiler.compile(source: source, name: "adamw", architecture: device.architecture)
///     let module = try context.loadModule(image: kernel.image, name: kernel.name)
public struct KernelCompiler: Sendable {
    public let nvrtc: NVRTC
    public let cache: KernelCache?

    public init(nvrtc: NVRTC, cache: KernelCache? = KernelCache.fromEnvironment()) {
        self.nvrtc = nvrtc
        self.cache = cache
    }

    /// The process-wide NVRTC with the environment's cache.
    public static func shared() throws(CUDAError) -> KernelCompiler {
        KernelCompiler(nvrtc: try NVRTC.shared())
    }

    /// The target and output format for `architecture`.
    public func target(for architecture: GPUArchitecture) -> (name: String, format: CompiledKernel.Format) {
        let known = nvrtc.supportedArchitectures
        if known.isEmpty || known.contains(architecture.number) {
            return (architecture.realName, .cubin)
        }
        // Newer than NVRTC knows: PTX for the newest architecture it knows that is not newer.
        let fallback = known.last { $0 <= architecture.number } ?? known[known.count - 1]
        return ("compute_\(fallback)", .ptx)
    }

    /// The full NVRTC option list for a compilation.
    public func options(for architecture: GPUArchitecture, extra: [String] = [], fastMath: Bool = false) -> [String] {
        var options = ["--gpu-architecture=\(target(for: architecture).name)", "-std=c++17", "-default-device"]
        if fastMath { options.append("--use_fast_math") }
        return options + extra
    }

    /// The cache key: SHA-256 of (name, source, options, target, NVRTC version).
    public func cacheKey(source: String, name: String, options: [String]) -> String {
        var hasher = SHA256()
        hasher.update("swift-megatron kernel cache v1\u{0}")
        hasher.update("nvrtc \(nvrtc.version)\u{0}")
        hasher.update(name + "\u{0}")
        for option in options { hasher.update(option + "\u{1}") }
        hasher.update("\u{0}")
        hasher.update(source)
        return SHA256.hexString(hasher.finalize())
    }

    /// Compiles `source` (program `name`) for `architecture`, or reads it from the cache.
    /// A source error throws ``CUDAError/compilation(kernel:architecture:options:log:)``.
    public func compile(
        source: String, name: String, architecture: GPUArchitecture, options extra: [String] = [],
        fastMath: Bool = false
    ) throws(CUDAError) -> CompiledKernel {
        let (target, format) = target(for: architecture)
        let options = options(for: architecture, extra: extra, fastMath: fastMath)
        let key = cacheKey(source: source, name: name, options: options)
        if let cached = cache?.load(key: key), cached.format == format {
            return CompiledKernel(name: name, image: cached.image, format: format, target: target, options: options,
                                  cacheKey: key, fromCache: true, log: "")
        }
        let output: NVRTC.Output
        do throws(CUDAError) {
            output = try nvrtc.compile(source: source, name: name, options: options, wantCUBIN: format == .cubin)
        } catch let .compilation(kernel, arch, used, log) where Self.isMissingHeader(log) && !nvrtc.includeDirectories.isEmpty {
            // An NVRTC without built-in CUDA headers: point it at the ones shipped beside it.
            let withIncludes = used + nvrtc.includeDirectories.map { "-I\($0)" }
            do throws(CUDAError) {
                output = try nvrtc.compile(source: source, name: name, options: withIncludes, wantCUBIN: format == .cubin)
            } catch .compilation(_, _, _, let secondLog) {
                throw .compilation(kernel: kernel, architecture: arch, options: withIncludes, log: secondLog)
            }
        }
        cache?.store(key: key, format: format, image: output.image)
        return CompiledKernel(name: name, image: output.image, format: format, target: target, options: options,
                              cacheKey: key, fromCache: false, log: output.log)
    }

    static func isMissingHeader(_ log: String) -> Bool {
        log.contains("open source file") || log.contains("file not found")
    }
}
