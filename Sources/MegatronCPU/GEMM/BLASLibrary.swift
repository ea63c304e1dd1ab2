#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A system BLAS loaded at run time, so the package builds and runs without one.
/// Order: `MEGATRON_BLAS_LIBRARY`, then OpenBLAS, BLIS, MKL, the reference `libblas`.
/// `MEGATRON_BLAS=none` disables it.
struct BLASLibrary: @unchecked Sendable {
    // Sendable: the handle and function pointer are immutable after loading.
    typealias SGEMM = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float,
        UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
        UnsafeMutablePointer<Float>?, Int32
    ) -> Void

    let sgemm: SGEMM
    let description: String

    static let shared: BLASLibrary? = load()

    static let candidates = [
        "libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libmkl_rt.so", "libblas.so.3",
        "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
    ]

    private static func load() -> BLASLibrary? {
        let env = ProcessInfo.processInfo.environment
        if env["MEGATRON_BLAS"]?.lowercased() == "none" { return nil }
        let names = (env["MEGATRON_BLAS_LIBRARY"].map { [$0] } ?? []) + candidates
        for name in names {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let symbol = dlsym(handle, "cblas_sgemm") else {
                dlclose(handle)
                continue
            }
            var description = name
            if let config = dlsym(handle, "openblas_get_config") {
                typealias GetConfig = @convention(c) () -> UnsafePointer<CChar>?
                if let text = unsafeBitCast(config, to: GetConfig.self)() {
                    description = "\(String(cString: text)) (\(name))"
                }
            }
            return BLASLibrary(sgemm: unsafeBitCast(symbol, to: SGEMM.self), description: description)
        }
        return nil
    }
}
