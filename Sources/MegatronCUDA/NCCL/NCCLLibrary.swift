import CCUDA
import MegatronTensor

/// Layer 1: the raw NCCL entry points, each resolved on its own.
struct NCCLSymbols: @unchecked Sendable {
    // Sendable: C function pointers are immutable code addresses.
    let ncclGetVersion: PFN_ncclGetVersion?
    let ncclGetErrorString: PFN_ncclGetErrorString?
    let ncclGetLastError: PFN_ncclGetLastError?
    let ncclGetUniqueId: PFN_ncclGetUniqueId?
    let ncclCommInitRank: PFN_ncclCommInitRank?
    let ncclCommInitAll: PFN_ncclCommInitAll?
    let ncclCommSplit: PFN_ncclCommSplit?
    let ncclCommDestroy: PFN_ncclCommDestroy?
    let ncclCommAbort: PFN_ncclCommAbort?
    let ncclCommGetAsyncError: PFN_ncclCommGetAsyncError?
    let ncclAllReduce: PFN_ncclAllReduce?
    let ncclBroadcast: PFN_ncclBroadcast?
    let ncclReduceScatter: PFN_ncclReduceScatter?
    let ncclAllGather: PFN_ncclAllGather?
    let ncclSend: PFN_ncclSend?
    let ncclRecv: PFN_ncclRecv?
    let ncclGroupStart: PFN_ncclGroupStart?
    let ncclGroupEnd: PFN_ncclGroupEnd?
    let missing: [String]

    init(_ library: DynamicLibrary) {
        var resolve = SymbolResolver(library)
        ncclGetVersion = resolve("ncclGetVersion")
        ncclGetErrorString = resolve("ncclGetErrorString")
        ncclGetLastError = resolve("ncclGetLastError")
        ncclGetUniqueId = resolve("ncclGetUniqueId")
        ncclCommInitRank = resolve("ncclCommInitRank")
        ncclCommInitAll = resolve("ncclCommInitAll")
        ncclCommSplit = resolve("ncclCommSplit")
        ncclCommDestroy = resolve("ncclCommDestroy")
        ncclCommAbort = resolve("ncclCommAbort")
        ncclCommGetAsyncError = resolve("ncclCommGetAsyncError")
        ncclAllReduce = resolve("ncclAllReduce")
        ncclBroadcast = resolve("ncclBroadcast")
        ncclReduceScatter = resolve("ncclReduceScatter")
        ncclAllGather = resolve("ncclAllGather")
        ncclSend = resolve("ncclSend")
        ncclRecv = resolve("ncclRecv")
        ncclGroupStart = resolve("ncclGroupStart")
        ncclGroupEnd = resolve("ncclGroupEnd")
        missing = resolve.missing
    }
}

/// Layer 2: the loaded NCCL library with checked calls. Loads (and reports its version)
/// without a GPU; ``NCCLCommunicator`` owns communicators.
///
///     let nccl = try NCCLLibrary.shared()
///     let id = try nccl.uniqueID()   // on rank 0; send id.bytes to the other ranks
public final class NCCLLibrary: Sendable {
    public let library: DynamicLibrary
    let symbols: NCCLSymbols
    /// `ncclGetVersion`: major·10000 + minor·100 + patch (22807 for 2.28.7).
    public let version: Int

    public var versionString: String {
        version >= 20900 ? "\(version / 10000).\(version % 10000 / 100).\(version % 100)"
            : "\(version / 1000).\(version % 1000 / 100).\(version % 100)"
    }
    /// Entry points this library lacks.
    public var missingSymbols: [String] { symbols.missing }

    private static let sharedResult: Result<NCCLLibrary, CUDAError> = Result { () throws(CUDAError) in
        try NCCLLibrary(library: CUDALibraries.report(for: .nccl).get())
    }

    /// The process-wide library, loaded once.
    public static func shared() throws(CUDAError) -> NCCLLibrary { try sharedResult.get() }

    /// The library found with a custom search; not cached.
    public static func load(search: LibrarySearch) throws(CUDAError) -> NCCLLibrary {
        try NCCLLibrary(library: search.load(.nccl).get())
    }

    static func given(_ library: NCCLLibrary?) throws(CUDAError) -> NCCLLibrary {
        if let library { return library }
        return try shared()
    }

    init(library: DynamicLibrary) throws(CUDAError) {
        self.library = library
        symbols = NCCLSymbols(library)
        guard let getVersion = symbols.ncclGetVersion else {
            throw .symbolNotFound(library: library.path, symbol: "ncclGetVersion")
        }
        var version: Int32 = 0
        _ = getVersion(&version)
        self.version = Int(version)
    }

    /// The result with `ncclGetErrorString`'s text.
    public func resultCode(_ code: ncclResult_t) -> NCCLResultCode {
        let message = symbols.ncclGetErrorString?(code).map { String(cString: $0) } ?? ""
        return NCCLResultCode(rawValue: code, message: message)
    }

    @inline(__always)
    func check(_ code: ncclResult_t, _ call: @autoclosure () -> String, comm: ncclComm_t? = nil) throws(CUDAError) {
        guard code == 0 else {
            let detail = symbols.ncclGetLastError?(comm).map { String(cString: $0) }
            throw .nccl(call: call(), result: resultCode(code), detail: detail)
        }
    }

    @inline(__always)
    func require<F>(_ function: F?, _ name: StaticString) throws(CUDAError) -> F {
        guard let function else { throw .symbolNotFound(library: library.path, symbol: "\(name)") }
        return function
    }

    /// A fresh unique id (rank 0 makes it, every rank passes the same one to its communicator).
    public func uniqueID() throws(CUDAError) -> NCCLUniqueID {
        var id = ncclUniqueId()
        try check(require(symbols.ncclGetUniqueId, "ncclGetUniqueId")(&id), "ncclGetUniqueId")
        return NCCLUniqueID(id)
    }

    /// Runs `body` between `ncclGroupStart` and `ncclGroupEnd` (several collectives, or sends and
    /// receives, issued as one).
    public func group(_ body: () throws(CUDAError) -> Void) throws(CUDAError) {
        try check(require(symbols.ncclGroupStart, "ncclGroupStart")(), "ncclGroupStart")
        var failure: CUDAError?
        do throws(CUDAError) { try body() } catch { failure = error }
        try check(require(symbols.ncclGroupEnd, "ncclGroupEnd")(), "ncclGroupEnd")
        if let failure { throw failure }
    }
}

/// The 128-byte `ncclUniqueId`, as bytes that can travel between processes.
public struct NCCLUniqueID: Hashable, Sendable {
    public let bytes: [UInt8]

    /// From bytes received from rank 0; nil unless exactly 128 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == MemoryLayout<ncclUniqueId>.size else { return nil }
        self.bytes = bytes
    }

    init(_ id: ncclUniqueId) {
        bytes = withUnsafeBytes(of: id) { Array($0) }
    }

    /// The C struct, passed by value to `ncclCommInitRank`.
    var cValue: ncclUniqueId {
        var id = ncclUniqueId()
        withUnsafeMutableBytes(of: &id) { destination in
            bytes.withUnsafeBytes { source in destination.copyMemory(from: source) }
        }
        return id
    }
}

/// NCCL reduction operators.
public enum NCCLReduction: Int32, Sendable {
    case sum = 0, product = 1, max = 2, min = 3, average = 4
}

extension DType {
    /// The `ncclDataType_t` value (none for uint16).
    var ncclDataType: Int32? {
        // Comparisons rather than a switch, so that new DType cases don't break this file.
        if self == .fp32 { return 7 }
        if self == .bf16 { return 9 }
        if self == .fp16 { return 6 }
        if self == .int32 { return 2 }
        if self == .int64 { return 4 }
        return nil
    }
}
