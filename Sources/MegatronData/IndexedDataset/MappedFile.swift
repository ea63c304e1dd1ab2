#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory, unmapped when the last reference goes.
///
/// Zero-copy: readers get pointers into the page cache. The mapping is `MAP_PRIVATE` and
/// `PROT_READ`, so nothing here can change the file; a file truncated by someone else while
/// mapped can still raise SIGBUS, which no reader of a shared file can rule out.
final class MappedFile: @unchecked Sendable {
    // @unchecked: `base` is immutable after init and the memory it points to is read-only.
    let path: String
    let base: UnsafeRawPointer?
    let size: Int

    /// The file's bytes; empty (with a nil base) for an empty file, which mmap refuses.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    init(path: String) throws(IndexedDatasetError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }  // the mapping stays valid after the descriptor closes
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: path, operation: "fstat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .io(path: path, operation: "open (not a regular file)", errno: EINVAL) }
        size = Int(info.st_size)
        guard size > 0 else { base = nil; return }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw .io(path: path, operation: "mmap", errno: errno) }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The little-endian integer at `offset`; the caller has checked `offset + size <= size`.
    /// Megatron's arrays start at byte 34 and 17, so nothing here is aligned.
    @inline(__always)
    func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
