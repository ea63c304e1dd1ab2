import CCUDA

/// A GPU's compute capability, e.g. 9.0 for H100; names the NVRTC target (`sm_90`).
public struct ComputeCapability: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }
    /// 90 for 9.0.
    public var number: Int { major * 10 + minor }
    public var description: String { "\(major).\(minor)" }
    public static func < (a: Self, b: Self) -> Bool { a.number < b.number }
}

/// What one GPU is: name, compute capability, memory, SM count.
///
///     for device in try CUDADevice.all() { print(device) }  // "0: NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB, 132 SMs)"
public struct CUDADevice: Hashable, Sendable, CustomStringConvertible {
    /// The ordinal (`cuda:N`).
    public let ordinal: Int
    /// The driver's device handle.
    public let handle: CUdevice
    public let name: String
    public let computeCapability: ComputeCapability
    public let totalMemory: Int
    public let multiprocessorCount: Int
    /// Shared memory one block may use after opting in (`cuFuncSetAttribute`).
    public let maxSharedMemoryPerBlockOptIn: Int
    public let maxThreadsPerBlock: Int

    /// The NVRTC target for this device (`sm_90`).
    public var architecture: GPUArchitecture { GPUArchitecture(computeCapability) }

    /// Number of visible devices.
    public static func count(driver: CUDADriver? = nil) throws(CUDAError) -> Int {
        try CUDADriver.given(driver).deviceCount()
    }

    /// Every visible device.
    public static func all(driver: CUDADriver? = nil) throws(CUDAError) -> [CUDADevice] {
        let driver = try CUDADriver.given(driver)
        var devices: [CUDADevice] = []
        for ordinal in 0 ..< (try driver.deviceCount()) {
            devices.append(try CUDADevice(ordinal: ordinal, driver: driver))
        }
        return devices
    }

    /// Device `ordinal`, throwing ``CUDAError/noDevice(reason:)`` when there is none and
    /// ``CUDAError/invalidDevice(ordinal:count:)`` when the ordinal is out of range.
    public init(ordinal: Int, driver: CUDADriver? = nil) throws(CUDAError) {
        let driver = try CUDADriver.given(driver)
        let count = try driver.deviceCount()
        guard count > 0 else { throw .noDevice(reason: "the driver sees no GPU (cuDeviceGetCount = 0)") }
        guard ordinal >= 0, ordinal < count else { throw .invalidDevice(ordinal: ordinal, count: count) }
        self.ordinal = ordinal
        handle = try driver.device(ordinal: ordinal)
        name = try driver.deviceName(handle)
        computeCapability = ComputeCapability(
            major: try driver.deviceAttribute(Int(CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), handle),
            minor: try driver.deviceAttribute(Int(CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), handle))
        totalMemory = try driver.deviceTotalMemory(handle)
        multiprocessorCount = try driver.deviceAttribute(Int(CCUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), handle)
        maxSharedMemoryPerBlockOptIn = try driver.deviceAttribute(
            Int(CCUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN), handle)
        maxThreadsPerBlock = try driver.deviceAttribute(Int(CCUDA_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK), handle)
    }

    public var description: String {
        let gib = (Double(totalMemory) / Double(1 << 30) * 10).rounded() / 10
        return "\(ordinal): \(name) (\(architecture), \(gib) GiB, \(multiprocessorCount) SMs)"
    }
}
