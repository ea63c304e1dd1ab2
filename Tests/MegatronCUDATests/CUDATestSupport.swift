import Foundation
@testable import MegatronCUDA

/// What this machine offers the tests. NVRTC tests need only the library (a pip
/// `nvidia-cuda-nvrtc` wheel provides it on any Linux machine; CI installs it); GPU tests need
/// the driver and a device and are skipped elsewhere.
enum CUDATestSupport {
    static let nvrtc: NVRTC? = try? NVRTC.shared()
    static var hasNVRTC: Bool { nvrtc != nil }
    static let hasDriver: Bool = (try? CUDADriver.shared()) != nil
    static let hasDevice: Bool = ((try? CUDADevice.count()) ?? 0) > 0
    static let hasCUBLASLt: Bool = hasDevice && (try? CUBLASLtLibrary.shared()) != nil
    static let hasNCCL: Bool = hasDevice && (try? NCCLLibrary.shared()) != nil

    /// A fresh empty folder under the system temporary folder.
    static func temporaryDirectory(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "megatron-cuda-tests-\(name)-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A search that finds nothing: no loader path, no standard folders, only `folders`.
    static func emptySearch(folders: [String] = []) -> LibrarySearch {
        LibrarySearch(environment: ["MEGATRON_CUDA_LIBRARY_PATH": folders.joined(separator: ":")],
                      homeDirectory: "/nonexistent", useLoaderPath: false, useStandardFolders: false)
    }
}

/// 64-bit LCG giving values in ±[0.1, 1): reproducible and never zero.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let unit = Float(state >> 40) / Float(1 << 24)
        let magnitude = 0.1 + 0.9 * unit
        return (state >> 20) & 1 == 0 ? magnitude : -magnitude
    }
    mutating func array(_ count: Int) -> [Float] { (0 ..< count).map { _ in next() } }
}
