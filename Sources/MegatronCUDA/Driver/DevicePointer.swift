import CCUDA

/// A device address (`CUdeviceptr`). Only the GPU dereferences it.
///
/// It converts to and from the `UnsafeMutableRawPointer` that ``MegatronTensor/Storage`` and
/// ``MegatronTensor/Tensor`` carry (the same bits), so a tensor's device address is
/// `DevicePointer(tensor.address)`.
///
///     let p = DevicePointer(tensor.address).advanced(by: 256)
public struct DevicePointer: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: CUdeviceptr

    public init(_ rawValue: CUdeviceptr) { self.rawValue = rawValue }

    /// The device address held in a tensor's or storage's `address`.
    public init(_ address: UnsafeMutableRawPointer) { rawValue = CUdeviceptr(UInt(bitPattern: address)) }

    /// The same bits as a raw pointer (for ``MegatronTensor/Storage``); nil for address 0.
    public var address: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: UInt(rawValue)) }

    /// The address `byteCount` bytes further on.
    public func advanced(by byteCount: Int) -> DevicePointer {
        DevicePointer(CUdeviceptr(Int64(bitPattern: rawValue) &+ Int64(byteCount)))
    }

    /// The largest power of two (up to `limit`) that divides the address.
    public func alignment(limit: Int = 256) -> Int {
        guard rawValue != 0 else { return limit }
        return min(limit, 1 << rawValue.trailingZeroBitCount)
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
