import MegatronTensor

/// Kernel arguments by value, laid out for `cuLaunchKernel` (one pointer per argument, pointing
/// at the value). Each value gets its own 8-byte-aligned slot.
///
///     var args = KernelArguments()
///     args.append(DevicePointer(out.address)); args.append(Int32(n)); args.append(Float(0.5))
///     try stream.launch(kernel, grid: Dim3(x: (n + 255) / 256), block: 256, arguments: args)
public struct KernelArguments: Sendable {
    private var words: [UInt64] = []
    private var offsets: [Int] = []  // in words

    public init() {}

    public var count: Int { offsets.count }

    /// Appends a plain value (`Int32`, `Float`, a device pointer, a POD struct …).
    public mutating func append<T: BitwiseCopyable>(_ value: T) {
        let size = MemoryLayout<T>.size
        let slots = max(1, (size + 7) / 8)
        offsets.append(words.count)
        let start = words.count
        words.append(contentsOf: repeatElement(0, count: slots))
        withUnsafeBytes(of: value) { source in
            guard let from = source.baseAddress, size > 0 else { return }
            words.withUnsafeMutableBytes { destination in
                destination.baseAddress?.advanced(by: start * 8).copyMemory(from: from, byteCount: size)
            }
        }
    }

    /// Appends a device pointer argument (a `T*` in the kernel).
    public mutating func append(_ pointer: DevicePointer) { append(pointer.rawValue) }

    /// Appends a tensor's device address.
    public mutating func append(_ tensor: Tensor) { append(DevicePointer(tensor.address)) }

    /// Calls `body` with the `void**` array `cuLaunchKernel` takes (nil when there are none).
    func withParameters<R>(
        _ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>?) throws(CUDAError) -> R
    ) throws(CUDAError) -> R {
        var copy = words
        let offsets = self.offsets
        return try rethrowingCUDAError {
            try copy.withUnsafeMutableBytes { bytes -> R in
                var pointers: [UnsafeMutableRawPointer?] = offsets.map { bytes.baseAddress?.advanced(by: $0 * 8) }
                if pointers.isEmpty { return try body(nil) }
                return try pointers.withUnsafeMutableBufferPointer { buffer -> R in try body(buffer.baseAddress) }
            }
        }
    }
}
