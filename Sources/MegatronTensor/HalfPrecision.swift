/// Conversions between fp32 and the 16-bit float formats, rounding to nearest, ties to even.
///
///     let bits = HalfPrecision.bf16Bits(1.0 / 3.0)   // 0x3EAB
///     let back = HalfPrecision.float(bf16Bits: bits)
public enum HalfPrecision {
    /// The bfloat16 nearest to `value` (ties to even); NaN stays a quiet NaN of the same sign.
    @inlinable
    public static func bf16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let roundingBias: UInt32 = 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    @inlinable
    public static func float(bf16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The IEEE binary16 nearest to `value` (ties to even, overflow to infinity).
    @inlinable
    public static func fp16Bits(_ value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    @inlinable
    public static func float(fp16Bits bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }
}
