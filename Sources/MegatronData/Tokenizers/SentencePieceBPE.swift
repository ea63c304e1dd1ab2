/// BPE encoding as sentencepiece's `bpe::Model::SampleEncode` (without dropout) and
/// `SentencePieceProcessor::PopulateSentencePieceText`: a linked list of symbols and a priority
/// queue of adjacent pairs that are pieces, so a text of n bytes costs O(n log n).
extension SentencePieceModel {
    /// The ids of `text`, as `sp.encode(text)`.
    public func encode(_ text: String) -> [Int] {
        encode(utf8: text.utf8)
    }

    func encode(utf8 text: some Collection<UInt8>) -> [Int] {
        let normalized = normalize(text)
        if normalized.isEmpty { return [] }
        return normalized.withUnsafeBufferPointer { buffer in
            var ids: [Int] = []
            ids.reserveCapacity(buffer.count / 3)
            var isPrevUnknown = false
            func emit(_ id: Int, _ bytes: some Sequence<UInt8>) {
                let isUnknown = types[id] == .unknown
                if isUnknown && byteFallback {
                    // An unknown piece becomes the byte pieces of its UTF-8 bytes.
                    for byte in bytes { ids.append(byteIds[Int(byte)]) }
                } else if !(isUnknown && isPrevUnknown) {
                    // A run of unknown pieces is one unknown id.
                    ids.append(id)
                }
                isPrevUnknown = isUnknown
            }
            let (ranges, reverseMerges) = mergeSymbols(buffer, normalized)
            for range in ranges {
                let id = pieceId(buffer, range)
                if types[id] == .unused, reverseMerges[Array(buffer[range])] != nil {
                    for (bytes, id) in resegment(Array(buffer[range]), reverseMerges) { emit(id, bytes) }
                } else {
                    emit(id, buffer[range])
                }
            }
            return ids
        }
    }

    /// sentencepiece's `PieceToId`: reserved pieces first, then mergeable ones, else unknown.
    func pieceId(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        reserved.id(text, range) ?? mergeable.id(text, range) ?? unkId
    }

    /// The byte ranges of the symbols left when no adjacent pair merges into a piece any more.
    /// Also returns, for each UNUSED piece a merge produced, the two symbols it was made of.
    private func mergeSymbols(_ text: UnsafeBufferPointer<UInt8>, _ array: [UInt8])
        -> ([Range<Int>], [[UInt8]: ([UInt8], [UInt8])])
    {
        // Symbols are contiguous, so each is a start and a length; merged-away ones get length 0.
        var start: [Int32] = [], length: [Int32] = [], prev: [Int32] = [], next: [Int32] = []
        var frozen: [Bool] = []
        var i = 0
        while i < text.count {
            // User-defined pieces are atomic: never merged with their neighbours.
            let ud = userDefinedLength(array, at: i)
            let n = ud > 0 ? ud : Self.utf8Length(array, at: i)
            let index = Int32(start.count)
            start.append(Int32(i)); length.append(Int32(n)); frozen.append(ud > 0)
            prev.append(index - 1)
            i += n
            next.append(i < text.count ? index + 1 : -1)
        }

        var agenda = SentencePiecePairQueue()
        var reverseMerges: [[UInt8]: ([UInt8], [UInt8])] = [:]
        func addPair(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0, !frozen[Int(left)], !frozen[Int(right)] else { return }
            let lo = Int(start[Int(left)]), size = Int(length[Int(left)] + length[Int(right)])
            guard let id = mergeable.id(text, lo..<(lo + size)) else { return }
            agenda.push(.init(score: scores[id], left: left, right: right, size: Int32(size)))
            if types[id] == .unused {
                let cut = lo + Int(length[Int(left)])
                reverseMerges[Array(text[lo..<(lo + size)])] = (Array(text[lo..<cut]), Array(text[cut..<(lo + size)]))
            }
        }
        for s in 1..<Int32(start.count) { addPair(s - 1, s) }

        while let top = agenda.pop() {
            let l = Int(top.left), r = Int(top.right)
            // Stale entries: a side was merged away or grew since the pair was queued.
            if length[l] == 0 || length[r] == 0 || length[l] + length[r] != top.size { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = top.left }
            addPair(prev[l], top.left)
            addPair(top.left, next[l])
        }

        var ranges: [Range<Int>] = []
        var s: Int32 = 0
        while s >= 0 {
            let lo = Int(start[Int(s)])
            ranges.append(lo..<(lo + Int(length[Int(s)])))
            s = next[Int(s)]
        }
        return (ranges, reverseMerges)
    }

    /// An UNUSED piece is not emitted: it is split back into the two symbols it was merged
    /// from, recursively (sentencepiece's `resegment` with `rev_merge`).
    private func resegment(_ piece: [UInt8], _ reverseMerges: [[UInt8]: ([UInt8], [UInt8])]) -> [([UInt8], Int)] {
        let id = piece.withUnsafeBufferPointer { pieceId($0, 0..<$0.count) }
        guard types[id] == .unused, let (left, right) = reverseMerges[piece] else { return [(piece, id)] }
        return resegment(left, reverseMerges) + resegment(right, reverseMerges)
    }
}

/// The agenda of candidate merges: a binary max-heap ordered as sentencepiece's
/// `SymbolPairComparator` (higher score first; ties go to the leftmost pair).
struct SentencePiecePairQueue {
    struct Pair {
        var score: Float
        var left: Int32
        var right: Int32
        var size: Int32

        func precedes(_ other: Pair) -> Bool {
            score > other.score || (score == other.score && left < other.left)
        }
    }

    private var heap: [Pair] = []

    mutating func push(_ pair: Pair) {
        heap.append(pair)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Pair? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var parent = 0
        while true {
            let l = 2 * parent + 1, r = l + 1
            var best = parent
            if l < heap.count, heap[l].precedes(heap[best]) { best = l }
            if r < heap.count, heap[r].precedes(heap[best]) { best = r }
            if best == parent { break }
            heap.swapAt(parent, best)
            parent = best
        }
        return top
    }
}
