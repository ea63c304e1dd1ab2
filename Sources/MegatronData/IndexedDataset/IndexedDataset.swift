/// A Megatron-LM tokenised dataset, the `prefix.idx` / `prefix.bin` pair that megatron-core's
/// `IndexedDataset` reads and `tools/preprocess_data.py` writes, memory-mapped read-only.
///
/// Opening checks the whole index against both file sizes, so every later read is in bounds;
/// token reads copy straight out of the mapping (no intermediate buffer).
///
/// ```swift
/// let data = try IndexedDataset(prefix: "data/wiki_text_document")
/// let first = try data.tokens(sequence: 0, offset: 0, count: nil)
/// ```
public final class IndexedDataset: TokenSequences {
    /// The path without `.idx` / `.bin`.
    public let prefix: String
    /// Element type of the `.bin` file.
    public let dtype: IndexedDType
    /// Tokens in each sequence, copied out of the index (``TokenSequences`` wants an array).
    public let sequenceLengths: [Int32]
    /// Document k is sequences `documentIndices[k] ..< documentIndices[k + 1]`; starts at 0 and
    /// ends at ``sequenceCount`` (checked on open).
    public let documentIndices: [Int]

    let index: MappedFile
    let bin: MappedFile
    let header: IndexHeader

    /// Number of sequences (the `.idx` header's u64 at byte 18).
    public var sequenceCount: Int { header.sequenceCount }
    /// Number of documents: one less than the `.idx` header's document-index count at byte 26.
    public var documentCount: Int { header.documentIndexCount - 1 }

    /// Opens and validates `prefix.idx` and `prefix.bin`.
    ///
    /// ```swift
    /// let data = try IndexedDataset(prefix: "/data/c4_en_text_document")
    /// ```
    /// - Throws: ``IndexedDatasetError`` naming the file, offset and expectation that failed.
    public init(prefix: String) throws(IndexedDatasetError) {
        self.prefix = prefix
        let index = try MappedFile(path: prefix + ".idx")
        let header = try IndexHeader(of: index)
        let bin = try MappedFile(path: prefix + ".bin")
        self.index = index
        self.bin = bin
        self.header = header
        dtype = header.dtype
        sequenceLengths = try Self.readLengths(index, header)
        documentIndices = try Self.readDocumentIndices(index, header)
        try Self.checkSequenceBounds(index, header, sequenceLengths, bin)
    }

    /// Byte offset of sequence `sequence` in the `.bin` file (its i64 in the `.idx`).
    ///
    /// ```swift
    /// let start = data.sequenceByteOffset(3)
    /// ```
    public func sequenceByteOffset(_ sequence: Int) -> Int {
        precondition(sequence >= 0 && sequence < sequenceCount, "sequence \(sequence) out of 0..<\(sequenceCount)")
        return Int(index.load(Int64.self, at: header.pointersOffset + 8 * sequence))
    }

    /// All sequence byte offsets (Megatron's `sequence_pointers`), read from the mapped index.
    ///
    /// ```swift
    /// let offsets = data.sequenceByteOffsets  // [0, 6, 10, ...] for uint16
    /// ```
    public var sequenceByteOffsets: [Int] { (0..<sequenceCount).map(sequenceByteOffset) }

    /// `count` tokens of `sequence` from `offset` (to the end when nil), widened to Int32.
    ///
    /// ```swift
    /// let window = try data.tokens(sequence: 5, offset: 10, count: 128)
    /// ```
    /// - Throws: ``IndexedDatasetError/tokenRangeOutOfBounds(sequence:offset:count:sequenceCount:sequenceLength:)``
    ///   for a range outside the sequence, ``IndexedDatasetError/tokenNotRepresentable(path:offset:value:dtype:)``
    ///   for an int64/float value that is not an exact Int32.
    public func tokens(sequence: Int, offset: Int, count: Int?) throws -> [Int32] {
        try read(sequence: sequence, offset: offset, count: count)
    }

    /// Like ``tokens(sequence:offset:count:)`` but as Int64, which holds every int64 token and
    /// every integral float up to 2^63.
    ///
    /// ```swift
    /// let ids = try data.wideTokens(sequence: 0, offset: 0, count: nil)
    /// ```
    public func wideTokens(sequence: Int, offset: Int, count: Int?) throws(IndexedDatasetError) -> [Int64] {
        try read(sequence: sequence, offset: offset, count: count)
    }

    /// The raw little-endian bytes of sequence `sequence`, without copying; valid while `self`
    /// lives. Used by the builder to merge datasets.
    func withSequenceBytes<R, E: Error>(_ sequence: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let start = sequenceByteOffset(sequence), count = Int(sequenceLengths[sequence]) * dtype.size
        return try body(UnsafeRawBufferPointer(rebasing: bin.bytes[start ..< start + count]))
    }
}

// MARK: - Validation on open

extension IndexedDataset {
    static func readLengths(_ index: MappedFile, _ header: IndexHeader) throws(IndexedDatasetError) -> [Int32] {
        var lengths = [Int32](repeating: 0, count: header.sequenceCount)
        for i in 0..<header.sequenceCount {
            let offset = header.lengthsOffset + 4 * i
            let length = index.load(Int32.self, at: offset)
            guard length >= 0 else {
                throw .negativeSequenceLength(path: index.path, sequence: i, offset: offset, length: length)
            }
            lengths[i] = length
        }
        return lengths
    }

    static func readDocumentIndices(_ index: MappedFile, _ header: IndexHeader) throws(IndexedDatasetError) -> [Int] {
        let path = index.path, n = Int64(header.sequenceCount), base = header.documentIndicesOffset
        guard header.documentIndexCount > 0 else {
            throw .invalidDocumentIndex(path: path, index: 0, offset: base, found: nil, expected: "at least one document index (0)")
        }
        var indices = [Int](repeating: 0, count: header.documentIndexCount)
        var previous: Int64 = 0
        for k in 0..<header.documentIndexCount {
            let offset = base + 8 * k
            let value = index.load(Int64.self, at: offset)
            if k == 0, value != 0 {
                throw .invalidDocumentIndex(path: path, index: k, offset: offset, found: value, expected: "0 (the first document starts at sequence 0)")
            }
            if value < previous || value > n {
                throw .invalidDocumentIndex(path: path, index: k, offset: offset, found: value, expected: "a value in \(previous)...\(n) (non-decreasing, at most the sequence count)")
            }
            if k == header.documentIndexCount - 1, value != n {
                throw .invalidDocumentIndex(path: path, index: k, offset: offset, found: value, expected: "\(n) (the last index is the sequence count)")
            }
            indices[k] = Int(value)
            previous = value
        }
        return indices
    }

    /// Two checks, so a truncated `.bin` and a corrupt pointer read differently: the lengths must
    /// add up to no more than the `.bin` size (Megatron writes the sequences back to back), and
    /// each sequence's own byte range must lie inside the `.bin`.
    static func checkSequenceBounds(_ index: MappedFile, _ header: IndexHeader, _ lengths: [Int32], _ bin: MappedFile) throws(IndexedDatasetError) {
        let itemSize = Int64(header.dtype.size), binSize = Int64(bin.size)
        // Overflow-checked throughout: 2^32 lengths near 2^31 would pass 2^63, and a hostile
        // index must give an error, not a trap.
        var total: Int64 = 0, overflow = false
        for length in lengths where !overflow {
            let (bytes, o1) = Int64(length).multipliedReportingOverflow(by: itemSize)
            (total, overflow) = total.addingReportingOverflow(bytes)
            overflow = overflow || o1
        }
        guard !overflow, total <= binSize else {
            throw .binTooShort(path: bin.path, expectedBytes: overflow ? Int.max : Int(total), actualBytes: bin.size)
        }
        for i in 0..<header.sequenceCount {
            let offset = header.pointersOffset + 8 * i
            let start = index.load(Int64.self, at: offset), count = Int64(lengths[i]) * itemSize
            // count <= total <= binSize here, so binSize - count cannot overflow.
            guard start >= 0, start <= binSize - count else {
                throw .sequenceOutOfBounds(path: bin.path, sequence: i, offset: offset, byteOffset: start, byteCount: count, binSize: bin.size)
            }
        }
    }
}
