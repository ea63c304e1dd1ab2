/// An n-dimensional array in a backend's memory: a typed, shaped view of a ``Storage``.
///
/// Model code creates tensors through a ``Backend`` and passes them to its ops; it never reads
/// elements, so the same code runs on every backend. Views share storage:
///
///     let flat = try backend.zeros([1024], dtype: .fp32)
///     let weight = try flat.view(offset: 256, shape: [16, 16])
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    // Sendable: a value holding an immutable reference to Storage (itself Sendable).
    public let storage: Storage
    /// Offset of the first element, in elements of `dtype`.
    public let offset: Int
    public let shape: Shape
    public let dtype: DType

    public init(storage: Storage, offset: Int = 0, shape: Shape, dtype: DType) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.dtype = dtype
    }

    public var count: Int { shape.count }
    public var device: Device { storage.device }
    public var byteCount: Int { count * dtype.byteSize }

    /// Address of the first element (host pointer on the CPU, device address on a GPU).
    public var address: UnsafeMutableRawPointer { storage.address + offset * dtype.byteSize }

    /// A view of `shape.count` elements starting `offset` elements into this tensor.
    public func view(offset: Int, shape: Shape) throws(TensorError) -> Tensor {
        guard offset >= 0, offset + shape.count <= count else {
            throw .viewOutOfBounds(offset: self.offset + offset, count: shape.count, storageCount: count)
        }
        return Tensor(storage: storage, offset: self.offset + offset, shape: shape, dtype: dtype)
    }

    /// The same elements seen with another shape of equal element count.
    public func reshaped(_ shape: Shape) throws(TensorError) -> Tensor {
        guard shape.count == count else {
            throw .shapeMismatch(op: "reshape", expected: "\(count) elements", got: shape)
        }
        return Tensor(storage: storage, offset: offset, shape: shape, dtype: dtype)
    }

    /// Throws unless the tensor has exactly this shape.
    public func expect(_ shape: Shape, _ op: String) throws(TensorError) {
        guard self.shape == shape else { throw .shapeMismatch(op: op, expected: shape.description, got: self.shape) }
    }

    /// Throws unless the tensor has this dtype.
    public func expect(_ dtype: DType, _ op: String) throws(TensorError) {
        guard self.dtype == dtype else { throw .dtypeMismatch(op: op, expected: dtype, got: self.dtype) }
    }

    public var description: String { "Tensor(\(dtype), \(shape), \(device))" }
}
