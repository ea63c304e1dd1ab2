/// The character classes the GPT-2 and cl100k split patterns distinguish: `\p{L}` (general
/// category L*), `\p{N}` (N*), `\s` (Unicode White_Space, as tiktoken's Rust engine and Python's
/// `regex` module define it; `\r` and `\n` apart because cl100k treats them specially), and the rest.
enum ScalarClass: UInt8 {
    case other = 0, letter, number, space, newline

    var isWhitespace: Bool { self == .space || self == .newline }

    /// The class of a scalar value (tables for the BMP, so the hot path never asks Unicode data).
    @inline(__always)
    static func of(_ v: UInt32) -> ScalarClass {
        if v < 0x10000 { return ScalarClass(rawValue: bmp[Int(v)])! }
        return classify(v)
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
