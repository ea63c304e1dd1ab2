/// The character classes the GPT-2 and cl100k split patterns distinguish: `\p{L}` (general
/// category L*), `\p{N}` (N*), `\s` (Unicode White_Space, as tiktoken's Rust engine and Python's
/// `regex` module define it; `\r` and `\n` apart because cl100k treats them specially), and the rest.
enum ScalarClass: UInt8 {
    case other = 0, letter, number, space, newline

    var isWhitespace: Bool { self == .space || self == .newline }

    /// The class of a scalar value (tables for the BMP, so the hot path never asks Unicode data).
    @inline(__always)
    static func of(_ v: UInt32) -> ScalarClass {
        if v < 0x10000 { return bmp.withUnsafeBufferPointer { unsafeBitCast($0[Int(v)], to: ScalarClass.self) } }
        return classify(v)
    }

    /// ASCII by comparisons: cheaper than any table behind a lazily initialized global.
    @inline(__always)
    static func ascii(_ b: UInt32) -> ScalarClass {
        if (b | 0x20) &- 0x61 < 26 { return .letter }
        if b &- 0x30 < 10 { return .number }
        if b == 0x20 || b &- 0x09 < 5 { return b == 0x0A || b == 0x0D ? .newline : .space }
        return .other
    }

    private static let bmp: [UInt8] = (0..<0x10000).map { classify(UInt32($0)).rawValue }

    static func classify(_ v: UInt32) -> ScalarClass {
        if v == 0x0A || v == 0x0D { return .newline }
        guard let s = Unicode.Scalar(v) else { return .other }
        let p = s.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}
