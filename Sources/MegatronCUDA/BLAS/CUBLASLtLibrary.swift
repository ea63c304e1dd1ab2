import CCUDA

/// Layer 1: the raw cuBLASLt entry points, each resolved on its own.
struct CUBLASLtSymbols: @unchecked Sendable {
    // Sendable: C function pointers are immutable code addresses.
    let cublasLtGetVersion: PFN_cublasLtGetVersion?
    let cublasLtGetStatusName: PFN_cublasLtGetStatusName?
    let cublasLtCreate: PFN_cublasLtCreate?
    let cublasLtDestroy: PFN_cublasLtDestroy?
    let cublasLtMatmulDescCreate: PFN_cublasLtMatmulDescCreate?
    let cublasLtMatmulDescDestroy: PFN_cublasLtMatmulDescDestroy?
    let cublasLtMatmulDescSetAttribute: PFN_cublasLtMatmulDescSetAttribute?
    let cublasLtMatrixLayoutCreate: PFN_cublasLtMatrixLayoutCreate?
    let cublasLtMatrixLayoutDestroy: PFN_cublasLtMatrixLayoutDestroy?
    let cublasLtMatrixLayoutSetAttribute: PFN_cublasLtMatrixLayoutSetAttribute?
    let cublasLtMatmulPreferenceCreate: PFN_cublasLtMatmulPreferenceCreate?
    let cublasLtMatmulPreferenceDestroy: PFN_cublasLtMatmulPreferenceDestroy?
    let cublasLtMatmulPreferenceSetAttribute: PFN_cublasLtMatmulPreferenceSetAttribute?
    let cublasLtMatmulAlgoGetHeuristic: PFN_cublasLtMatmulAlgoGetHeuristic?
    let cublasLtMatmul: PFN_cublasLtMatmul?
    let missing: [String]

    init(_ library: DynamicLibrary) {
        var resolve = SymbolResolver(library)
        cublasLtGetVersion = resolve("cublasLtGetVersion")
        cublasLtGetStatusName = resolve("cublasLtGetStatusName")
        cublasLtCreate = resolve("cublasLtCreate")
        cublasLtDestroy = resolve("cublasLtDestroy")
        cublasLtMatmulDescCreate = resolve("cublasLtMatmulDescCreate")
        cublasLtMatmulDescDestroy = resolve("cublasLtMatmulDescDestroy")
        cublasLtMatmulDescSetAttribute = resolve("cublasLtMatmulDescSetAttribute")
        cublasLtMatrixLayoutCreate = resolve("cublasLtMatrixLayoutCreate")
        cublasLtMatrixLayoutDestroy = resolve("cublasLtMatrixLayoutDestroy")
        cublasLtMatrixLayoutSetAttribute = resolve("cublasLtMatrixLayoutSetAttribute")
        cublasLtMatmulPreferenceCreate = resolve("cublasLtMatmulPreferenceCreate")
        cublasLtMatmulPreferenceDestroy = resolve("cublasLtMatmulPreferenceDestroy")
        cublasLtMatmulPreferenceSetAttribute = resolve("cublasLtMatmulPreferenceSetAttribute")
        cublasLtMatmulAlgoGetHeuristic = resolve("cublasLtMatmulAlgoGetHeuristic")
        cublasLtMatmul = resolve("cublasLtMatmul")
        missing = resolve.missing
    }
}

/// Layer 2: the loaded cuBLASLt library with checked calls. Needs no GPU to load (so `doctor`
/// can report its version anywhere); ``CUBLASLt`` is the per-context owner of a handle.
///
///     let lt = try CUBLASLtLibrary.shared()
///     print(lt.versionString)  // "13.4.1"
public final class CUBLASLtLibrary: Sendable {
    public let library: DynamicLibrary
    let symbols: CUBLASLtSymbols
    /// `cublasLtGetVersion`: major·10000 + minor·100 + patch (130401 for 13.4.1).
    public let version: Int

    public var versionString: String { "\(version / 10000).\(version % 10000 / 100).\(version % 100)" }
    /// Entry points this library lacks.
    public var missingSymbols: [String] { symbols.missing }

    private static let sharedResult: Result<CUBLASLtLibrary, CUDAError> = Result { () throws(CUDAError) in
        try CUBLASLtLibrary(library: CUDALibraries.report(for: .cublasLt).get())
    }

    /// The process-wide library, loaded once.
    public static func shared() throws(CUDAError) -> CUBLASLtLibrary { try sharedResult.get() }

    /// `library`, or the shared one when nil.
    static func given(_ library: CUBLASLtLibrary?) throws(CUDAError) -> CUBLASLtLibrary {
        if let library { return library }
        return try shared()
    }

    /// The library found with a custom search; not cached.
    public static func load(search: LibrarySearch) throws(CUDAError) -> CUBLASLtLibrary {
        try CUBLASLtLibrary(library: search.load(.cublasLt).get())
    }

    init(library: DynamicLibrary) throws(CUDAError) {
        self.library = library
        symbols = CUBLASLtSymbols(library)
        guard let getVersion = symbols.cublasLtGetVersion else {
            throw .symbolNotFound(library: library.path, symbol: "cublasLtGetVersion")
        }
        version = getVersion()
    }

    /// The status with its name (`CUBLAS_STATUS_NOT_SUPPORTED`).
    public func status(_ code: cublasStatus_t) -> CUBLASStatus {
        if let getName = symbols.cublasLtGetStatusName, let name = getName(code) {
            return CUBLASStatus(rawValue: code, name: String(cString: name))
        }
        return CUBLASStatus(rawValue: code, name: CUBLASStatus.fallbackName(code))
    }

    @inline(__always)
    func check(_ code: cublasStatus_t, _ call: @autoclosure () -> String) throws(CUDAError) {
        guard code == 0 else { throw .cublas(call: call(), status: status(code)) }
    }

    @inline(__always)
    func require<F>(_ function: F?, _ name: StaticString) throws(CUDAError) -> F {
        guard let function else { throw .symbolNotFound(library: library.path, symbol: "\(name)") }
        return function
    }
}
