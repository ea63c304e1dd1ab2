import Foundation

/// The file a loaded code address belongs to, read from `/proc/self/maps` (`dladdr` is hidden
/// from Swift's Glibc module). Backends use it to say which BLAS or CUDA library they loaded.
/// Nil where `/proc` does not exist (macOS).
///
///     let path = loadedLibraryPath(containing: symbol)   // "/usr/lib/…/libopenblas.so.0"
public func loadedLibraryPath(containing address: UnsafeMutableRawPointer) -> String? {
    guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return nil }
    let target = UInt(bitPattern: address)
    for line in maps.split(separator: "\n") {
        // "start-end perms offset dev inode path"
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count == 6 else { continue }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
              start <= target, target < end
        else { continue }
        return fields[5].trimmingCharacters(in: .whitespaces)
    }
    return nil
}
