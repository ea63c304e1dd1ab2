/// A block of memory owned by a backend; freed through the backend's deallocator when the last
/// ``Tensor`` that views it goes away.
///
/// The address is a host pointer for the CPU backend and a device address for CUDA; only the
/// owning backend dereferences it.
public final class Storage: @unchecked Sendable {
    // Sendable: the address and size never change; element access is the backends' job, which
    // orders it through their streams or threads.
    public let address: UnsafeMutableRawPointer
    public let byteCount: Int
    public let device: Device
    private let deallocate: @Sendable (UnsafeMutableRawPointer) -> Void

    public init(
        address: UnsafeMutableRawPointer, byteCount: Int, device: Device,
        deallocate: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) {
        self.address = address
        self.byteCount = byteCount
        self.device = device
        self.deallocate = deallocate
    }

    deinit { deallocate(address) }
}
