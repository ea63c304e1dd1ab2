#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MegatronTensor

/// A shared library opened with `dlopen`, whose symbols are resolved one at a time.
///
/// The handle is never closed: function pointers taken from it must stay valid for the life
/// of the process (cudarc does the same).
///
///     let library = try DynamicLibrary.open("libnvrtc.so.13").get()
///     let version: PFN_nvrtcVersion? = library.symbol("nvrtcVersion")
public final class DynamicLibrary: @unchecked Sendable {
    // Sendable: every stored property is immutable after init and `dlsym` is thread-safe.
    let handle: UnsafeMutableRawPointer
    /// The name or path passed to `dlopen`.
    public let requestedName: String
    /// The file the loader mapped (read from /proc/self/maps), or `requestedName` when unknown.
    public let path: String

    private init(handle: UnsafeMutableRawPointer, requestedName: String, path: String) {
        self.handle = handle
        self.requestedName = requestedName
        self.path = path
    }

    /// Opens `name` (a bare soname searches the loader path; a path with `/` opens that file).
    /// On failure the result carries `dlerror()`'s message.
    public static func open(_ name: String, probeSymbol: String? = nil) -> Result<DynamicLibrary, LoadFailure> {
        _ = dlerror()  // clear any stale message
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
            let message = dlerror().map { String(cString: $0) } ?? "dlopen failed"
            return .failure(LoadFailure(candidate: name, message: message))
        }
        var path = name
        if let probeSymbol, let address = dlsym(handle, probeSymbol), let mapped = loadedLibraryPath(containing: address) {
            path = mapped
        }
        return .success(DynamicLibrary(handle: handle, requestedName: name, path: path))
    }

    /// The symbol `name` as a C function pointer type, or nil when the library lacks it.
    public func symbol<F>(_ name: String, as type: F.Type = F.self) -> F? {
        guard let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// Whether the library exports `name`.
    public func hasSymbol(_ name: String) -> Bool { dlsym(handle, name) != nil }

    /// Why one candidate could not be opened.
    public struct LoadFailure: Error, Sendable, Hashable, CustomStringConvertible {
        public let candidate: String
        public let message: String
        public var description: String { message }
    }
}

/// Resolves the symbols of one library into a table, remembering which ones were missing so
/// that a missing optional symbol is reported (by `doctor`, or when called) instead of
/// breaking start-up.
///
///     var resolve = SymbolResolver(library)
///     let cuInit: PFN_cuInit? = resolve("cuInit")
struct SymbolResolver {
    let library: DynamicLibrary
    private(set) var missing: [String] = []

    init(_ library: DynamicLibrary) { self.library = library }

    /// The first of `names` the library exports (newest versioned name first).
    mutating func callAsFunction<F>(_ names: String...) -> F? {
        for name in names {
            if let symbol: F = library.symbol(name) { return symbol }
        }
        missing.append(names.joined(separator: "|"))
        return nil
    }
}
