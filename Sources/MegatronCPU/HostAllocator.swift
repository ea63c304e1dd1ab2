import Foundation

/// A caching allocator for host tensors: freed blocks go to a free list keyed by their
/// (page-rounded) size and are handed out again, so a training step that allocates the same
/// activations every iteration stops paying for fresh pages (which the kernel zeroes) after
/// the first.
///
///     let allocator = HostAllocator()
///     let block = allocator.allocate(byteCount: 1 << 20)
final class HostAllocator: @unchecked Sendable {
    // Sendable: `state` is only touched under `lock`.
    private struct State {
        // Addresses as integers: the state crosses threads under the lock.
        var free: [Int: [UInt]] = [:]
        var cachedBytes = 0
        var liveBytes = 0
        var peakLiveBytes = 0
    }

    private var state = State()
    private let lock = NSLock()

    private func withLock<R>(_ body: (inout State) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }
    static let granularity = 4096

    /// The size a request occupies: rounded up to whole pages.
    static func blockSize(_ byteCount: Int) -> Int {
        max(granularity, (byteCount + granularity - 1) / granularity * granularity)
    }

    func allocate(byteCount: Int) -> (UnsafeMutableRawPointer, Int) {
        let size = Self.blockSize(byteCount)
        let reused: UInt? = withLock { s in
            s.liveBytes += size
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            guard let block = s.free[size]?.popLast() else { return nil }
            s.cachedBytes -= size
            return block
        }
        if let reused, let block = UnsafeMutableRawPointer(bitPattern: reused) { return (block, size) }
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    func release(_ block: UnsafeMutableRawPointer, size: Int) {
        withLock { s in
            s.liveBytes -= size
            s.cachedBytes += size
            s.free[size, default: []].append(UInt(bitPattern: block))
        }
    }

    /// Returns every cached block to the system.
    func emptyCache() {
        let blocks = withLock { s in
            defer { s.free = [:]; s.cachedBytes = 0 }
            return s.free.values.flatMap { $0 }
        }
        for address in blocks { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }

    /// Bytes held by live tensors, their peak, and bytes cached for reuse.
    var statistics: (live: Int, peak: Int, cached: Int) {
        withLock { ($0.liveBytes, $0.peakLiveBytes, $0.cachedBytes) }
    }

    deinit { emptyCache() }
}
