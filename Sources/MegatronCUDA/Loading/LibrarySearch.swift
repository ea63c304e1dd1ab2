import Foundation

/// The CUDA libraries MegatronCUDA loads at run time, each independently of the others.
public enum CUDALibrary: String, CaseIterable, Sendable, CustomStringConvertible {
    case driver, nvrtc, cublasLt, nccl

    /// Sonames tried, newest first.
    public var sonames: [String] {
        switch self {
        case .driver: ["libcuda.so.1"]
        case .nvrtc: ["libnvrtc.so.13", "libnvrtc.so.12"]
        case .cublasLt: ["libcublasLt.so.13", "libcublasLt.so.12"]
        case .nccl: ["libnccl.so.2"]
        }
    }

    /// A symbol every supported version exports, used to find the mapped file.
    var probeSymbol: String {
        switch self {
        case .driver: "cuInit"
        case .nvrtc: "nvrtcVersion"
        case .cublasLt: "cublasLtCreate"
        case .nccl: "ncclGetVersion"
        }
    }

    /// What the library is, for messages.
    public var displayName: String {
        switch self {
        case .driver: "CUDA driver"
        case .nvrtc: "NVRTC"
        case .cublasLt: "cuBLASLt"
        case .nccl: "NCCL"
        }
    }

    /// Where to get it, for messages.
    var installHint: String {
        switch self {
        case .driver: "install the NVIDIA driver"
        case .nvrtc: "install the CUDA toolkit or `pip install nvidia-cuda-nvrtc`"
        case .cublasLt: "install the CUDA toolkit or `pip install nvidia-cublas`"
        case .nccl: "install NCCL (libnccl2) or `pip install nvidia-nccl-cu13`"
        }
    }

    public var description: String { "\(displayName) (\(sonames.joined(separator: " or ")))" }
}

/// Where CUDA libraries are looked for, in order:
///
/// 1. the folders in `MEGATRON_CUDA_LIBRARY_PATH` (colon-separated),
/// 2. the dynamic loader's own path (`LD_LIBRARY_PATH`, ldconfig cache) via a plain `dlopen`,
/// 3. `$CUDA_HOME/lib64`, `$CUDA_PATH/lib64`, `/usr/local/cuda/lib64`,
/// 4. the distribution folders (`/usr/lib/x86_64-linux-gnu`, `/usr/lib64`, `/usr/lib/wsl/lib`),
/// 5. pip wheel folders: `nvidia/*/lib` under every `site-packages`/`dist-packages` of the
///    Python prefixes that exist (system, `~/.local`, `$VIRTUAL_ENV`, `$CONDA_PREFIX`, pyenv).
///
/// Within a location the sonames are tried newest first.
///
///     let report = LibrarySearch().load(.nvrtc)
///     print(report.library?.path ?? report.failureSummary)
public struct LibrarySearch: Sendable {
    /// One place to look.
    public enum Location: Sendable, Hashable, CustomStringConvertible {
        case folder(String)
        case loaderPath

        public var description: String {
            switch self {
            case let .folder(path): path
            case .loaderPath: "loader path (LD_LIBRARY_PATH, ldconfig)"
            }
        }
    }

    public var environment: [String: String]
    public var homeDirectory: String?
    /// Whether to try a plain `dlopen` of the soname (off in tests that must not find anything).
    public var useLoaderPath: Bool
    /// Whether to look at the fixed system and Python folders (off in tests).
    public var useStandardFolders: Bool

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        homeDirectory: String? = nil, useLoaderPath: Bool = true, useStandardFolders: Bool = true
    ) {
        self.environment = environment
        self.homeDirectory = homeDirectory ?? environment["HOME"] ?? NSHomeDirectory()
        self.useLoaderPath = useLoaderPath
        self.useStandardFolders = useStandardFolders
    }

    /// The locations searched, in order, without duplicates; folders that don't exist are left out.
    public func locations() -> [Location] {
        var result: [Location] = []
        var seen = Set<String>()
        func add(_ folder: String) {
            let path = (folder as NSString).standardizingPath
            guard !path.isEmpty, isDirectory(path), seen.insert(path).inserted else { return }
            result.append(.folder(path))
        }
        for folder in (environment["MEGATRON_CUDA_LIBRARY_PATH"] ?? "").split(separator: ":") {
            add(String(folder))
        }
        if useLoaderPath { result.append(.loaderPath) }
        guard useStandardFolders else { return result }
        for variable in ["CUDA_HOME", "CUDA_PATH"] {
            if let root = environment[variable], !root.isEmpty { add(root + "/lib64"); add(root + "/lib") }
        }
        add("/usr/local/cuda/lib64")
        add("/usr/lib/x86_64-linux-gnu")
        add("/usr/lib64")
        add("/usr/lib/wsl/lib")
        for folder in pythonWheelFolders() { add(folder) }
        return result
    }

    /// `…/site-packages/nvidia/*/lib` for every Python prefix that exists.
    func pythonWheelFolders() -> [String] {
        var libRoots: [String] = ["/usr/lib", "/usr/local/lib"]  // contain python3.X
        if let home = homeDirectory {
            libRoots.append(home + "/.local/lib")
            libRoots += subfolders(of: home + "/.pyenv/versions").map { $0 + "/lib" }
        }
        libRoots += subfolders(of: "/root/.pyenv/versions").map { $0 + "/lib" }
        for variable in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let prefix = environment[variable], !prefix.isEmpty { libRoots.append(prefix + "/lib") }
        }
        var folders: [String] = []
        for root in libRoots {
            for python in subfolders(of: root) where (python as NSString).lastPathComponent.hasPrefix("python3") {
                for packages in ["site-packages", "dist-packages"] {
                    let nvidia = python + "/" + packages + "/nvidia"
                    for package in subfolders(of: nvidia) {
                        folders.append(package + "/lib")
                    }
                }
            }
        }
        return folders
    }

    /// Tries every location and soname in order; the first that opens wins.
    public func load(_ library: CUDALibrary) -> LibraryLoadReport {
        var failures: [DynamicLibrary.LoadFailure] = []
        let locations = locations()
        for location in locations {
            for soname in library.sonames {
                let candidate: String
                switch location {
                case .loaderPath: candidate = soname
                case let .folder(folder):
                    candidate = folder + "/" + soname
                    // A missing file is the normal case; only real load errors are worth reporting.
                    guard FileManager.default.fileExists(atPath: candidate) else { continue }
                }
                switch DynamicLibrary.open(candidate, probeSymbol: library.probeSymbol) {
                case let .success(opened):
                    return LibraryLoadReport(library: library, loaded: opened, soname: soname, location: location,
                                             searched: locations, failures: failures)
                case let .failure(failure):
                    // "cannot open shared object file" from the loader path just means absent.
                    if location != .loaderPath || !failure.message.contains("No such file") {
                        failures.append(failure)
                    }
                }
            }
        }
        return LibraryLoadReport(library: library, loaded: nil, soname: nil, location: nil,
                                 searched: locations, failures: failures)
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private func subfolders(of path: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return names.sorted().map { path + "/" + $0 }.filter(isDirectory)
    }
}

/// What happened when one library was looked for: where it was found, or every place searched
/// and every load error, for `doctor` and for the library-not-found error.
public struct LibraryLoadReport: Sendable {
    public let library: CUDALibrary
    /// The opened library, nil when not found.
    public let loaded: DynamicLibrary?
    /// The soname that opened.
    public let soname: String?
    /// Where it was found.
    public let location: LibrarySearch.Location?
    /// Every location searched, in order.
    public let searched: [LibrarySearch.Location]
    /// Candidates that exist but failed to open, with `dlerror()`'s message.
    public let failures: [DynamicLibrary.LoadFailure]

    /// The error to throw when the library is needed but missing.
    public var notFoundError: CUDAError {
        .libraryNotFound(
            library: library.displayName, sonames: library.sonames,
            searched: searched.map(\.description),
            failures: failures.map { "\($0.candidate): \($0.message)" },
            hint: library.installHint)
    }

    /// The library, or the library-not-found error.
    public func get() throws(CUDAError) -> DynamicLibrary {
        guard let loaded else { throw notFoundError }
        return loaded
    }
}
