/// Piece bytes → id, looked up by a byte range of the text being encoded. BPE asks for every
/// candidate pair, so the lookup hashes the range in place (open addressing, FNV-1a) instead of
/// building a `String` or `[UInt8]` key each time.
struct SentencePiecePieceTable: Sendable {
    /// All pieces' bytes back to back; piece `id` is `storage[starts[id]..<starts[id + 1]]`.
    private let storage: [UInt8]
    private let starts: [Int]
    /// Ids by hash slot; -1 marks an empty slot.
    private var slots: [Int32]
    private let mask: Int

    /// A table over `pieces` (all of them, indexed by id) that will hold the ids `insert` adds.
    init(pieces: [[UInt8]], capacity: Int) {
        var storage: [UInt8] = [], starts = [0]
        storage.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        for piece in pieces {
            storage += piece
            starts.append(storage.count)
        }
        self.storage = storage
        self.starts = starts
        // Load factor at most 1/2 keeps probe runs short.
        var size = 16
        while size < 2 * capacity { size *= 2 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    /// Adds `id`; returns the id already holding the same bytes instead, if any.
    mutating func insert(_ id: Int) -> Int? {
        let range = starts[id]..<starts[id + 1]
        let found = storage.withUnsafeBufferPointer { find($0, range) }
        if let existing = found.id { return existing }
        slots[found.slot] = Int32(id)
        return nil
    }

    /// The id whose piece is `text[range]`, if any.
    func id(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        find(text, range).id
    }

    func id(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { find($0, 0..<$0.count).id }
    }

    /// The slot holding `text[range]` (with its id) or the empty slot where it would go.
    private func find(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (slot: Int, id: Int?) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in range {
            hash = (hash ^ UInt64(text[i])) &* 0x0000_0100_0000_01b3
        }
        var slot = Int(truncatingIfNeeded: hash ^ (hash >> 29)) & mask
        return storage.withUnsafeBufferPointer { storage in
            while true {
                let id = Int(slots[slot])
                if id < 0 { return (slot, nil) }
                let start = starts[id], count = starts[id + 1] - start
                if count == range.count {
                    var equal = true
                    for k in 0..<count where storage[start + k] != text[range.lowerBound + k] {
                        equal = false
                        break
                    }
                    if equal { return (slot, id) }
                }
                slot = (slot + 1) & mask
            }
        }
    }
}
