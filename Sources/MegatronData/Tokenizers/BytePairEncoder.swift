import Synchronization

/// The byte-level BPE shared by the GPT-2, tiktoken and HF tokenizers: pre-tokenize, then merge
/// each piece's bytes by rank, lowest first (GPT-2's `bpe`, tiktoken's `byte_pair_merge` and HF's
/// BPE model give the same result), with a per-word cache. Special tokens found in the text are
/// emitted whole, as tiktoken's `allowed_special="all"` and HF's added tokens do.
///
///     let bpe = BytePairEncoder(...); let ids = bpe.encode("Hello world")
final class BytePairEncoder: Sendable {
    let preTokenizer: PreTokenizer
    /// The id of each single byte.
    private let byteIds: [Int32]
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    /// Whole-piece lookup before merging, for tokenizers that define it (tiktoken, HF `ignore_merges`).
    private let direct: ByteStringTable?
    private let specials: SpecialTokenMatcher?
    /// The bytes of every id, for decoding: `tokenBytes[tokenStart[id]..<tokenStart[id + 1]]`.
    private let tokenBytes: [UInt8]
    private let tokenStart: [Int]
    private let known: [Bool]
    private let cache = Mutex(WordCache())

    var vocabSize: Int { known.count }

    /// - Parameters:
    ///   - tokens: id → bytes (nil for ids that do not exist).
    ///   - byteIds: the id of each byte (256).
    ///   - merges: (left, right, merged, rank); a lower rank merges first, ties go leftmost.
    ///   - directLookup: whether a piece that is a token is emitted whole before merging.
    ///   - specials: text → id, recognized in the text before pre-tokenization.
    init(tokens: [[UInt8]?], byteIds: [Int32], merges: [(Int32, Int32, Int32, Int32)], directLookup: Bool,
         specials: [String: Int], preTokenizer: PreTokenizer) {
        self.preTokenizer = preTokenizer
        self.byteIds = byteIds
        var m: [UInt64: UInt64] = [:]
        m.reserveCapacity(merges.count)
        for (a, b, c, rank) in merges {
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            // The first (lowest-ranked) merge of a pair is the one BPE applies.
            if m[key] == nil { m[key] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(c)) }
        }
        self.merges = m
        var bytes: [UInt8] = [], start: [Int] = [0], known: [Bool] = []
        var table = directLookup ? ByteStringTable(capacity: tokens.count) : nil
        // Specials never come out of ordinary text, even where their bytes are also a token.
        let specialIds = Set(specials.values)
        for (id, t) in tokens.enumerated() {
            bytes.append(contentsOf: t ?? [])
            start.append(bytes.count)
            known.append(t != nil)
            if let t, !specialIds.contains(id) { table?.insert(t, value: Int64(id)) }
        }
        self.direct = table
        self.tokenBytes = bytes
        self.tokenStart = start
        self.known = known
        self.specials = specials.isEmpty ? nil : SpecialTokenMatcher(specials)
    }

    /// The ids of `text`.
    func encode(_ text: String) -> [Int] {
        var text = text
        return text.withUTF8 { buf in
            var out: [Int] = []
            out.reserveCapacity(buf.count / 3 + 1)
            // One lock per call, not per word; a call that finds the cache busy uses its own.
            let done: Void? = cache.withLockIfAvailable { cache in encode(buf, into: &out, cache: &cache) }
            if done == nil {
                var local = WordCache()
                encode(buf, into: &out, cache: &local)
            }
            return out
        }
    }

    private func encode(_ buf: UnsafeBufferPointer<UInt8>, into out: inout [Int], cache: inout WordCache) {
        guard let specials else { return encodeOrdinary(buf, into: &out, cache: &cache) }
        var start = 0
        specials.forEachMatch(buf) { range, id in
            encodeOrdinary(UnsafeBufferPointer(rebasing: buf[start..<range.lowerBound]), into: &out, cache: &cache)
            out.append(id)
            start = range.upperBound
        }
        encodeOrdinary(UnsafeBufferPointer(rebasing: buf[start...]), into: &out, cache: &cache)
    }

    private func encodeOrdinary(_ buf: UnsafeBufferPointer<UInt8>, into out: inout [Int], cache: inout WordCache) {
        guard let base = buf.baseAddress, !buf.isEmpty else { return }
        var scratch = MergeScratch()
        preTokenizer.forEachPiece(buf) { r in
            let piece = UnsafeBufferPointer(start: base + r.lowerBound, count: r.count)
            if piece.count == 1 { out.append(Int(byteIds[Int(piece[0])])); return }
            let h = ByteStringTable.hash(UnsafeRawPointer(piece.baseAddress!), piece.count)
            if let direct, let id = direct.find(piece, hash: h) { out.append(Int(id)); return }
            if cache.append(piece, hash: h, to: &out) { return }
            merge(piece, scratch: &scratch)
            for id in scratch.ids { out.append(Int(id)) }
            cache.insert(piece, hash: h, ids: scratch.ids)
        }
    }

    /// BPE on one piece: repeatedly merge the adjacent pair of lowest rank (leftmost on ties).
    /// Quadratic in the piece length, like tiktoken's, with pair ranks kept between steps.
    private func merge(_ piece: UnsafeBufferPointer<UInt8>, scratch: inout MergeScratch) {
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.ranks.removeAll(keepingCapacity: true)
        for b in piece { scratch.ids.append(byteIds[Int(b)]) }
        @inline(__always) func pair(_ a: Int32, _ b: Int32) -> UInt64 {
            merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] ?? UInt64.max
        }
        for i in 0..<(scratch.ids.count - 1) { scratch.ranks.append(pair(scratch.ids[i], scratch.ids[i + 1])) }
        while !scratch.ranks.isEmpty {
            var best = 0, bestRank = scratch.ranks[0]
            for i in 1..<scratch.ranks.count where scratch.ranks[i] < bestRank {
                best = i
                bestRank = scratch.ranks[i]
            }
            if bestRank == UInt64.max { break }
            scratch.ids[best] = Int32(truncatingIfNeeded: bestRank & 0xFFFF_FFFF)
            scratch.ids.remove(at: best + 1)
            scratch.ranks.remove(at: best)
            if best > 0 { scratch.ranks[best - 1] = pair(scratch.ids[best - 1], scratch.ids[best]) }
            if best < scratch.ranks.count { scratch.ranks[best] = pair(scratch.ids[best], scratch.ids[best + 1]) }
        }
    }

    /// The text of `ids`; invalid UTF-8 becomes U+FFFD (Python's `errors="replace"`).
    func decode(_ ids: [Int]) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0, id < known.count, known[id] else {
                throw TokenizerError.idOutOfRange(id: id, vocabSize: known.count)
            }
            bytes.append(contentsOf: tokenBytes[tokenStart[id]..<tokenStart[id + 1]])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of one id, nil if it has none.
    func bytes(of id: Int) -> [UInt8]? {
        guard id >= 0, id < known.count, known[id] else { return nil }
        return Array(tokenBytes[tokenStart[id]..<tokenStart[id + 1]])
    }
}

/// Reused buffers of one merge, so a cache miss allocates nothing after the first.
private struct MergeScratch {
    var ids: [Int32] = []
    var ranks: [UInt64] = []
}

/// Word bytes → the ids BPE gave them. Bounded: cleared when it outgrows `limit` ids.
struct WordCache: Sendable {
    private var table = ByteStringTable(capacity: 1 << 14)
    private var ids: [Int32] = []
    private let limit = 1 << 22

    /// Appends the cached ids of `word` to `out`; false if it is not cached.
    @inline(__always)
    func append(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, to out: inout [Int]) -> Bool {
        guard let v = table.find(word, hash: hash) else { return false }
        let start = Int(v >> 20), count = Int(v & 0xFFFFF)
        ids.withUnsafeBufferPointer { ids in
            for k in start..<start + count { out.append(Int(ids[k])) }
        }
        return true
    }

    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, ids new: [Int32]) {
        guard new.count < 0xFFFFF else { return }
        if ids.count + new.count > limit {
            table.removeAll()
            ids.removeAll(keepingCapacity: true)
        }
        table.insert(word, hash: hash, value: Int64(ids.count) << 20 | Int64(new.count))
        ids.append(contentsOf: new)
    }
}
