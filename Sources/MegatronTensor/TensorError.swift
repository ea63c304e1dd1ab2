/// Errors raised by tensor operations; each names the operation and the offending values.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(op: String, expected: String, got: Shape)
    case dtypeMismatch(op: String, expected: DType, got: DType)
    case unsupportedDType(op: String, dtype: DType, backend: String)
    case viewOutOfBounds(offset: Int, count: Int, storageCount: Int)
    case deviceMismatch(op: String, expected: Device, got: Device)
    case invalidArgument(op: String, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, expected, got):
            "\(op): expected shape \(expected), got \(got)"
        case let .dtypeMismatch(op, expected, got):
            "\(op): expected dtype \(expected), got \(got)"
        case let .unsupportedDType(op, dtype, backend):
            "\(op): dtype \(dtype) is not supported by the \(backend) backend"
        case let .viewOutOfBounds(offset, count, storageCount):
            "tensor view [\(offset), \(offset + count)) lies outside its storage of \(storageCount) elements"
        case let .deviceMismatch(op, expected, got):
            "\(op): tensor lives on \(got), the backend runs on \(expected)"
        case let .invalidArgument(op, message):
            "\(op): \(message)"
        }
    }
}
