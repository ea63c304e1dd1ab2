/// Element types a ``Tensor`` can hold.
///
/// Floating types follow IEEE 754 (fp32, fp16) and Google's bfloat16; conversions into the
/// narrow types round to nearest, ties to even (see ``HalfPrecision``).
///
///     let t = try backend.zeros([4, 8], dtype: .bf16)
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case fp32, bf16, fp16, int32, int64, uint16

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .fp32, .int32: 4
        case .bf16, .fp16, .uint16: 2
        case .int64: 8
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .fp32, .bf16, .fp16: true
        case .int32, .int64, .uint16: false
        }
    }

    public var description: String { rawValue }
}
