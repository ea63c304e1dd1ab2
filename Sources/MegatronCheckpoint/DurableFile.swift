import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Durable file writes on POSIX calls, for checkpoints that survive a crash or power loss.
//
// `Data.write(options: .atomic)` is not used: on Linux it stages the bytes in a
// `/tmp/TemporaryDirectory.*` folder that it never removes, the rename then crosses file
// systems when /tmp is elsewhere, and it does not fsync the file or the directory, so a power
// cut can leave a renamed but empty file.

/// A failed system call on a file, with the path and the system's reason.
struct FileIOError: Error, CustomStringConvertible, Sendable {
    let path: String
    let operation: String
    let code: Int32

    var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }
}

/// Durable, optionally atomic, file writes (`write` + `fsync`, then `rename` + `fsync` of the
/// directory).
///
///     try DurableFile.writeAtomically([header, body], to: "/ckpt/latest_checkpointed_iteration.txt")
enum DurableFile {
    /// Creates (or truncates) `path`, writes `chunks` in order, fsyncs and closes it.
    /// The file's directory entry is not synced: sync the directory once after writing many files.
    static func write(_ chunks: [Data], to path: String) throws(FileIOError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIOError(path: path, operation: "create", code: errno) }
        var failure: FileIOError?
        for chunk in chunks where failure == nil {
            failure = chunk.withUnsafeBytes { writeAll(fd, $0, path: path) }
        }
        // On macOS fsync reaches the drive but not its cache (F_FULLFSYNC would); Linux's
        // fsync flushes both, and Linux is where checkpoints are written.
        if failure == nil, fsync(fd) != 0 {
            failure = FileIOError(path: path, operation: "fsync", code: errno)
        }
        // close can report a deferred write error (NFS); it counts as a failed write.
        if close(fd) != 0, failure == nil {
            failure = FileIOError(path: path, operation: "close", code: errno)
        }
        if let failure { throw failure }
    }

    /// Writes `chunks` to a temporary file beside `path`, then renames it over `path` and
    /// fsyncs the directory: a reader sees the old file or the whole new one, never a mix, and
    /// after a crash there is at most a stray `.<name>.tmp-*` file, never a damaged `path`.
    static func writeAtomically(_ chunks: [Data], to path: String) throws(FileIOError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(FileIOError) {
            try write(chunks, to: temporary)
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Renames `source` to `destination` (same file system), replacing a file at `destination`.
    static func rename(_ source: String, to destination: String) throws(FileIOError) {
        guard systemRename(source, destination) == 0 else {
            throw FileIOError(path: source, operation: "rename to \(destination)", code: errno)
        }
    }

    /// Flushes a directory's entries (files created, renamed or removed in it) to disk.
    static func syncDirectory(_ path: String) throws(FileIOError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError(path: path, operation: "open directory", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileIOError(path: path, operation: "fsync directory", code: errno) }
    }

    /// Creates the directory `path` (its parent must exist).
    static func makeDirectory(_ path: String) throws(FileIOError) {
        guard mkdir(path, 0o755) == 0 else { throw FileIOError(path: path, operation: "create directory", code: errno) }
    }

    /// The (device, inode) pair naming a file or directory; it survives a rename.
    static func identity(of path: String) throws(FileIOError) -> FileIdentity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileIOError(path: path, operation: "stat", code: errno) }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Writes every byte of `bytes`, retrying short writes and interrupted calls.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) -> FileIOError? {
        guard var next = bytes.baseAddress else { return nil }
        var left = bytes.count
        while left > 0 {
            let written = systemWrite(fd, next, left)
            if written < 0 {
                if errno == EINTR { continue }
                return FileIOError(path: path, operation: "write", code: errno)
            }
            next += written
            left -= written
        }
        return nil
    }
}

/// Which file a path names, independent of the name (a renamed directory keeps it).
struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
}

// `DurableFile.write` and `.rename` shadow the C functions inside the enum; these reach them.
#if canImport(Glibc)
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { Glibc.write(fd, bytes, count) }
private func systemRename(_ old: String, _ new: String) -> Int32 { Glibc.rename(old, new) }
#elseif canImport(Musl)
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { Musl.write(fd, bytes, count) }
private func systemRename(_ old: String, _ new: String) -> Int32 { Musl.rename(old, new) }
#else
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { Darwin.write(fd, bytes, count) }
private func systemRename(_ old: String, _ new: String) -> Int32 { Darwin.rename(old, new) }
#endif
