/// sentencepiece's `Normalizer::Normalize` for the identity normalizer (no character map):
/// whitespace handling only. Works on UTF-8 bytes, as sentencepiece does.
extension SentencePieceModel {
    /// U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's whitespace meta symbol.
    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]

    /// The normalized bytes of `text`: spaces → "▁" (escape_whitespaces), a "▁" in front
    /// (add_dummy_prefix), and leading/trailing/repeated spaces dropped (remove_extra_whitespaces).
    func normalize(_ input: some Collection<UInt8>) -> [UInt8] {
        let input = Array(input)
        var i = 0
        if removeExtraWhitespaces {
            while i < input.count, prefixLength(input, at: i) == 1, input[i] == 0x20 { i += 1 }
        }
        if i == input.count { return [] }  // empty, or whitespace only

        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 2 + 3)
        let space: [UInt8] = escapeWhitespaces ? Self.spaceSymbol : [0x20]
        if !treatWhitespaceAsSuffix && addDummyPrefix { out += space }

        var isPrevSpace = removeExtraWhitespaces
        while i < input.count {
            // One character, or a whole user-defined symbol (which may contain spaces).
            let length = prefixLength(input, at: i)
            var start = i
            let end = i + length
            while isPrevSpace && start < end && input[start] == 0x20 { start += 1 }
            if start < end {
                for byte in input[start..<end] {
                    if byte == 0x20 { out += space } else { out.append(byte) }
                }
                isPrevSpace = input[end - 1] == 0x20
            }
            i = end
            if !removeExtraWhitespaces { isPrevSpace = false }
        }

        if removeExtraWhitespaces {
            while out.count >= space.count, Array(out.suffix(space.count)) == space { out.removeLast(space.count) }
        }
        if treatWhitespaceAsSuffix && addDummyPrefix { out += space }
        return out
    }

    /// Bytes of the unit starting at `i`: the longest user-defined piece there, else one UTF-8
    /// character (a stray byte counts as one, as sentencepiece's `OneCharLen` does).
    func prefixLength(_ text: [UInt8], at i: Int) -> Int {
        if maxUserDefinedLength > 0 {
            let ud = userDefinedLength(text, at: i)
            if ud > 0 { return ud }
        }
        return Self.utf8Length(text, at: i)
    }

    func userDefinedLength(_ text: [UInt8], at i: Int) -> Int {
        guard maxUserDefinedLength > 0 else { return 0 }
        return text.withUnsafeBufferPointer { buffer in
            var length = min(maxUserDefinedLength, buffer.count - i)
            while length > 0 {
                if let id = mergeable.id(buffer, i..<(i + length)), types[id] == .userDefined { return length }
                length -= 1
            }
            return 0
        }
    }

    static func utf8Length(_ text: [UInt8], at i: Int) -> Int {
        let lead = text[i]
        let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 1
        return min(length, text.count - i)
    }
}
