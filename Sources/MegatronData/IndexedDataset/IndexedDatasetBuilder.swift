#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a `prefix.bin` / `prefix.idx` pair byte-identical to megatron-core's
/// `IndexedDatasetBuilder` (`add_item`, `end_document`, `add_document`, `add_index`,
/// `finalize`).
///
/// Tokens stream to a temporary `.bin` as they come; ``finish()`` writes the temporary `.idx`,
/// then renames both into place, `.idx` last. A crash or an error before that leaves only the
/// temporaries (removed when the builder is released), never a half-written pair under the
/// final names.
///
/// ```swift
/// let builder = try IndexedDatasetBuilder(prefix: "out/wiki", dtype: .optimal(vocabSize: 50257))
/// try builder.add(sequence: [464, 2068, 7586])
/// builder.endDocument()
/// try builder.finish()
/// ```
public final class IndexedDatasetBuilder {
    /// The path the pair will have, without `.idx` / `.bin`.
    public let prefix: String
    /// Element type of the `.bin` file.
    public let dtype: IndexedDType

    private var sequenceLengths: [Int32] = []
    private var documentIndices: [Int] = [0]
    private var bin: FileWriter?
    private let binTemp: String
    private let idxTemp: String

    /// Starts a dataset that ``finish()`` will publish as `prefix.bin` and `prefix.idx`.
    ///
    /// ```swift
    /// let builder = try IndexedDatasetBuilder(prefix: "out/c4", dtype: .int32)
    /// ```
    public init(prefix: String, dtype: IndexedDType) throws(IndexedDatasetError) {
        self.prefix = prefix
        self.dtype = dtype
        // pid plus a random tag: two builders aimed at one prefix must not share temporaries.
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        binTemp = "\(prefix).bin.partial-\(tag)"
        idxTemp = "\(prefix).idx.partial-\(tag)"
        bin = try FileWriter(path: binTemp)
    }

    deinit {
        // Not finished: drop the temporaries so nothing half-written is left behind.
        if let bin {
            bin.discard()
            unlink(binTemp)
            unlink(idxTemp)
        }
    }

    /// Appends one sequence (megatron-core's `add_item`). It belongs to the document that the
    /// next ``endDocument()`` closes.
    ///
    /// ```swift
    /// try builder.add(sequence: tokenizer.encode(sentence))
    /// ```
    /// - Throws: ``IndexedDatasetError/tokenOutOfRange(path:value:dtype:)`` when a token does not
    ///   fit ``dtype`` exactly (Megatron would wrap it silently); nothing is written then.
    public func add<C: Collection>(sequence tokens: C) throws(IndexedDatasetError) where C.Element: BinaryInteger {
        let writer = try openWriter()
        guard tokens.count <= Int(Int32.max) else {
            throw .tokenOutOfRange(path: prefix, value: "sequence of \(tokens.count) tokens (at most \(Int32.max))", dtype: dtype)
        }
        // Check before writing so a bad token leaves the .bin and the lengths in step.
        for token in tokens where !Self.fits(token, dtype) {
            throw .tokenOutOfRange(path: prefix, value: "\(token)", dtype: dtype)
        }
        for token in tokens { try Self.write(token, dtype, to: writer) }
        sequenceLengths.append(Int32(tokens.count))
    }

    /// Closes the current document (megatron-core's `end_document`): the sequences added since
    /// the last call form one document. Calling it twice in a row makes an empty document, as in
    /// Megatron.
    ///
    /// ```swift
    /// for sentence in document { try builder.add(sequence: sentence) }
    /// builder.endDocument()
    /// ```
    public func endDocument() {
        documentIndices.append(sequenceLengths.count)
    }

    /// Appends a whole document (megatron-core's `add_document`): `tokens` split into
    /// sequences of `lengths`, then ``endDocument()``.
    ///
    /// ```swift
    /// try builder.add(document: [1, 2, 3, 4, 5], lengths: [2, 3])
    /// ```
    /// - Throws: ``IndexedDatasetError/lengthsMismatch(path:tokenCount:lengthsSum:)`` when the
    ///   lengths do not add up to the token count (Megatron would write a corrupt index).
    public func add<C: Collection>(document tokens: C, lengths: [Int]) throws(IndexedDatasetError) where C.Element: BinaryInteger {
        let sum = lengths.reduce(0, +)
        guard sum == tokens.count, lengths.allSatisfy({ $0 >= 0 }) else {
            throw .lengthsMismatch(path: prefix, tokenCount: tokens.count, lengthsSum: sum)
        }
        for token in tokens where !Self.fits(token, dtype) {
            throw .tokenOutOfRange(path: prefix, value: "\(token)", dtype: dtype)
        }
        var start = tokens.startIndex
        for length in lengths {
            let end = tokens.index(start, offsetBy: length)
            try add(sequence: tokens[start..<end])
            start = end
        }
        endDocument()
    }

    /// Appends every document of the dataset at `other` (megatron-core's `add_index`): its
    /// sequences follow ours, its document indices are shifted by our sequence count, and its
    /// tokens are copied from the mapping. A document still open here absorbs nothing: the
    /// merged documents start where `other`'s do, exactly as in Megatron.
    ///
    /// ```swift
    /// for shard in shards { try builder.append(contentsOf: shard) }
    /// ```
    /// - Throws: ``IndexedDatasetError`` if `other` does not open, or
    ///   ``IndexedDatasetError/dtypeMismatch(path:expected:found:)`` if its dtype differs.
    public func append(contentsOf other: String) throws(IndexedDatasetError) {
        let writer = try openWriter()
        let source = try IndexedDataset(prefix: other)
        guard source.dtype == dtype else {
            throw .dtypeMismatch(path: other + ".idx", expected: dtype, found: source.dtype)
        }
        // Copy sequence by sequence rather than the whole file as Megatron does: identical for
        // Megatron-written files, and still right for one whose .bin has trailing bytes or
        // sequences out of order (our offsets are recomputed from the lengths).
        for s in 0..<source.sequenceCount {
            try source.withSequenceBytes(s) { (bytes) throws(IndexedDatasetError) in try writer.append(bytes) }
        }
        let shift = sequenceLengths.count
        sequenceLengths.append(contentsOf: source.sequenceLengths)
        documentIndices.append(contentsOf: source.documentIndices.dropFirst().map { $0 + shift })
    }

    /// Writes the `.idx` and publishes the pair under `prefix`. Sequences added after the last
    /// ``endDocument()`` become one final document (Megatron would leave them outside every
    /// document, an index its own loaders mishandle and ours rejects).
    ///
    /// ```swift
    /// try builder.finish()
    /// let data = try IndexedDataset(prefix: builder.prefix)
    /// ```
    public func finish() throws(IndexedDatasetError) {
        let binWriter = try openWriter()
        if documentIndices.last != sequenceLengths.count { endDocument() }
        try binWriter.close()
        bin = nil
        do {
            try writeIndex()
            try rename(binTemp, prefix + ".bin")
            try rename(idxTemp, prefix + ".idx")
        } catch {
            unlink(binTemp)
            unlink(idxTemp)
            throw error
        }
    }

    // MARK: - Helpers

    private func openWriter() throws(IndexedDatasetError) -> FileWriter {
        guard let bin else { throw .builderFinished(path: prefix) }
        return bin
    }

    /// megatron-core's `_IndexWriter`: header, counts, i32 lengths, i64 byte offsets computed
    /// from the lengths, i64 document indices; no padding anywhere.
    private func writeIndex() throws(IndexedDatasetError) {
        let idx = try FileWriter(path: idxTemp)
        for byte in IndexHeader.magic { try idx.append(byte) }
        try idx.append(IndexHeader.version)
        try idx.append(dtype.rawValue)
        try idx.append(UInt64(sequenceLengths.count))
        try idx.append(UInt64(documentIndices.count))
        for length in sequenceLengths { try idx.append(length) }
        var pointer: Int64 = 0
        for length in sequenceLengths {
            try idx.append(pointer)
            pointer += Int64(length) * Int64(dtype.size)
        }
        for index in documentIndices { try idx.append(Int64(index)) }
        try idx.close()
    }

    private func rename(_ from: String, _ to: String) throws(IndexedDatasetError) {
        guard systemRename(from, to) == 0 else { throw .io(path: to, operation: "rename from \(from)", errno: errno) }
    }

    static func fits<T: BinaryInteger>(_ token: T, _ dtype: IndexedDType) -> Bool {
        switch dtype {
        case .uint8: UInt8(exactly: token) != nil
        case .int8: Int8(exactly: token) != nil
        case .int16: Int16(exactly: token) != nil
        case .uint16: UInt16(exactly: token) != nil
        case .int32: Int32(exactly: token) != nil
        case .int64: Int64(exactly: token) != nil
        case .float32: Float(exactly: token) != nil
        case .float64: Double(exactly: token) != nil
        }
    }

    /// Writes a token already checked by ``fits(_:_:)``.
    static func write<T: BinaryInteger>(_ token: T, _ dtype: IndexedDType, to writer: FileWriter) throws(IndexedDatasetError) {
        switch dtype {
        case .uint8: try writer.append(UInt8(token))
        case .int8: try writer.append(Int8(token))
        case .int16: try writer.append(Int16(token))
        case .uint16: try writer.append(UInt16(token))
        case .int32: try writer.append(Int32(token))
        case .int64: try writer.append(Int64(token))
        case .float32: try writer.append(Float(token).bitPattern)
        case .float64: try writer.append(Double(token).bitPattern)
        }
    }
}

/// `rename(2)`; a free function because inside the builder the name means its own method.
private func systemRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
