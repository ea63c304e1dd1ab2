import Foundation

/// The process-wide result of looking for each CUDA library, computed once at first use with the
/// process environment. Each library loads independently: NVRTC can be present without a driver
/// (compiling kernels on a machine without a GPU), cuBLASLt without NCCL, and so on.
///
///     if let nvrtc = CUDALibraries.report(for: .nvrtc).loaded { print(nvrtc.path) }
public enum CUDALibraries {
    // `static let`s initialise once, thread-safely.
    private static let driver = LibrarySearch().load(.driver)
    private static let nvrtc = LibrarySearch().load(.nvrtc)
    private static let cublasLt = LibrarySearch().load(.cublasLt)
    private static let nccl = LibrarySearch().load(.nccl)

    /// The search result for `library` (loading it on first call).
    public static func report(for library: CUDALibrary) -> LibraryLoadReport {
        switch library {
        case .driver: driver
        case .nvrtc: nvrtc
        case .cublasLt: cublasLt
        case .nccl: nccl
        }
    }
}
