/// GPT-2's byte-to-character mapping: every byte gets a printable character, so vocab.json and
/// merges.txt can spell byte strings as text. Printable Latin-1 bytes map to themselves; the rest
/// map, in byte order, to U+0100 and up (the `bytes_to_unicode` of GPT-2's `encoder.py`).
///
///     let ch = ByteLevelAlphabet.character(for: 0x20)   // "Ġ"
enum ByteLevelAlphabet {
    /// The character of each byte, indexed by the byte.
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte of each character (inverse of `characters`).
    static let bytes: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, ch) in characters.enumerated() { map[ch] = UInt8(b) }
        return map
    }()

    static func character(for byte: UInt8) -> Unicode.Scalar { characters[Int(byte)] }

    /// The bytes a byte-level token spells, or nil if it has a character outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for ch in token.unicodeScalars {
            guard let b = bytes[ch] else { return nil }
            out.append(b)
        }
        return out
    }

    /// The byte-level spelling of `bytes`.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(characters[Int(b)]) }
        return String(s)
    }
}
