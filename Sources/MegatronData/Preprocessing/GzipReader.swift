import Foundation

/// Reads a file that may be gzip-compressed (zlib's `gzread` passes plain files through), with
/// zlib opened by `dlopen` at first use so the package links nothing.
///
///     let reader = try GzipReader(path: "corpus.jsonl.gz")
///     while let chunk = try reader.read(maxBytes: 1 << 20) { … }
final class GzipReader {
    private typealias Open = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> OpaquePointer?
    private typealias Read = @convention(c) (OpaquePointer, UnsafeMutableRawPointer, UInt32) -> Int32
    private typealias Close = @convention(c) (OpaquePointer) -> Int32
    private typealias ErrorText = @convention(c) (OpaquePointer, UnsafeMutablePointer<Int32>) -> UnsafePointer<CChar>?

    private struct Zlib: @unchecked Sendable {
        // Sendable: C function pointers are immutable code addresses.
        let open: Open, read: Read, close: Close, error: ErrorText
    }

    private static let zlib: Zlib? = {
        for name in ["libz.so.1", "libz.so", "libz.1.dylib", "libz.dylib"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let open = dlsym(handle, "gzopen"), let read = dlsym(handle, "gzread"), let close = dlsym(handle, "gzclose"),
                  let error = dlsym(handle, "gzerror")
            else { continue }
            return Zlib(open: unsafeBitCast(open, to: Open.self), read: unsafeBitCast(read, to: Read.self),
                        close: unsafeBitCast(close, to: Close.self), error: unsafeBitCast(error, to: ErrorText.self))
        }
        return nil
    }()

    let path: String
    private let zlib: Zlib
    private var file: OpaquePointer?

    init(path: String) throws(DataFileError) {
        guard let zlib = Self.zlib else {
            throw .unreadable(path: path, reason: "zlib (libz.so.1) is not installed, and it reads the input")
        }
        guard FileManager.default.isReadableFile(atPath: path), let file = zlib.open(path, "rb") else {
            throw .unreadable(path: path, reason: "cannot open it for reading")
        }
        self.path = path
        self.zlib = zlib
        self.file = file
    }

    deinit { if let file { _ = zlib.close(file) } }

    /// Up to `maxBytes` decompressed bytes; nil at the end of the file.
    func read(maxBytes: Int) throws(DataFileError) -> [UInt8]? {
        guard let file else { return nil }
        var buffer = [UInt8](repeating: 0, count: maxBytes)
        let n = buffer.withUnsafeMutableBytes { zlib.read(file, $0.baseAddress!, UInt32(min(maxBytes, Int(Int32.max)))) }
        // zlib reports a stream cut short (Z_BUF_ERROR) only through gzerror once it stops.
        var code: Int32 = 0
        let message = zlib.error(file, &code).map { String(cString: $0) } ?? "read error"
        if n < 0 || (n == 0 && code != 0) {
            throw .unreadable(path: path, reason: "corrupt or truncated compressed data (\(message))")
        }
        guard n > 0 else { return nil }
        buffer.removeLast(maxBytes - Int(n))
        return buffer
    }
}

/// A data file that cannot be read, or a line in it that does not have the expected form.
public enum DataFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    /// Line `line` (1-based) of `path` is not what was expected.
    case malformedLine(path: String, line: Int, message: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): \(reason)"
        case let .malformedLine(path, line, message): "\(path), line \(line): \(message)"
        }
    }
}
