/// A minimal reader of the protobuf wire format over one message's bytes, enough for
/// sentencepiece's `ModelProto`: varints, fixed32 and length-delimited fields, and skipping the
/// rest. Every failure is a `TokenizerError.file` naming the byte offset in the whole file, so a
/// truncated or corrupt model reports where it broke instead of trapping.
struct SentencePieceWireReader {
    /// Protobuf wire types (groups, 3 and 4, are deprecated and never used by sentencepiece).
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    /// One field's key: its number, wire type and the offset of the key in the file.
    struct Key {
        var number: Int
        var wireType: WireType
        var offset: Int
    }

    let bytes: [UInt8]
    let path: String
    /// Next byte to read; the reader ends at `end` (the enclosing message's end).
    private(set) var offset: Int
    let end: Int

    init(bytes: [UInt8], path: String, range: Range<Int>? = nil) {
        self.bytes = bytes
        self.path = path
        offset = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    /// A reader of the nested message whose bytes are `range`.
    func nested(_ range: Range<Int>) -> SentencePieceWireReader {
        SentencePieceWireReader(bytes: bytes, path: path, range: range)
    }

    var isAtEnd: Bool { offset >= end }

    func error(_ message: String, at offset: Int) -> TokenizerError {
        .file(path: path, message: "\(message) at offset \(offset)")
    }

    /// The next field's key, or nil at the end of the message.
    mutating func nextKey() throws -> Key? {
        if isAtEnd { return nil }
        let start = offset
        let key = try varint()
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else {
            throw error("invalid protobuf field number \(number)", at: start)
        }
        guard let wireType = WireType(rawValue: key & 7) else {
            throw error("unsupported protobuf wire type \(key & 7) for field \(number)", at: start)
        }
        return Key(number: Int(number), wireType: wireType, offset: start)
    }

    mutating func varint() throws -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        // A varint has at most 10 bytes (64 bits in 7-bit groups).
        for shift in stride(from: 0, to: 70, by: 7) {
            guard offset < end else { throw error("truncated varint", at: start) }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw error("varint longer than 10 bytes", at: start)
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - offset >= 4 else { throw error("truncated fixed32", at: offset) }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
        offset += 4
        return value
    }

    /// The byte range of a length-delimited field's payload (the reader moves past it).
    mutating func lengthDelimited() throws -> Range<Int> {
        let start = offset
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw error("length \(length) runs past the end of the message (\(end - offset) bytes left)", at: start)
        }
        let range = offset..<(offset + Int(length))
        offset = range.upperBound
        return range
    }

    /// Skips a field this reader does not need.
    mutating func skip(_ key: Key) throws {
        switch key.wireType {
        case .varint: _ = try varint()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed64:
            guard end - offset >= 8 else { throw error("truncated fixed64", at: offset) }
            offset += 8
        }
    }

    /// Checks that `key` has the wire type its field is declared with.
    func expect(_ key: Key, _ wireType: WireType) throws {
        guard key.wireType == wireType else {
            throw error("field \(key.number) has wire type \(key.wireType.rawValue), expected \(wireType.rawValue)",
                        at: key.offset)
        }
    }

    // Typed accessors, with protobuf's conversions (int32 keeps the low 32 bits of the varint).

    mutating func int32(_ key: Key) throws -> Int32 {
        try expect(key, .varint)
        return Int32(truncatingIfNeeded: try varint())
    }

    mutating func bool(_ key: Key) throws -> Bool {
        try expect(key, .varint)
        return try varint() != 0
    }

    mutating func float(_ key: Key) throws -> Float {
        try expect(key, .fixed32)
        return Float(bitPattern: try fixed32())
    }

    mutating func bytesField(_ key: Key) throws -> [UInt8] {
        try expect(key, .lengthDelimited)
        return Array(bytes[try lengthDelimited()])
    }

    mutating func message(_ key: Key) throws -> SentencePieceWireReader {
        try expect(key, .lengthDelimited)
        return nested(try lengthDelimited())
    }
}
