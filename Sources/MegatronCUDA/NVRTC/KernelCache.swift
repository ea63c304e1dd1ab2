#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MegatronTensor

/// The on-disk cache of compiled kernels, one file per SHA-256 key of (source, options,
/// architecture, NVRTC version), in `$MEGATRON_KERNEL_CACHE` or
/// `~/.cache/swift-megatron/kernels` (`$XDG_CACHE_HOME` is honoured; `MEGATRON_KERNEL_CACHE=off`
/// disables it).
///
/// Files are written to a temporary name and renamed, so readers never see half a file; each
/// carries a checksum of its payload, so a damaged file is ignored (and rebuilt by the
/// compiler). Failing to write is not an error: the cache is only a speed-up.
///
///     let cache = KernelCache(directory: "/tmp/kernels")
///     cache.store(key: key, format: .cubin, image: bytes)
///     let hit = cache.load(key: key)
public struct KernelCache: Sendable {
    public let directory: String

    /// File layout: magic (8) · format (1) · reserved (7) · payload length (8, LE) ·
    /// SHA-256 of payload (32) · payload.
    static let magic = Array("MGKRNL01".utf8)
    static let headerSize = 8 + 8 + 8 + 32

    public init(directory: String) { self.directory = directory }

    /// The cache the environment asks for; nil when disabled or no folder can be named.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> KernelCache? {
        if let explicit = environment["MEGATRON_KERNEL_CACHE"], !explicit.isEmpty {
            if ["off", "none", "0", "false"].contains(explicit.lowercased()) { return nil }
            return KernelCache(directory: explicit)
        }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return KernelCache(directory: xdg + "/swift-megatron/kernels")
        }
        guard let home = environment["HOME"], !home.isEmpty else { return nil }
        return KernelCache(directory: home + "/.cache/swift-megatron/kernels")
    }

    /// The file holding `key`.
    public func path(for key: String) -> String { directory + "/" + key + ".bin" }

    /// The cached image for `key`, or nil when absent or damaged.
    public func load(key: String) -> (format: CompiledKernel.Format, image: [UInt8])? {
        guard let data = FileManager.default.contents(atPath: path(for: key)) else { return nil }
        let bytes = [UInt8](data)
        guard bytes.count >= Self.headerSize, Array(bytes[0 ..< 8]) == Self.magic,
              let format = CompiledKernel.Format(code: bytes[8])
        else { return nil }
        var length: UInt64 = 0
        for i in 0 ..< 8 { length |= UInt64(bytes[16 + i]) << (8 * UInt64(i)) }
        guard length == UInt64(bytes.count - Self.headerSize) else { return nil }
        let payload = Array(bytes[Self.headerSize...])
        guard SHA256.hash(payload) == Array(bytes[24 ..< 56]) else { return nil }
        return (format, payload)
    }

    /// Writes `image` under `key` atomically; returns whether it was written.
    @discardableResult
    public func store(key: String, format: CompiledKernel.Format, image: [UInt8]) -> Bool {
        var file = Self.magic
        file.append(format.code)
        file += [UInt8](repeating: 0, count: 7)
        let length = UInt64(image.count)
        for i in 0 ..< 8 { file.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        file += SHA256.hash(image)
        file += image
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = directory + "/.\(key).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(file)) else { return false }
            guard rename(temporary, path(for: key)) == 0 else {
                unlink(temporary)
                return false
            }
            return true
        } catch {
            return false
        }
    }
}
