/// Decoding as sentencepiece's `SentencePieceProcessor::Decode`: control pieces vanish, the
/// unknown piece shows as its surface (" ⁇ "), "▁" becomes a space, the dummy-prefix space of
/// the first piece is dropped, and runs of byte pieces are reassembled into UTF-8 with each
/// invalid byte replaced by U+FFFD.
extension SentencePieceModel {
    /// The text of `ids`, as `sp.decode(ids)`; an id outside 0..<pieceCount throws.
    public func decode(_ ids: some Collection<Int>) throws -> String {
        var text: [UInt8] = [], pendingBytes: [UInt8] = []
        // Only a piece at the very start (nothing visible before it) loses its leading "▁".
        var expectingPrefix = true, prefixConsumed = false
        for id in ids {
            guard pieces.indices.contains(id) else { throw TokenizerError.idOutOfRange(id: id, vocabSize: pieces.count) }
            if let byte = byteValues[id] {
                pendingBytes.append(byte)
                continue
            }
            Self.appendValidUTF8(pendingBytes, to: &text)
            pendingBytes.removeAll(keepingCapacity: true)
            if prefixConsumed || !text.isEmpty { expectingPrefix = false }
            prefixConsumed = false
            switch types[id] {
            case .control: continue
            case .unknown:
                text += unkSurface
                continue
            default: break
            }
            var piece = pieces[id][...]
            if expectingPrefix && (addDummyPrefix || removeExtraWhitespaces), piece.starts(with: Self.spaceSymbol) {
                piece = piece.dropFirst(Self.spaceSymbol.count)
                // With remove_extra_whitespaces every leading "▁" piece is dropped, not just one.
                prefixConsumed = !removeExtraWhitespaces
            }
            Self.appendReplacingSpaceSymbol(piece, to: &text)
        }
        Self.appendValidUTF8(pendingBytes, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    private static func appendReplacingSpaceSymbol(_ piece: ArraySlice<UInt8>, to text: inout [UInt8]) {
        var i = piece.startIndex
        while i < piece.endIndex {
            if piece[i] == 0xE2, piece.endIndex - i >= 3, piece[i + 1] == 0x96, piece[i + 2] == 0x81 {
                text.append(0x20)
                i += 3
            } else {
                text.append(piece[i])
                i += 1
            }
        }
    }

    /// Appends `bytes` character by character; a byte that does not start a valid UTF-8
    /// character becomes U+FFFD on its own (sentencepiece's rule, which differs from Swift's
    /// `String(decoding:)` for truncated sequences).
    static func appendValidUTF8(_ bytes: [UInt8], to text: inout [UInt8]) {
        var i = 0
        while i < bytes.count {
            if let length = validCharacterLength(bytes, at: i) {
                text += bytes[i..<(i + length)]
                i += length
            } else {
                text += [0xEF, 0xBF, 0xBD]
                i += 1
            }
        }
    }

    /// sentencepiece's `DecodeUTF8` validity check: well-formed, shortest form, no surrogates.
    private static func validCharacterLength(_ b: [UInt8], at i: Int) -> Int? {
        let left = b.count - i
        func trail(_ k: Int) -> UInt32? { b[i + k] & 0xC0 == 0x80 ? UInt32(b[i + k] & 0x3F) : nil }
        func valid(_ c: UInt32) -> Bool { c < 0xD800 || (0xE000...0x10FFFF).contains(c) }
        let lead = b[i]
        if lead < 0x80 { return 1 }
        if left >= 2, lead & 0xE0 == 0xC0, let t1 = trail(1) {
            let c = UInt32(lead & 0x1F) << 6 | t1
            return c >= 0x80 && valid(c) ? 2 : nil
        }
        if left >= 3, lead & 0xF0 == 0xE0, let t1 = trail(1), let t2 = trail(2) {
            let c = UInt32(lead & 0x0F) << 12 | t1 << 6 | t2
            return c >= 0x800 && valid(c) ? 3 : nil
        }
        if left >= 4, lead & 0xF8 == 0xF0, let t1 = trail(1), let t2 = trail(2), let t3 = trail(3) {
            let c = UInt32(lead & 0x07) << 18 | t1 << 12 | t2 << 6 | t3
            return c >= 0x10000 && valid(c) ? 4 : nil
        }
        return nil
    }
}
