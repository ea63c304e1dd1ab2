#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered, write-only POSIX file for the builder: appends go to a 1 MiB buffer so writing a
/// token at a time costs no system call each, and every failure becomes an
/// ``IndexedDatasetError/io(path:operation:errno:)`` naming the file.
final class FileWriter {
    let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    /// Bytes appended so far (flushed or not).
    private(set) var written = 0

    /// Creates (or truncates) `path`.
    init(path: String) throws(IndexedDatasetError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        buffer.reserveCapacity(capacity)
    }

    deinit { if fd >= 0 { _ = systemClose(fd) } }

    func append(_ bytes: UnsafeRawBufferPointer) throws(IndexedDatasetError) {
        written += bytes.count
        if buffer.count + bytes.count > capacity { try flush() }
        if bytes.count >= capacity { try writeAll(bytes); return }  // large copies skip the buffer
        buffer.append(contentsOf: bytes)
    }

    func append(contentsOf bytes: [UInt8]) throws(IndexedDatasetError) {
        written += bytes.count
        if buffer.count + bytes.count > capacity { try flush() }
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { try flush() }
    }

    /// Appends `value` as little-endian bytes.
    func append<T: FixedWidthInteger>(_ value: T) throws(IndexedDatasetError) {
        if buffer.count + MemoryLayout<T>.size > capacity { try flush() }
        written += MemoryLayout<T>.size
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    func flush() throws(IndexedDatasetError) {
        guard !buffer.isEmpty else { return }
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        // Array.withUnsafeBytes only rethrows untyped errors, so carry ours out by hand.
        var failure: IndexedDatasetError?
        pending.withUnsafeBytes { raw in
            do throws(IndexedDatasetError) { try writeAll(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Flushes, fsyncs (so the rename that publishes the file never exposes unwritten data after
    /// a power loss) and closes.
    func close() throws(IndexedDatasetError) {
        try flush()
        guard fsync(fd) == 0 else { throw .io(path: path, operation: "fsync", errno: errno) }
        let result = systemClose(fd)
        fd = -1
        guard result == 0 else { throw .io(path: path, operation: "close", errno: errno) }
    }

    /// Closes without flushing, for abandoning a partial file.
    func discard() {
        if fd >= 0 { _ = systemClose(fd); fd = -1 }
        buffer.removeAll()
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(IndexedDatasetError) {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "write", errno: errno)
            }
            done += n
        }
    }
}

/// `close(2)`; a free function because inside ``FileWriter`` the name means its own method.
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
