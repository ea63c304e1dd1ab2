#if canImport(Glibc)
import Glibc
#endif
import CCUDA
import Foundation

/// Layer 1: the raw NVRTC entry points, each resolved on its own.
struct NVRTCSymbols: @unchecked Sendable {
    // Sendable: C function pointers are immutable code addresses.
    let nvrtcGetErrorString: PFN_nvrtcGetErrorString?
    let nvrtcVersion: PFN_nvrtcVersion?
    let nvrtcGetNumSupportedArchs: PFN_nvrtcGetNumSupportedArchs?
    let nvrtcGetSupportedArchs: PFN_nvrtcGetSupportedArchs?
    let nvrtcCreateProgram: PFN_nvrtcCreateProgram?
    let nvrtcDestroyProgram: PFN_nvrtcDestroyProgram?
    let nvrtcCompileProgram: PFN_nvrtcCompileProgram?
    let nvrtcGetProgramLogSize: PFN_nvrtcGetProgramLogSize?
    let nvrtcGetProgramLog: PFN_nvrtcGetProgramLog?
    let nvrtcGetCUBINSize: PFN_nvrtcGetCUBINSize?
    let nvrtcGetCUBIN: PFN_nvrtcGetCUBIN?
    let nvrtcGetPTXSize: PFN_nvrtcGetPTXSize?
    let nvrtcGetPTX: PFN_nvrtcGetPTX?
    let missing: [String]

    init(_ library: DynamicLibrary) {
        var resolve = SymbolResolver(library)
        nvrtcGetErrorString = resolve("nvrtcGetErrorString")
        nvrtcVersion = resolve("nvrtcVersion")
        nvrtcGetNumSupportedArchs = resolve("nvrtcGetNumSupportedArchs")
        nvrtcGetSupportedArchs = resolve("nvrtcGetSupportedArchs")
        nvrtcCreateProgram = resolve("nvrtcCreateProgram")
        nvrtcDestroyProgram = resolve("nvrtcDestroyProgram")
        nvrtcCompileProgram = resolve("nvrtcCompileProgram")
        nvrtcGetProgramLogSize = resolve("nvrtcGetProgramLogSize")
        nvrtcGetProgramLog = resolve("nvrtcGetProgramLog")
        nvrtcGetCUBINSize = resolve("nvrtcGetCUBINSize")
        nvrtcGetCUBIN = resolve("nvrtcGetCUBIN")
        nvrtcGetPTXSize = resolve("nvrtcGetPTXSize")
        nvrtcGetPTX = resolve("nvrtcGetPTX")
        missing = resolve.missing
    }
}

/// Layer 2: checked NVRTC calls. NVRTC needs no GPU and no driver, so kernels compile on any
/// machine that has the library (a pip `nvidia-cuda-nvrtc` wheel is enough).
///
///     let nvrtc = try NVRTC.shared()
///     print(nvrtc.version, nvrtc.supportedArchitectures)  // 13.2 [75, 80, 86, …, 120]
public final class NVRTC: Sendable {
    public let library: DynamicLibrary
    let symbols: NVRTCSymbols
    /// e.g. 13.2.
    public let version: Version
    /// Real architectures NVRTC can emit CUBIN for, as numbers (`90` for sm_90).
    public let supportedArchitectures: [Int]
    /// Folders with the CUDA headers next to the library (`-I` when a built-in header is missing).
    public let includeDirectories: [String]

    public struct Version: Hashable, Sendable, CustomStringConvertible, Comparable {
        public let major: Int
        public let minor: Int
        public var description: String { "\(major).\(minor)" }
        public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    }

    /// Entry points this libnvrtc lacks.
    public var missingSymbols: [String] { symbols.missing }

    private static let sharedResult: Result<NVRTC, CUDAError> = Result { () throws(CUDAError) in
        try NVRTC(library: CUDALibraries.report(for: .nvrtc).get())
    }

    /// The process-wide NVRTC, loaded once.
    public static func shared() throws(CUDAError) -> NVRTC { try sharedResult.get() }

    /// NVRTC found with a custom search; not cached.
    public static func load(search: LibrarySearch) throws(CUDAError) -> NVRTC {
        try NVRTC(library: search.load(.nvrtc).get())
    }

    init(library: DynamicLibrary) throws(CUDAError) {
        self.library = library
        let symbols = NVRTCSymbols(library)
        self.symbols = symbols
        guard let getVersion = symbols.nvrtcVersion else {
            throw .symbolNotFound(library: library.path, symbol: "nvrtcVersion")
        }
        var major: Int32 = 0, minor: Int32 = 0
        let status = getVersion(&major, &minor)
        guard status == 0 else {
            throw .nvrtc(call: "nvrtcVersion", result: NVRTCResultCode(rawValue: status, name: "NVRTC error \(status)"))
        }
        version = Version(major: Int(major), minor: Int(minor))
        var architectures: [Int] = []
        if let getCount = symbols.nvrtcGetNumSupportedArchs, let getArchs = symbols.nvrtcGetSupportedArchs {
            var count: Int32 = 0
            if getCount(&count) == 0, count > 0 {
                var values = [Int32](repeating: 0, count: Int(count))
                if getArchs(&values) == 0 { architectures = values.map(Int.init) }
            }
        }
        supportedArchitectures = architectures.sorted()
        includeDirectories = Self.headerFolders(near: library.path)
    }

    /// `include` folders beside the library's folder that hold `cuda_fp16.h`: the toolkit's
    /// (`lib64/../include`), a CUDA 13 wheel's (`nvidia/cu13/include`, plus its `cccl`), or a
    /// CUDA 12 wheel's runtime headers (`nvidia/cuda_runtime/include`).
    static func headerFolders(near libraryPath: String) -> [String] {
        let libraryFolder = (libraryPath as NSString).deletingLastPathComponent
        let parent = (libraryFolder as NSString).deletingLastPathComponent
        let candidates = [
            parent + "/include", parent + "/include/cccl",
            (parent as NSString).deletingLastPathComponent + "/cuda_runtime/include",
            "/usr/local/cuda/include",
        ]
        var found: [String] = []
        for folder in candidates {
            let path = (folder as NSString).standardizingPath
            let hasHeaders = FileManager.default.fileExists(atPath: path + "/cuda_fp16.h")
                || FileManager.default.fileExists(atPath: path + "/cuda/std/cstdint")
            if hasHeaders, !found.contains(path) { found.append(path) }
        }
        return found
    }

    // MARK: checking

    func resultCode(_ status: nvrtcResult) -> NVRTCResultCode {
        if let getString = symbols.nvrtcGetErrorString, let text = getString(status) {
            return NVRTCResultCode(rawValue: status, name: String(cString: text))
        }
        return NVRTCResultCode(rawValue: status, name: "NVRTC error \(status)")
    }

    @inline(__always)
    func check(_ status: nvrtcResult, _ call: @autoclosure () -> String) throws(CUDAError) {
        guard status == 0 else { throw .nvrtc(call: call(), result: resultCode(status)) }
    }

    @inline(__always)
    func require<F>(_ function: F?, _ name: StaticString) throws(CUDAError) -> F {
        guard let function else { throw .symbolNotFound(library: library.path, symbol: "\(name)") }
        return function
    }

    // MARK: compiling

    /// What one NVRTC compilation produced.
    public struct Output: Sendable {
        /// The CUBIN (real architecture) or NUL-terminated PTX (virtual architecture).
        public let image: [UInt8]
        /// The compiler log (warnings); empty when clean.
        public let log: String
    }

    /// Compiles `source` with `options`; `wantCUBIN` picks the output (CUBIN needs a real
    /// `sm_XX` architecture, PTX a virtual `compute_XX` one). A source error throws
    /// ``CUDAError/compilation(kernel:architecture:options:log:)`` with the full log.
    public func compile(source: String, name: String, options: [String], wantCUBIN: Bool) throws(CUDAError) -> Output {
        let create = try require(symbols.nvrtcCreateProgram, "nvrtcCreateProgram")
        let destroy = try require(symbols.nvrtcDestroyProgram, "nvrtcDestroyProgram")
        let compile = try require(symbols.nvrtcCompileProgram, "nvrtcCompileProgram")
        var program: nvrtcProgram?
        try check(create(&program, source, name, 0, nil, nil), "nvrtcCreateProgram(\(name))")
        defer { _ = destroy(&program) }

        let arguments = options.map { strdup($0) }
        defer { arguments.forEach { free($0) } }
        var pointers = arguments.map { UnsafePointer<CChar>($0) }
        let status = compile(program, Int32(pointers.count), &pointers)
        let log = programLog(program)
        if status == CCUDA_NVRTC_ERROR_COMPILATION {
            let architecture = options.first { $0.hasPrefix("--gpu-architecture=") }?
                .dropFirst("--gpu-architecture=".count) ?? "default"
            throw .compilation(kernel: name, architecture: String(architecture), options: options, log: log)
        }
        try check(status, "nvrtcCompileProgram(\(name))" + (log.isEmpty ? "" : ": \(log)"))

        let image: [UInt8]
        if wantCUBIN {
            image = try read(program, size: require(symbols.nvrtcGetCUBINSize, "nvrtcGetCUBINSize"),
                             data: require(symbols.nvrtcGetCUBIN, "nvrtcGetCUBIN"), what: "nvrtcGetCUBIN(\(name))")
        } else {
            image = try read(program, size: require(symbols.nvrtcGetPTXSize, "nvrtcGetPTXSize"),
                             data: require(symbols.nvrtcGetPTX, "nvrtcGetPTX"), what: "nvrtcGetPTX(\(name))")
        }
        return Output(image: image, log: log)
    }

    private func read(
        _ program: nvrtcProgram?, size getSize: (nvrtcProgram?, UnsafeMutablePointer<Int>?) -> nvrtcResult,
        data getData: (nvrtcProgram?, UnsafeMutablePointer<CChar>?) -> nvrtcResult, what: String
    ) throws(CUDAError) -> [UInt8] {
        var size = 0
        try check(getSize(program, &size), what + " size")
        guard size > 0 else { return [] }
        var bytes = [CChar](repeating: 0, count: size)
        try check(getData(program, &bytes), what)
        return bytes.map { UInt8(bitPattern: $0) }
    }

    private func programLog(_ program: nvrtcProgram?) -> String {
        guard let getSize = symbols.nvrtcGetProgramLogSize, let getLog = symbols.nvrtcGetProgramLog else { return "" }
        var size = 0
        guard getSize(program, &size) == 0, size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size)
        guard getLog(program, &bytes) == 0 else { return "" }
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
