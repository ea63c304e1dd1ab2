import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A little-endian integer array in NumPy's `.npy` format (versions 1 and 2, C order), the
/// format megatron-core caches its dataset indices in.
///
///     try NumpyArrayFile.write([0, 3, 1, 2], dtype: .uint32, shape: [4], to: "shuffle_index.npy")
///     let array = try NumpyArrayFile.read("shuffle_index.npy")   // array.values == [0, 3, 1, 2]
public struct NumpyArrayFile: Equatable, Sendable {
    /// The integer dtypes Megatron's index arrays use.
    public enum DType: String, Sendable, CaseIterable {
        case int16 = "<i2", int32 = "<i4", uint32 = "<u4", int64 = "<i8"

        var byteCount: Int {
            switch self {
            case .int16: 2
            case .int32, .uint32: 4
            case .int64: 8
            }
        }

        /// Whether every value in `range` fits.
        func holds(_ range: ClosedRange<Int>) -> Bool {
            switch self {
            case .int16: range.lowerBound >= Int(Int16.min) && range.upperBound <= Int(Int16.max)
            case .int32: range.lowerBound >= Int(Int32.min) && range.upperBound <= Int(Int32.max)
            case .uint32: range.lowerBound >= 0 && range.upperBound <= Int(UInt32.max)
            case .int64: true
            }
        }
    }

    public let dtype: DType
    public let shape: [Int]
    /// The elements in C (row-major) order.
    public let values: [Int]

    public init(dtype: DType, shape: [Int], values: [Int]) {
        self.dtype = dtype
        self.shape = shape
        self.values = values
    }

    /// Why a `.npy` file cannot be used; `path` names the file.
    public struct FormatError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): not a usable .npy integer array: \(reason)" }
    }

    /// Reads the file at `path`.
    public static func read(_ path: String) throws -> NumpyArrayFile {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        func fail(_ reason: String) -> FormatError { FormatError(path: path, reason: reason) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("missing the \\x93NUMPY magic") }
        let major = bytes[6]
        let (headerStart, headerLength): (Int, Int)
        switch major {
        case 1: (headerStart, headerLength) = (10, Int(file.load(UInt16.self, at: 8)))
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            (headerStart, headerLength) = (12, Int(file.load(UInt32.self, at: 8)))
        default: throw fail("format version \(major) (expected 1, 2 or 3)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("header runs past the end of the file") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header).flatMap({ $0.split(separator: "'").first.map(String.init) }),
              let dtype = DType(rawValue: descr.replacingOccurrences(of: "|", with: "<"))
        else { throw fail("dtype is not one of \(DType.allCases.map(\.rawValue)) in header \(header)") }
        guard field("fortran_order", in: header)?.hasPrefix("False") == true else { throw fail("Fortran order is not supported") }
        guard let shapeText = field("shape", in: header), let open = shapeText.firstIndex(of: "("),
              let close = shapeText.firstIndex(of: ")")
        else { throw fail("no shape in header \(header)") }
        let dims = shapeText[shapeText.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = try dims.map { d -> Int in
            guard let n = Int(d), n >= 0 else { throw fail("bad dimension \(d)") }
            return n
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * dtype.byteCount else {
            throw fail("holds \(bytes.count - dataStart) data bytes; shape \(shape) of \(dtype.rawValue) needs \(count * dtype.byteCount)")
        }
        var values = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let offset = dataStart + i * dtype.byteCount
            switch dtype {
            case .int16: values[i] = Int(file.load(Int16.self, at: offset))
            case .int32: values[i] = Int(file.load(Int32.self, at: offset))
            case .uint32: values[i] = Int(file.load(UInt32.self, at: offset))
            case .int64: values[i] = Int(file.load(Int64.self, at: offset))
            }
        }
        return NumpyArrayFile(dtype: dtype, shape: shape, values: values)
    }

    /// Writes `values` as a version-1 `.npy` file (the header padded to 64 bytes, as NumPy does),
    /// through a temporary file renamed into place, so a reader never sees a partial array.
    public static func write(_ values: [Int], dtype: DType, shape: [Int], to path: String) throws {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let temporary = path + ".tmp.\(getpid())"
        let writer = try FileWriter(path: temporary)
        do {
            try writer.append(contentsOf: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
            try writer.append(UInt16(header.utf8.count))
            try writer.append(contentsOf: Array(header.utf8))
            for v in values {
                switch dtype {
                case .int16: try writer.append(Int16(truncatingIfNeeded: v))
                case .int32: try writer.append(Int32(truncatingIfNeeded: v))
                case .uint32: try writer.append(UInt32(truncatingIfNeeded: v))
                case .int64: try writer.append(Int64(v))
                }
            }
            try writer.close()
        } catch {
            writer.discard()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw IndexedDatasetError.io(path: path, operation: "rename", errno: code)
        }
    }

    /// The text after `'key':` up to the next top-level comma (the shape keeps its parentheses).
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        return header[range.upperBound...].trimmingCharacters(in: .whitespaces)
    }
}
