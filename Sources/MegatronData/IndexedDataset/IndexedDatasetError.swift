import Foundation

/// Why an IndexedDataset pair could not be opened, read or written. Every reading case names the
/// file and the byte offset of the offending field, and says what was expected there, so a
/// corrupt dataset can be found with `xxd` rather than a debugger.
///
/// ```swift
/// do { _ = try IndexedDataset(prefix: "data/wiki_text_document") }
/// catch let error as IndexedDatasetError { print(error) }  // "data/wiki_text_document.idx: ..."
/// ```
public enum IndexedDatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call (`open`, `fstat`, `mmap`, `write`, `rename`, ...) failed with `errno`.
    case io(path: String, operation: String, errno: Int32)
    /// The file ends at `fileSize` but `field` needs bytes up to `offset + needed`.
    case truncated(path: String, field: String, offset: Int, needed: Int, fileSize: Int)
    /// Bytes 0..<9 are not `MMIDIDX\0\0`.
    case badMagic(path: String, found: [UInt8])
    /// The u64 at byte 9 is not 1, the only version Megatron writes.
    case unsupportedVersion(path: String, found: UInt64)
    /// The u8 at byte 17 is not a dtype code 1...8.
    case unknownDType(path: String, code: UInt8)
    /// The counts at bytes 18 and 26 need `requiredBytes` (nil: more than 2^64) but the file has
    /// only `fileSize`.
    case countsExceedFile(path: String, sequenceCount: UInt64, documentCount: UInt64, requiredBytes: UInt64?, fileSize: Int)
    /// Sequence `sequence`'s length (an i32 at `offset`) is negative.
    case negativeSequenceLength(path: String, sequence: Int, offset: Int, length: Int32)
    /// Document index `index` (an i64 at `offset`; nil when the array is empty) breaks the rule
    /// in `expected`: the indices run from 0, never decrease, and end at the sequence count.
    case invalidDocumentIndex(path: String, index: Int, offset: Int, found: Int64?, expected: String)
    /// The `.bin` file holds `actualBytes` but the index's sequence lengths add up to `expectedBytes`.
    case binTooShort(path: String, expectedBytes: Int, actualBytes: Int)
    /// Sequence `sequence` (byte offset stored at `offset` in the `.idx`) covers
    /// `byteOffset ..< byteOffset + byteCount`, which is not inside the `.bin`'s `binSize` bytes.
    case sequenceOutOfBounds(path: String, sequence: Int, offset: Int, byteOffset: Int64, byteCount: Int64, binSize: Int)
    /// A read asked for tokens outside the dataset (a caller bug, not a file problem).
    case tokenRangeOutOfBounds(sequence: Int, offset: Int, count: Int?, sequenceCount: Int, sequenceLength: Int?)
    /// A stored value (at byte `offset` of the `.bin`) does not fit the requested integer type,
    /// e.g. an int64 or float token read as Int32.
    case tokenNotRepresentable(path: String, offset: Int, value: String, dtype: IndexedDType)
    /// The builder was given a token its dtype cannot hold exactly.
    case tokenOutOfRange(path: String, value: String, dtype: IndexedDType)
    /// `add(document:lengths:)` was given lengths that do not add up to the token count.
    case lengthsMismatch(path: String, tokenCount: Int, lengthsSum: Int)
    /// A merged prefix stores `found` tokens but the builder writes `expected`.
    case dtypeMismatch(path: String, expected: IndexedDType, found: IndexedDType)
    /// The builder was used after `finish()`.
    case builderFinished(path: String)

    public var description: String {
        switch self {
        case let .io(path, operation, errno):
            return "\(path): \(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case let .truncated(path, field, offset, needed, fileSize):
            return "\(path): file ends at byte \(fileSize), expected \(needed) bytes of \(field) at offset \(offset)"
        case let .badMagic(path, found):
            let hex = found.map { String($0, radix: 16) }.joined(separator: " ")
            return "\(path): offset 0: expected magic MMIDIDX\\0\\0, found bytes [\(hex)]"
        case let .unsupportedVersion(path, found):
            return "\(path): offset 9: expected version 1, found \(found)"
        case let .unknownDType(path, code):
            return "\(path): offset 17: expected a dtype code 1...8, found \(code)"
        case let .countsExceedFile(path, sequenceCount, documentCount, requiredBytes, fileSize):
            let need = requiredBytes.map(String.init) ?? "more than 2^64"
            return "\(path): offset 18: \(sequenceCount) sequences and \(documentCount) document indices need \(need) bytes, file has \(fileSize)"
        case let .negativeSequenceLength(path, sequence, offset, length):
            return "\(path): offset \(offset): expected a non-negative length for sequence \(sequence), found \(length)"
        case let .invalidDocumentIndex(path, index, offset, found, expected):
            return "\(path): offset \(offset): document index \(index) is \(found.map(String.init) ?? "missing"), expected \(expected)"
        case let .binTooShort(path, expectedBytes, actualBytes):
            return "\(path): expected at least \(expectedBytes) bytes (the index's sequence lengths), file has \(actualBytes)"
        case let .sequenceOutOfBounds(path, sequence, offset, byteOffset, byteCount, binSize):
            return "\(path): offset \(offset): sequence \(sequence) covers bytes \(byteOffset)..<\(byteOffset &+ byteCount), expected within the .bin's \(binSize) bytes"
        case let .tokenRangeOutOfBounds(sequence, offset, count, sequenceCount, sequenceLength):
            let length = sequenceLength.map { "sequence length \($0)" } ?? "\(sequenceCount) sequences"
            return "tokens(sequence: \(sequence), offset: \(offset), count: \(count.map(String.init) ?? "nil")) is outside the dataset (\(length))"
        case let .tokenNotRepresentable(path, offset, value, dtype):
            return "\(path): offset \(offset): \(dtype) value \(value) does not fit the requested integer type"
        case let .tokenOutOfRange(path, value, dtype):
            return "\(path): token \(value) cannot be stored exactly as \(dtype)"
        case let .lengthsMismatch(path, tokenCount, lengthsSum):
            return "\(path): document of \(tokenCount) tokens given sequence lengths adding up to \(lengthsSum)"
        case let .dtypeMismatch(path, expected, found):
            return "\(path): expected dtype \(expected), found \(found)"
        case let .builderFinished(path):
            return "\(path): builder already finished"
        }
    }
}
