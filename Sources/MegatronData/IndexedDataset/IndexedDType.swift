/// Element type of a Megatron `.bin` file, with the numeric code the `.idx` header stores at
/// byte 17 (megatron-core's `DType` enum: the codes are part of the file format).
///
/// ```swift
/// let dtype = IndexedDType.optimal(vocabSize: tokenizer.vocabSize)  // .uint16 below 65500
/// ```
public enum IndexedDType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 1
    case int8 = 2
    case int16 = 3
    case int32 = 4
    case int64 = 5
    case float64 = 6
    case float32 = 7
    case uint16 = 8

    /// Bytes per element in the `.bin` file.
    ///
    /// ```swift
    /// let bytes = IndexedDType.uint16.size * tokenCount  // 2 * tokenCount
    /// ```
    public var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16, .uint16: 2
        case .int32, .float32: 4
        case .int64, .float64: 8
        }
    }

    /// The dtype megatron-core's preprocessing picks for a vocabulary (`DType.optimal_dtype`):
    /// uint16 when `vocabSize < 65500`, else int32. The 36-id margin below 65536 is Megatron's,
    /// kept so our files match theirs; nil (unknown vocabulary) gives int32 as in Megatron.
    ///
    /// ```swift
    /// IndexedDType.optimal(vocabSize: 50257)   // .uint16
    /// IndexedDType.optimal(vocabSize: 128256)  // .int32
    /// ```
    public static func optimal(vocabSize: Int?) -> IndexedDType {
        if let vocabSize, vocabSize < 65500 { return .uint16 }
        return .int32
    }

    /// numpy's name for the type (`"uint16"`), as megatron-core and its fixtures spell it.
    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .float64: "float64"
        case .float32: "float32"
        case .uint16: "uint16"
        }
    }

    /// The dtype numpy calls `name` (`"uint16"`), or nil.
    ///
    /// ```swift
    /// let dtype = IndexedDType(name: "int32")  // .int32
    /// ```
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }
}
