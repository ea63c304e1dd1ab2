/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every shard in a
/// distributed checkpoint.
///
/// Chosen over SHA-256 for speed on multi-gigabyte checkpoints (slicing-by-8, several bytes per
/// cycle in plain Swift); it detects every error burst up to 32 bits, so any single corrupted
/// byte, and all but 2⁻³² of random damage. It guards against damage, not tampering.
///
///     CRC32C.checksum(Array("123456789".utf8))  // 0xE3069283
public struct CRC32C: Sendable {
    /// `tables[k][b]`: the CRC of byte b followed by k zero bytes (slicing-by-8).
    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 0 ? 0 : 0x82F6_3B78) }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            for k in 1..<8 {
                let previous = tables[k - 1][byte]
                tables[k][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    /// Starts an empty checksum.
    public init() {}

    /// The checksum of everything added so far.
    public var value: UInt32 { ~state }

    /// Adds the bytes of a buffer.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = state
        let count = bytes.count
        var i = 0
        Self.tables.withUnsafeBufferPointer { t in
            let (t0, t1, t2, t3) = (t[0], t[1], t[2], t[3])
            let (t4, t5, t6, t7) = (t[4], t[5], t[6], t[7])
            while count &- i >= 8 {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ UInt64(crc)
                crc = t7[Int(word & 0xFF)] ^ t6[Int((word >> 8) & 0xFF)]
                    ^ t5[Int((word >> 16) & 0xFF)] ^ t4[Int((word >> 24) & 0xFF)]
                    ^ t3[Int((word >> 32) & 0xFF)] ^ t2[Int((word >> 40) & 0xFF)]
                    ^ t1[Int((word >> 48) & 0xFF)] ^ t0[Int(word >> 56)]
                i &+= 8
            }
            while i < count {
                crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(bytes[i])) & 0xFF)]
                i &+= 1
            }
        }
        state = crc
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// The checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// 8 lowercase hex digits, as the checkpoint index stores it.
    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
