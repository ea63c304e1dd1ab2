#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MegatronTensor

/// `cblas_sgemm` of a system BLAS, found with `dlopen` at first use so that the package neither
/// links against nor requires one.
///
///     if let blas = BLASLibrary.shared { blas.sgemm(BLASLibrary.rowMajor, …) }
struct BLASLibrary: Sendable {
    typealias SGEMM = @convention(c) (
        _ order: Int32, _ transA: Int32, _ transB: Int32, _ m: Int32, _ n: Int32, _ k: Int32,
        _ alpha: Float, _ a: UnsafePointer<Float>?, _ lda: Int32, _ b: UnsafePointer<Float>?, _ ldb: Int32,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>?, _ ldc: Int32
    ) -> Void

    // CBLAS enum values, fixed by the CBLAS standard header.
    static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    let sgemm: SGEMM
    /// What was loaded and from where, e.g. "OpenBLAS 0.3.21 … (/usr/lib/…/libopenblas.so.0)".
    let description: String

    /// The library loaded at first use, or nil when none was found or `MEGATRON_BLAS=none`.
    /// A `static let` is initialised once, thread-safely.
    static let shared: BLASLibrary? = load(environment: ProcessInfo.processInfo.environment)

    /// Libraries tried in order: an explicit `MEGATRON_BLAS_LIBRARY` first, then the common
    /// system ones. Reference BLAS (`libblas.so.3`) comes last: it is slow, and when it is
    /// netlib's it lacks the CBLAS symbols anyway.
    static func candidates(environment: [String: String]) -> [String] {
        var names: [String] = []
        if let explicit = environment["MEGATRON_BLAS_LIBRARY"], !explicit.isEmpty { names.append(explicit) }
        #if canImport(Darwin)
        names.append("/System/Library/Frameworks/Accelerate.framework/Accelerate")
        #endif
        names += ["libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libmkl_rt.so", "libblas.so.3"]
        return names
    }

    static func load(environment: [String: String]) -> BLASLibrary? {
        if environment["MEGATRON_BLAS"]?.lowercased() == "none" { return nil }
        for name in candidates(environment: environment) {
            if let library = open(name) { return library }
        }
        return nil
    }

    private static func open(_ name: String) -> BLASLibrary? {
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { return nil }
        guard let symbol = dlsym(handle, "cblas_sgemm") else {
            dlclose(handle)
            return nil
        }
        // The handle is never closed: `sgemm` must stay valid for the life of the process.
        let path = loadedLibraryPath(containing: symbol) ?? name
        // One BLAS thread per call: `CPUGEMM` splits large products across cores itself, so
        // OpenBLAS's own pool does not spin (sched_yield) while the other ops run on our threads.
        if let setThreads = dlsym(handle, "openblas_set_num_threads") {
            typealias SetThreads = @convention(c) (Int32) -> Void
            unsafeBitCast(setThreads, to: SetThreads.self)(1)
        }
        return BLASLibrary(
            sgemm: unsafeBitCast(symbol, to: SGEMM.self),
            description: "\(version(handle) ?? "BLAS") (\(path))")
    }

    /// The library's own version string, for the libraries that export one.
    private static func version(_ handle: UnsafeMutableRawPointer) -> String? {
        typealias CString = @convention(c) () -> UnsafePointer<CChar>?
        for getter in ["openblas_get_config", "bli_info_get_version_str"] {
            guard let symbol = dlsym(handle, getter), let text = unsafeBitCast(symbol, to: CString.self)() else { continue }
            let version = String(cString: text)
            return getter.hasPrefix("bli_") ? "BLIS \(version)" : version
        }
        return nil
    }
}
