import Foundation
import Testing
@testable import MegatronData

/// Each corruption of a valid pair gives its own ``IndexedDatasetError`` case, naming the file
/// and offset, instead of a crash.
@Suite("IndexedDataset validation errors")
struct IndexedDatasetErrorTests {
    /// A valid uint16 pair: 3 sequences (lengths 2, 3, 1) in 2 documents, so
    /// lengths at 34, offsets at 46, document indices at 70, 94 bytes of .idx, 12 of .bin.
    final class Pair {
        let scratch: ScratchFolder
        let prefix: String
        let idx: [UInt8]
        let bin: [UInt8]
        var idxPath: String { prefix + ".idx" }
        var binPath: String { prefix + ".bin" }

        init() throws {
            scratch = try ScratchFolder()
            prefix = scratch.prefix("d")
            let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: .uint16)
            try builder.add(sequence: [1, 2]); try builder.add(sequence: [3, 4, 5]); builder.endDocument()
            try builder.add(sequence: [6]); builder.endDocument()
            try builder.finish()
            idx = try fileBytes(prefix + ".idx")
            bin = try fileBytes(prefix + ".bin")
        }

        /// Writes `idx` and `bin` (defaults: the valid ones) and opens them.
        func open(idx: [UInt8]? = nil, bin: [UInt8]? = nil) throws -> IndexedDataset {
            try writeBytes(idx ?? self.idx, idxPath)
            try writeBytes(bin ?? self.bin, binPath)
            return try IndexedDataset(prefix: prefix)
        }

        func patched<T: FixedWidthInteger>(_ value: T, at offset: Int) -> [UInt8] {
            var bytes = idx
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + $0.count, with: $0) }
            return bytes
        }
    }

    @Test func validPairOpens() throws {
        let pair = try Pair()
        #expect(pair.idx.count == 94 && pair.bin.count == 12)
        #expect(try pair.open().allDocuments() == [[[1, 2], [3, 4, 5]], [[6]]])
    }

    @Test func missingFiles() throws {
        let pair = try Pair()
        #expect(throws: IndexedDatasetError.io(path: pair.prefix + "x.idx", operation: "open", errno: ENOENT)) {
            try IndexedDataset(prefix: pair.prefix + "x")
        }
        try FileManager.default.removeItem(atPath: pair.binPath)
        #expect(throws: IndexedDatasetError.io(path: pair.binPath, operation: "open", errno: ENOENT)) {
            try IndexedDataset(prefix: pair.prefix)
        }
    }

    @Test func truncatedIndex() throws {
        let pair = try Pair()
        let cases: [(Int, IndexedDatasetError)] = [
            (0, .truncated(path: pair.idxPath, field: "magic", offset: 0, needed: 9, fileSize: 0)),
            (12, .truncated(path: pair.idxPath, field: "version", offset: 9, needed: 8, fileSize: 12)),
            (17, .truncated(path: pair.idxPath, field: "dtype code", offset: 17, needed: 1, fileSize: 17)),
            (20, .truncated(path: pair.idxPath, field: "sequence and document counts", offset: 18, needed: 16, fileSize: 20)),
            (93, .countsExceedFile(path: pair.idxPath, sequenceCount: 3, documentCount: 3, requiredBytes: 94, fileSize: 93)),
            (40, .countsExceedFile(path: pair.idxPath, sequenceCount: 3, documentCount: 3, requiredBytes: 94, fileSize: 40)),
        ]
        for (size, error) in cases {
            #expect(throws: error) { try pair.open(idx: Array(pair.idx.prefix(size))) }
        }
    }

    @Test func wrongMagicVersionAndDType() throws {
        let pair = try Pair()
        var magic = pair.idx; magic[3] = UInt8(ascii: "X")
        #expect(throws: IndexedDatasetError.badMagic(path: pair.idxPath, found: Array(magic[0..<9]))) { try pair.open(idx: magic) }
        #expect(throws: IndexedDatasetError.unsupportedVersion(path: pair.idxPath, found: 2)) { try pair.open(idx: pair.patched(UInt64(2), at: 9)) }
        for code: UInt8 in [0, 9, 255] {
            #expect(throws: IndexedDatasetError.unknownDType(path: pair.idxPath, code: code)) { try pair.open(idx: pair.patched(code, at: 17)) }
        }
    }

    @Test func countsTooLarge() throws {
        let pair = try Pair()
        #expect(throws: IndexedDatasetError.countsExceedFile(path: pair.idxPath, sequenceCount: 4, documentCount: 3, requiredBytes: 106, fileSize: 94)) {
            try pair.open(idx: pair.patched(UInt64(4), at: 18))
        }
        // 12 N overflows 64 bits: reported as such, not trapped or wrapped.
        #expect(throws: IndexedDatasetError.countsExceedFile(path: pair.idxPath, sequenceCount: .max, documentCount: 3, requiredBytes: nil, fileSize: 94)) {
            try pair.open(idx: pair.patched(UInt64.max, at: 18))
        }
        #expect(throws: IndexedDatasetError.countsExceedFile(path: pair.idxPath, sequenceCount: 3, documentCount: 1 << 61, requiredBytes: nil, fileSize: 94)) {
            try pair.open(idx: pair.patched(UInt64(1) << 61, at: 26))
        }
    }

    @Test func badLengthsAndDocumentIndices() throws {
        let pair = try Pair()
        #expect(throws: IndexedDatasetError.negativeSequenceLength(path: pair.idxPath, sequence: 1, offset: 38, length: -3)) {
            try pair.open(idx: pair.patched(Int32(-3), at: 38))
        }
        // Fewer document indices (trailing bytes are allowed) with none left: D = 0.
        #expect(throws: IndexedDatasetError.invalidDocumentIndex(path: pair.idxPath, index: 0, offset: 70, found: nil, expected: "at least one document index (0)")) {
            try pair.open(idx: pair.patched(UInt64(0), at: 26))
        }
        // (offset, value, index): first not 0, past N, decreasing, last not N.
        let cases: [(Int, Int64, Int)] = [(70, 1, 0), (78, 4, 1), (86, 1, 2), (86, 2, 2)]
        for (offset, value, index) in cases {
            #expect {
                try pair.open(idx: pair.patched(value, at: offset))
            } throws: { error in
                guard case let .invalidDocumentIndex(path, i, o, found, _) = error as? IndexedDatasetError else { return false }
                return path == pair.idxPath && i == index && o == offset && found == value
            }
        }
    }

    @Test func binTooShortAndOffsetsPastTheEnd() throws {
        let pair = try Pair()
        #expect(throws: IndexedDatasetError.binTooShort(path: pair.binPath, expectedBytes: 12, actualBytes: 11)) {
            try pair.open(bin: Array(pair.bin.prefix(11)))
        }
        #expect(throws: IndexedDatasetError.binTooShort(path: pair.binPath, expectedBytes: 12, actualBytes: 0)) {
            try pair.open(bin: [])
        }
        #expect(throws: IndexedDatasetError.sequenceOutOfBounds(path: pair.binPath, sequence: 2, offset: 62, byteOffset: 11, byteCount: 2, binSize: 12)) {
            try pair.open(idx: pair.patched(Int64(11), at: 62))
        }
        #expect(throws: IndexedDatasetError.sequenceOutOfBounds(path: pair.binPath, sequence: 0, offset: 46, byteOffset: -2, byteCount: 4, binSize: 12)) {
            try pair.open(idx: pair.patched(Int64(-2), at: 46))
        }
        #expect(throws: IndexedDatasetError.sequenceOutOfBounds(path: pair.binPath, sequence: 1, offset: 54, byteOffset: .max, byteCount: 6, binSize: 12)) {
            try pair.open(idx: pair.patched(Int64.max, at: 54))
        }
        // A longer .bin is fine (Megatron never reads past the indexed bytes).
        #expect(try pair.open(bin: pair.bin + [9, 9, 9]).sequenceCount == 3)
    }

    @Test func wideValuesDoNotWrapIntoInt32() throws {
        let scratch = try ScratchFolder(), prefix = scratch.prefix("w")
        let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: .int64)
        try builder.add(sequence: [5, Int64(Int32.max) + 1]); try builder.finish()
        let data = try IndexedDataset(prefix: prefix)
        #expect(try data.wideTokens(sequence: 0, offset: 0, count: nil) == [5, 1 << 31])
        #expect(try data.tokens(sequence: 0, offset: 0, count: 1) == [5])
        #expect(throws: IndexedDatasetError.tokenNotRepresentable(path: prefix + ".bin", offset: 8, value: "2147483648", dtype: .int64)) {
            try data.tokens(sequence: 0, offset: 0, count: nil)
        }
    }

    @Test func descriptionsNameFileOffsetAndExpectation() {
        let error = IndexedDatasetError.unsupportedVersion(path: "/d/x.idx", found: 7)
        #expect(error.description == "/d/x.idx: offset 9: expected version 1, found 7")
        let doc = IndexedDatasetError.invalidDocumentIndex(path: "/d/x.idx", index: 2, offset: 86, found: 1, expected: "3")
        #expect(doc.description.contains("/d/x.idx") && doc.description.contains("offset 86") && doc.description.contains("expected 3"))
    }
}
