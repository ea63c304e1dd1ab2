import Foundation

// Reader and writer for the Hugging Face safetensors format:
//
//   [8 bytes: little-endian u64 N][N bytes: JSON header][data buffer]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the start of the data buffer) plus an optional "__metadata__"
// object of string → string. Everything read from a file is validated before use, so a
// corrupt or hostile file produces a `SafeTensorsError` rather than a crash.

// MARK: - Errors

/// Everything that can go wrong reading or writing a safetensors file.
///
/// `source` is the file path (or `"<memory>"` / `"<writer>"`) so that a message read in a log
/// says which file was at fault.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Reading or writing the file itself failed.
    case io(path: String, reason: String)
    /// The file is shorter than its 8-byte length prefix, or than the header length it declares.
    case truncatedHeader(source: String, fileSize: Int, declaredHeaderLength: UInt64?)
    /// The declared header length exceeds the sanity limit (the reference implementation's 100 MB).
    case headerTooLarge(source: String, declaredHeaderLength: UInt64, limit: Int)
    /// The header is not valid UTF-8 JSON of the expected structure.
    case badJSON(source: String, reason: String)
    /// A tensor's `data_offsets` are malformed or fall outside the data buffer.
    case offsetsOutOfRange(source: String, tensor: String, offsets: [Int], bufferSize: Int)
    /// Two tensors claim overlapping bytes of the data buffer.
    case overlappingOffsets(source: String, tensor: String, other: String)
    /// A tensor's byte length does not equal `product(shape) × sizeof(dtype)`
    /// (or, for the writer, the element count does not match the shape).
    case sizeMismatch(
        source: String, tensor: String, dtype: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
    /// No tensor with this name exists.
    case unknownTensor(source: String, tensor: String, available: Int)
    /// The tensor's dtype cannot be converted to what was asked for.
    case unsupportedDType(source: String, tensor: String, dtype: String, supported: [String])
    /// An integer element does not fit the requested type (e.g. an I64 value outside Int32).
    case valueOutOfRange(source: String, tensor: String, index: Int, value: String, target: String)
    /// The writer was given an unusable tensor (duplicate or reserved name, negative dimension).
    case invalidTensor(tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "safetensors I/O error on \(path): \(reason)"
        case let .truncatedHeader(source, size, declared):
            if let declared {
                return "safetensors \(source): truncated header: file has \(size) bytes but declares a "
                    + "\(declared)-byte header after the 8-byte length prefix"
            }
            return "safetensors \(source): truncated header: file has \(size) bytes, "
                + "expected at least the 8-byte header length prefix"
        case let .headerTooLarge(source, declared, limit):
            return "safetensors \(source): declared header length \(declared) exceeds the \(limit)-byte limit"
        case let .badJSON(source, reason):
            return "safetensors \(source): bad header JSON: \(reason)"
        case let .offsetsOutOfRange(source, tensor, offsets, bufferSize):
            return "safetensors \(source): tensor '\(tensor)' has data_offsets \(offsets), expected "
                + "[begin, end] with 0 <= begin <= end <= \(bufferSize) (data buffer size)"
        case let .overlappingOffsets(source, tensor, other):
            return "safetensors \(source): tensor '\(tensor)' overlaps tensor '\(other)' in the data buffer"
        case let .sizeMismatch(source, tensor, dtype, shape, expected, actual):
            return "safetensors \(source): tensor '\(tensor)' (\(dtype), shape \(shape)) should be "
                + "\(expected) bytes but has \(actual)"
        case let .unknownTensor(source, tensor, available):
            return "safetensors \(source): no tensor named '\(tensor)' (file has \(available) tensors)"
        case let .unsupportedDType(source, tensor, dtype, supported):
            return "safetensors \(source): tensor '\(tensor)' has dtype \(dtype); expected one of "
                + supported.joined(separator: ", ")
        case let .valueOutOfRange(source, tensor, index, value, target):
            return "safetensors \(source): tensor '\(tensor)' element \(index) = \(value) does not fit \(target)"
        case let .invalidTensor(tensor, reason):
            return "safetensors writer: tensor '\(tensor)': \(reason)"
        }
    }
}

// MARK: - DTypes

/// Byte sizes of the dtypes this module knows, keyed by their safetensors spelling.
/// Tensors of other dtypes are still range/overlap-checked and readable via `rawBytes`, but
/// their size cannot be validated against the shape. Distributed checkpoints accept only these.
let dtypeByteSizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
]

/// Decodes an IEEE binary16 bit pattern exactly.
///
/// Done by hand rather than through `Float16` because `Float16` is unavailable on
/// macOS x86_64, and the package must build there too. Every binary16 value is exactly
/// representable as a Float, so this is lossless.
@inline(__always)
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F {
        // Inf / NaN: keep the payload so NaNs stay NaNs.
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        // Zero or subnormal: value = mantissa × 2^-24, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))  // rebias 15 → 127
}

/// Decodes a bfloat16 bit pattern (the upper half of a Float).
@inline(__always)
func floatFromBFloat16Bits(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

// MARK: - Reader

/// A parsed safetensors file held in memory (or memory-mapped via
/// `Data(contentsOf:options: .alwaysMapped)`).
///
/// The header is fully validated at init: every tensor's offsets lie inside the data buffer,
/// no two tensors overlap, and (for known dtypes) each byte length matches its shape. Element
/// accessors therefore never read out of bounds.
public struct SafeTensorsFile: Sendable {
    /// One tensor's header record.
    public struct Entry: Sendable, Equatable {
        /// The tensor's name (its key in the header).
        public let name: String
        /// The safetensors dtype spelling, e.g. `"F32"`, `"BF16"`, `"I64"`.
        public let dtype: String
        /// The tensor's shape; `[]` is a scalar.
        public let shape: [Int]
        /// Where the tensor's bytes lie in the whole file (header included), i.e. the header's
        /// `data_offsets` shifted by `8 + headerLength`. Use with `rawBytes` or the file's bytes.
        public let byteRange: Range<Int>

        /// Product of the shape (1 for a scalar).
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// All tensors, keyed by name.
    public let entries: [String: Entry]
    /// The `__metadata__` string map (empty when the file has none).
    public let metadata: [String: String]

    /// Tensor names in file (data-offset) order, ties broken by name.
    public var names: [String] {
        entries.values.sorted {
            ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name)
        }.map(\.name)
    }

    private let bytes: Data
    private let source: String

    /// The reference implementation refuses headers above 100 MB; so do we, so that a corrupt
    /// length prefix cannot make us try to parse gigabytes of tensor data as JSON.
    static let maxHeaderLength = 100_000_000

    /// Reads (memory-maps) and parses the file at `url`.
    public init(contentsOf url: URL) throws(SafeTensorsError) {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw .io(path: url.path, reason: "\(error)")
        }
        try self.init(data: data, source: url.path)
    }

    /// Parses safetensors bytes already in memory.
    public init(data: Data) throws(SafeTensorsError) {
        try self.init(data: data, source: "<memory>")
    }

    init(data: Data, source: String) throws(SafeTensorsError) {
        // Data slices may not start at index 0; everything below uses offsets relative to
        // `data.startIndex` (which is what `withUnsafeBytes` exposes as 0).
        let total = data.count
        guard total >= 8 else {
            throw .truncatedHeader(source: source, fileSize: total, declaredHeaderLength: nil)
        }
        let declared = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(total - 8) else {
            if declared > UInt64(Self.maxHeaderLength) {
                throw .headerTooLarge(
                    source: source, declaredHeaderLength: declared, limit: Self.maxHeaderLength)
            }
            throw .truncatedHeader(source: source, fileSize: total, declaredHeaderLength: declared)
        }
        guard declared <= UInt64(Self.maxHeaderLength) else {
            throw .headerTooLarge(source: source, declaredHeaderLength: declared, limit: Self.maxHeaderLength)
        }
        let headerLength = Int(declared)
        let bufferStart = 8 + headerLength
        let bufferSize = total - bufferStart
        let headerStart = data.startIndex + 8
        let headerBytes = data[headerStart..<(headerStart + headerLength)]

        let header: RawHeader
        do {
            header = try JSONDecoder().decode(RawHeader.self, from: headerBytes)
        } catch let error as SafeTensorsError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            throw .badJSON(source: source, reason: Self.describe(context, fallback: "not valid JSON"))
        } catch let DecodingError.typeMismatch(type, context) {
            throw .badJSON(source: source, reason: Self.describe(context, fallback: "expected \(type)"))
        } catch let DecodingError.keyNotFound(key, context) {
            throw .badJSON(
                source: source,
                reason: Self.describe(context, fallback: "missing key '\(key.stringValue)'"))
        } catch let DecodingError.valueNotFound(type, context) {
            throw .badJSON(source: source, reason: Self.describe(context, fallback: "missing \(type)"))
        } catch {
            throw .badJSON(source: source, reason: "\(error)")
        }

        var entries: [String: Entry] = [:]
        entries.reserveCapacity(header.tensors.count)
        for (name, info) in header.tensors {
            guard info.dataOffsets.count == 2 else {
                throw .offsetsOutOfRange(
                    source: source, tensor: name, offsets: info.dataOffsets, bufferSize: bufferSize)
            }
            let begin = info.dataOffsets[0]
            let end = info.dataOffsets[1]
            guard begin >= 0, begin <= end, end <= bufferSize else {
                throw .offsetsOutOfRange(
                    source: source, tensor: name, offsets: info.dataOffsets, bufferSize: bufferSize)
            }
            var count = 1
            for dim in info.shape {
                guard dim >= 0 else {
                    throw .badJSON(source: source, reason: "tensor '\(name)' has negative dimension in shape \(info.shape)")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: dim)
                guard !overflow else {
                    throw .badJSON(source: source, reason: "tensor '\(name)' shape \(info.shape) overflows Int")
                }
                count = product
            }
            if let size = dtypeByteSizes[info.dtype] {
                let (expected, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow, expected == end - begin else {
                    throw .sizeMismatch(
                        source: source, tensor: name, dtype: info.dtype, shape: info.shape,
                        expectedBytes: overflow ? Int.max : expected, actualBytes: end - begin)
                }
            }
            entries[name] = Entry(
                name: name, dtype: info.dtype, shape: info.shape,
                byteRange: (bufferStart + begin)..<(bufferStart + end))
        }

        // Overlap check: sort non-empty ranges and compare neighbours. Empty tensors occupy no
        // bytes, so they may legitimately share an offset with anything.
        let occupied = entries.values.filter { !$0.byteRange.isEmpty }.sorted {
            ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name)
        }
        for (previous, next) in zip(occupied, occupied.dropFirst())
        where next.byteRange.lowerBound < previous.byteRange.upperBound {
            throw .overlappingOffsets(source: source, tensor: next.name, other: previous.name)
        }

        self.entries = entries
        self.metadata = header.metadata
        self.bytes = data
        self.source = source
    }

    private static func describe(_ context: DecodingError.Context, fallback: String) -> String {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        let what = context.debugDescription.isEmpty ? fallback : context.debugDescription
        return path.isEmpty ? what : "at '\(path)': \(what)"
    }

    /// Looks up a tensor's header record.
    public func entry(_ name: String) throws(SafeTensorsError) -> Entry {
        guard let entry = entries[name] else {
            throw .unknownTensor(source: source, tensor: name, available: entries.count)
        }
        return entry
    }

    /// Element values converted to Float (accepts F32, F16, BF16, F64, I8, I16, I32, I64, U8, U16).
    ///
    /// F64 and 64-bit integers are rounded to the nearest Float.
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        let entry = try entry(name)
        switch entry.dtype {
        case "F32": return decode(entry, UInt32.self) { Float(bitPattern: $0) }
        case "F16": return decode(entry, UInt16.self, floatFromHalfBits)
        case "BF16": return decode(entry, UInt16.self, floatFromBFloat16Bits)
        case "F64": return decode(entry, UInt64.self) { Float(Double(bitPattern: $0)) }
        case "I8": return decode(entry, UInt8.self) { Float(Int8(bitPattern: $0)) }
        case "I16": return decode(entry, UInt16.self) { Float(Int16(bitPattern: $0)) }
        case "I32": return decode(entry, UInt32.self) { Float(Int32(bitPattern: $0)) }
        case "I64": return decode(entry, UInt64.self) { Float(Int64(bitPattern: $0)) }
        case "U8": return decode(entry, UInt8.self) { Float($0) }
        case "U16": return decode(entry, UInt16.self) { Float($0) }
        default:
            throw .unsupportedDType(
                source: source, tensor: name, dtype: entry.dtype,
                supported: ["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "U8", "U16"])
        }
    }

    /// Element values as Int32 (accepts I32, I64, and the narrower I8/I16/U8/U16).
    ///
    /// I64 values are range-checked: one outside Int32 throws `valueOutOfRange`.
    public func int32s(_ name: String) throws(SafeTensorsError) -> [Int32] {
        let entry = try entry(name)
        switch entry.dtype {
        case "I32": return decode(entry, UInt32.self) { Int32(bitPattern: $0) }
        case "I16": return decode(entry, UInt16.self) { Int32(Int16(bitPattern: $0)) }
        case "I8": return decode(entry, UInt8.self) { Int32(Int8(bitPattern: $0)) }
        case "U16": return decode(entry, UInt16.self) { Int32($0) }
        case "U8": return decode(entry, UInt8.self) { Int32($0) }
        case "I64":
            let wide = decode(entry, UInt64.self) { Int64(bitPattern: $0) }
            var out = [Int32]()
            out.reserveCapacity(wide.count)
            for (index, value) in wide.enumerated() {
                guard let narrow = Int32(exactly: value) else {
                    throw .valueOutOfRange(
                        source: source, tensor: name, index: index, value: "\(value)", target: "Int32")
                }
                out.append(narrow)
            }
            return out
        default:
            throw .unsupportedDType(
                source: source, tensor: name, dtype: entry.dtype,
                supported: ["I32", "I64", "I16", "I8", "U16", "U8"])
        }
    }

    /// The tensor's bytes exactly as stored (little-endian), copied out of the file.
    public func rawBytes(_ name: String) throws(SafeTensorsError) -> Data {
        let entry = try entry(name)
        let start = bytes.startIndex
        return bytes.subdata(in: (start + entry.byteRange.lowerBound)..<(start + entry.byteRange.upperBound))
    }

    /// Calls `body` with the whole file's bytes (memory-mapped when opened from a URL, so nothing
    /// is copied); `Entry.byteRange` indexes into them.
    func withFileBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = bytes.withUnsafeBytes { raw in
            do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Reads `entry`'s elements as little-endian `Raw` values and maps each through `convert`.
    /// Loads are unaligned because the data buffer starts at `8 + N`, which need not be aligned
    /// for files from writers that do not pad the header.
    private func decode<Raw: FixedWidthInteger, T>(
        _ entry: Entry, _: Raw.Type, _ convert: (Raw) -> T
    ) -> [T] {
        let width = MemoryLayout<Raw>.size
        // For known dtypes init validated byteRange.count == elementCount × width; derive the
        // count from the byte range anyway so a read can never run past the range.
        let count = entry.byteRange.count / width
        let base = entry.byteRange.lowerBound
        return bytes.withUnsafeBytes { raw -> [T] in
            var out = [T]()
            out.reserveCapacity(count)
            for i in 0..<count {
                out.append(convert(Raw(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * width, as: Raw.self))))
            }
            return out
        }
    }
}

/// The header as decoded from JSON, before validation against the data buffer.
private struct RawHeader: Decodable {
    struct TensorInfo: Decodable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]

        enum CodingKeys: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }
    }

    /// Header keys are arbitrary tensor names, so decode through a dynamic key type.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var tensors: [String: TensorInfo] = [:]
    var metadata: [String: String] = [:]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                // The format (and the reference reader) requires string → string.
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                tensors[key.stringValue] = try container.decode(TensorInfo.self, forKey: key)
            }
        }
    }
}

// MARK: - Writer

/// Builds a safetensors file.
///
/// Tensors are laid out in insertion order; the header is padded with spaces to a multiple
/// of 8 bytes (as the reference implementation does) so the data buffer is 8-byte aligned.
/// `add` does not throw; the first problem it sees (duplicate name, shape/count mismatch) is
/// reported by `serialized()` / `write(to:)`.
public struct SafeTensorsWriter: Sendable {
    private struct Pending: Sendable {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: Data
    }

    private var metadata: [String: String]
    private var tensors: [Pending] = []
    private var names: Set<String> = []
    private var firstError: SafeTensorsError?

    /// Starts an empty file with the given `__metadata__` (omitted from the header when empty).
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds an F32 tensor.
    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        var data = Data(capacity: floats.count * 4)
        for value in floats { appendLittleEndian(value.bitPattern, to: &data) }
        append(name, dtype: "F32", shape: shape, count: floats.count, bytes: data)
    }

    /// Adds an I32 tensor.
    public mutating func add(_ name: String, int32s: [Int32], shape: [Int]) {
        var data = Data(capacity: int32s.count * 4)
        for value in int32s { appendLittleEndian(UInt32(bitPattern: value), to: &data) }
        append(name, dtype: "I32", shape: shape, count: int32s.count, bytes: data)
    }

    /// Adds a tensor from already-encoded little-endian bytes of any dtype (e.g. BF16).
    /// For known dtypes the byte count must equal `product(shape) × sizeof(dtype)`.
    public mutating func add(_ name: String, rawBytes: Data, dtype: String, shape: [Int]) {
        guard let size = dtypeByteSizes[dtype] else {
            append(name, dtype: dtype, shape: shape, count: nil, bytes: rawBytes)
            return
        }
        guard rawBytes.count % size == 0 else {
            let expected = checkedElementCount(shape).map { $0.multipliedReportingOverflow(by: size) }
            record(.sizeMismatch(
                source: "<writer>", tensor: name, dtype: dtype, shape: shape,
                expectedBytes: expected.flatMap { $0.overflow ? nil : $0.partialValue } ?? Int.max,
                actualBytes: rawBytes.count))
            return
        }
        append(name, dtype: dtype, shape: shape, count: rawBytes.count / size, bytes: rawBytes)
    }

    private mutating func record(_ error: SafeTensorsError) {
        if firstError == nil { firstError = error }
    }

    private mutating func append(_ name: String, dtype: String, shape: [Int], count: Int?, bytes: Data) {
        guard name != "__metadata__" else {
            record(.invalidTensor(tensor: name, reason: "'__metadata__' is reserved for the metadata map"))
            return
        }
        guard !names.contains(name) else {
            record(.invalidTensor(tensor: name, reason: "added twice"))
            return
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            record(.invalidTensor(tensor: name, reason: "negative dimension in shape \(shape)"))
            return
        }
        if let count {
            let size = dtypeByteSizes[dtype] ?? 1
            let expected = checkedElementCount(shape)
            guard expected == count else {
                let expectedBytes = expected.map { $0.multipliedReportingOverflow(by: size) }
                record(.sizeMismatch(
                    source: "<writer>", tensor: name, dtype: dtype, shape: shape,
                    expectedBytes: expectedBytes.flatMap { $0.overflow ? nil : $0.partialValue } ?? Int.max,
                    actualBytes: count * size))
                return
            }
        }
        names.insert(name)
        tensors.append(Pending(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// The complete file contents.
    public func serialized() throws(SafeTensorsError) -> Data {
        let layout = try fileLayout()
        var out = Data(capacity: layout.chunks.reduce(0) { $0 + $1.count })
        for chunk in layout.chunks { out.append(chunk) }
        return out
    }

    /// The file as chunks to write in order (the length prefix and header, then each tensor's
    /// bytes), and where each tensor's bytes lie in the whole file. Writing the chunks one by one
    /// spares a second in-memory copy of every tensor.
    func fileLayout() throws(SafeTensorsError) -> (chunks: [Data], byteRanges: [String: Range<Int>]) {
        if let firstError { throw firstError }

        // Build the header by hand so key order is deterministic (metadata first, then tensors in
        // insertion order), which keeps output byte-identical across runs.
        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += "\"__metadata__\":{"
            header += metadata.keys.sorted().map { key in
                "\(jsonString(key)):\(jsonString(metadata[key] ?? ""))"
            }.joined(separator: ",")
            header += "}"
            first = false
        }
        var offset = 0
        var relativeRanges: [(String, Range<Int>)] = []
        for tensor in tensors {
            if !first { header += "," }
            first = false
            let end = offset + tensor.bytes.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header += "\(jsonString(tensor.name)):{\"dtype\":\(jsonString(tensor.dtype)),"
                + "\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"
            relativeRanges.append((tensor.name, offset..<end))
            offset = end
        }
        header += "}"

        var headerBytes = Data(header.utf8)
        let padding = (8 - headerBytes.count % 8) % 8
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))

        var prefix = Data(capacity: 8 + headerBytes.count)
        appendLittleEndian(UInt64(headerBytes.count), to: &prefix)
        prefix.append(headerBytes)
        let start = prefix.count
        var byteRanges: [String: Range<Int>] = [:]
        for (name, range) in relativeRanges { byteRanges[name] = (start + range.lowerBound)..<(start + range.upperBound) }
        return ([prefix] + tensors.map(\.bytes), byteRanges)
    }

    /// Writes the file atomically: the bytes go to a temporary file in the same directory, are
    /// fsynced, and the file is renamed over `url` (then the directory is fsynced), so readers
    /// never see a half-written file, even after a crash.
    public func write(to url: URL) throws(SafeTensorsError) {
        let chunks = try fileLayout().chunks
        do {
            try DurableFile.writeAtomically(chunks, to: url.path)
        } catch {
            throw .io(path: url.path, reason: error.description)
        }
    }
}

/// Product of `shape`, or nil if it overflows Int (or a dimension is negative).
private func checkedElementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dim in shape {
        guard dim >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dim)
        guard !overflow else { return nil }
        count = product
    }
    return count
}

private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to data: inout Data) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
}

/// JSON string literal for `s`: escapes quote, backslash and control characters; everything
/// else is emitted as raw UTF-8, which JSON permits.
private func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default:
            out.unicodeScalars.append(scalar)
        }
    }
    out += "\""
    return out
}
