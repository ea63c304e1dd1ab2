#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing hash table from byte strings to integers that looks keys up by pointer, so
/// the tokenizer's hot path finds words without building an `Array` or `String` per word.
///
///     var table = ByteStringTable()
///     table.insert(Array("hi".utf8), value: 7)
///     let v = Array("hi".utf8).withUnsafeBufferPointer { table.find($0) }   // 7
struct ByteStringTable: Sendable {
    private var keyBytes: [UInt8] = []
    /// Per entry: key start, key length, value.
    private var entryStart: [Int32] = []
    private var entryLength: [Int32] = []
    private var entryHash: [UInt32] = []
    private(set) var values: [Int64] = []
    /// -1 for empty, else an entry index. Capacity is a power of two, at most half full.
    private var slots: [Int32]

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
    }

    var count: Int { values.count }

    /// A fast non-cryptographic hash (8 bytes a step); only equality of keys decides a match.
    @inline(__always)
    static func hash(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = (h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        }
        h ^= h >> 31
        return h
    }

    @inline(__always)
    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int64? {
        find(key, hash: Self.hash(UnsafeRawPointer(key.baseAddress ?? UnsafePointer(bitPattern: 1)!), key.count))
    }

    @inline(__always)
    func find(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int64? {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        let h32 = UInt32(truncatingIfNeeded: hash >> 32)
        return slots.withUnsafeBufferPointer { slots in
            keyBytes.withUnsafeBufferPointer { keyBytes in
                while true {
                    let e = Int(slots[i])
                    if e < 0 { return nil }
                    if entryHash[e] == h32, Int(entryLength[e]) == key.count,
                       key.count == 0 || memcmp(keyBytes.baseAddress! + Int(entryStart[e]), key.baseAddress!, key.count) == 0 {
                        return values[e]
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Inserts or replaces the value of `key`.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, value: Int64) {
        if (values.count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        let h32 = UInt32(truncatingIfNeeded: hash >> 32)
        while slots[i] >= 0 {
            let e = Int(slots[i])
            if entryHash[e] == h32, Int(entryLength[e]) == key.count,
               keyBytes[Int(entryStart[e])..<Int(entryStart[e]) + key.count].elementsEqual(key) {
                values[e] = value
                return
            }
            i = (i + 1) & mask
        }
        slots[i] = Int32(values.count)
        entryStart.append(Int32(keyBytes.count))
        entryLength.append(Int32(key.count))
        entryHash.append(h32)
        values.append(value)
        keyBytes.append(contentsOf: key)
    }

    mutating func insert(_ key: [UInt8], value: Int64) {
        key.withUnsafeBufferPointer { k in
            insert(k, hash: Self.hash(UnsafeRawPointer(k.baseAddress ?? UnsafePointer(bitPattern: 1)!), k.count), value: value)
        }
    }

    func find(_ key: [UInt8]) -> Int64? { key.withUnsafeBufferPointer { find($0) } }

    mutating func removeAll() {
        keyBytes.removeAll(keepingCapacity: true)
        entryStart.removeAll(keepingCapacity: true)
        entryLength.removeAll(keepingCapacity: true)
        entryHash.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        for i in slots.indices { slots[i] = -1 }
    }

    private mutating func grow() {
        let newSize = slots.count * 2
        var newSlots = [Int32](repeating: -1, count: newSize)
        let mask = newSize - 1
        for e in 0..<values.count {
            let start = Int(entryStart[e])
            let h = keyBytes.withUnsafeBufferPointer { Self.hash(UnsafeRawPointer(($0.baseAddress ?? UnsafePointer(bitPattern: 1)!) + start), Int(entryLength[e])) }
            var i = Int(truncatingIfNeeded: h) & mask
            while newSlots[i] >= 0 { i = (i + 1) & mask }
            newSlots[i] = Int32(e)
        }
        slots = newSlots
    }
}
