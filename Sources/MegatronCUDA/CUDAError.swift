/// A CUDA driver result code with its name (`CUDA_ERROR_OUT_OF_MEMORY`), as `cuGetErrorName`
/// gives it. A strong type over the C integer, in the manner of swift-system's `Errno`.
public struct CUDAResultCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public let name: String
    public init(rawValue: Int32, name: String) {
        self.rawValue = rawValue
        self.name = name
    }
    public var description: String { name }
    public static let outOfMemory: Int32 = 2
    public static let noDevice: Int32 = 100
    public static let notReady: Int32 = 600
}

/// An NVRTC result code with its name (`NVRTC_ERROR_COMPILATION`), from `nvrtcGetErrorString`.
public struct NVRTCResultCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public let name: String
    public var description: String { name }
}

/// A cuBLAS status with its name (`CUBLAS_STATUS_NOT_SUPPORTED`).
public struct CUBLASStatus: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public let name: String
    public var description: String { name }

    /// The names from cublas_api.h, used when `cublasLtGetStatusName` is unavailable.
    static func fallbackName(_ status: Int32) -> String {
        switch status {
        case 0: "CUBLAS_STATUS_SUCCESS"
        case 1: "CUBLAS_STATUS_NOT_INITIALIZED"
        case 3: "CUBLAS_STATUS_ALLOC_FAILED"
        case 7: "CUBLAS_STATUS_INVALID_VALUE"
        case 8: "CUBLAS_STATUS_ARCH_MISMATCH"
        case 11: "CUBLAS_STATUS_MAPPING_ERROR"
        case 13: "CUBLAS_STATUS_EXECUTION_FAILED"
        case 14: "CUBLAS_STATUS_INTERNAL_ERROR"
        case 15: "CUBLAS_STATUS_NOT_SUPPORTED"
        case 16: "CUBLAS_STATUS_LICENSE_ERROR"
        default: "CUBLAS_STATUS_\(status)"
        }
    }
}

/// An NCCL result code with its name (`ncclInvalidArgument`) and `ncclGetErrorString`'s text.
public struct NCCLResultCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public let message: String
    public var name: String {
        switch rawValue {
        case 0: "ncclSuccess"
        case 1: "ncclUnhandledCudaError"
        case 2: "ncclSystemError"
        case 3: "ncclInternalError"
        case 4: "ncclInvalidArgument"
        case 5: "ncclInvalidUsage"
        case 6: "ncclRemoteError"
        case 7: "ncclInProgress"
        case 8: "ncclTimeout"
        default: "ncclResult(\(rawValue))"
        }
    }
    public var description: String { message.isEmpty ? name : "\(name) (\(message))" }
}

/// Everything that can go wrong in MegatronCUDA, each case naming the call and its values.
///
///     do { _ = try CUDAContext.primary(device: 0) }
///     catch { print(error) }  // "CUDA driver (libcuda.so.1) not found. Searched: … Use --device cpu …"
public enum CUDAError: Error, Hashable, CustomStringConvertible {
    /// A library was not found in any searched folder (or every candidate failed to load).
    case libraryNotFound(library: String, sonames: [String], searched: [String], failures: [String], hint: String)
    /// The library was loaded but lacks an entry point this call needs.
    case symbolNotFound(library: String, symbol: String)
    /// The driver's CUDA version (`cuDriverGetVersion`, e.g. 11080) is older than required (12000).
    case driverTooOld(version: Int, required: Int)
    /// The driver found no usable GPU.
    case noDevice(reason: String)
    /// A device ordinal outside `0..<count`.
    case invalidDevice(ordinal: Int, count: Int)
    /// A driver call failed: `cuMemAlloc_v2(1073741824 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY`.
    case driver(call: String, result: CUDAResultCode)
    /// An NVRTC call failed (other than compilation errors, see `compilation`).
    case nvrtc(call: String, result: NVRTCResultCode)
    /// NVRTC rejected a kernel's source; `log` is the full compiler log.
    case compilation(kernel: String, architecture: String, options: [String], log: String)
    /// A cuBLASLt call failed.
    case cublas(call: String, status: CUBLASStatus)
    /// An NCCL call failed; `detail` is `ncclGetLastError`'s text when available.
    case nccl(call: String, result: NCCLResultCode, detail: String?)
    /// The device ran out of memory for an allocation, even after the cache was emptied.
    case outOfMemory(allocation: String, requested: Int, free: Int, total: Int, allocated: Int, reserved: Int)
    /// A caller's argument is not acceptable (shape, dtype, alignment …).
    case invalidArgument(op: String, message: String)

    public var description: String {
        switch self {
        case let .libraryNotFound(library, sonames, searched, failures, hint):
            var text = "\(library) (\(sonames.joined(separator: " or "))) not found"
            if sonames.contains("libcuda.so.1") { text += ": is the NVIDIA driver installed?" }
            text += "\n  searched: " + (searched.isEmpty ? "(no folder)" : searched.joined(separator: ", "))
            if !failures.isEmpty { text += "\n  failed to load: " + failures.joined(separator: "; ") }
            text += "\n  \(hint), set MEGATRON_CUDA_LIBRARY_PATH to its folder, or use --device cpu"
            return text
        case let .symbolNotFound(library, symbol):
            return "\(library) lacks \(symbol) (library too old?); use --device cpu or update it"
        case let .driverTooOld(version, required):
            return "the NVIDIA driver supports CUDA \(Self.versionString(version)); swift-megatron needs CUDA "
                + "\(Self.versionString(required)) or newer (driver 525+). Update the driver or use --device cpu"
        case let .noDevice(reason):
            return "no CUDA device: \(reason). Use --device cpu"
        case let .invalidDevice(ordinal, count):
            return "CUDA device \(ordinal) does not exist (this machine has \(count))"
        case let .driver(call, result):
            return "\(call) failed: \(result.name)"
        case let .nvrtc(call, result):
            return "\(call) failed: \(result.name)"
        case let .compilation(kernel, architecture, options, log):
            return "NVRTC could not compile kernel '\(kernel)' for \(architecture) (options: "
                + "\(options.joined(separator: " "))):\n\(log)"
        case let .cublas(call, status):
            return "\(call) failed: \(status.name)"
        case let .nccl(call, result, detail):
            return "\(call) failed: \(result)" + (detail.map { $0.isEmpty ? "" : ": \($0)" } ?? "")
        case let .outOfMemory(allocation, requested, free, total, allocated, reserved):
            return "CUDA out of memory allocating \(allocation) (\(Self.bytes(requested))): "
                + "\(Self.bytes(free)) free of \(Self.bytes(total)); this process holds "
                + "\(Self.bytes(allocated)) in tensors and \(Self.bytes(reserved)) reserved by the caching allocator"
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        }
    }

    /// 12040 → "12.4".
    static func versionString(_ version: Int) -> String { "\(version / 1000).\(version % 1000 / 10)" }

    /// A byte count for people: "1.50 GiB (1610612736 bytes)".
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(count) B" }
        let rounded = (value * 100).rounded() / 100
        return "\(rounded) \(units[unit]) (\(count) bytes)"
    }
}
