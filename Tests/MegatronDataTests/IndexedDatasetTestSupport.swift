import Foundation
@testable import MegatronData

/// Shared helpers for the IndexedDataset suites: scratch folders, the megatron-core fixtures and
/// a seeded generator (SplitMix64) so random tests replay exactly.
enum IndexedFixtures {
    struct Step: Decodable {
        let op: String
        let tokens: [Int64]?
        let lengths: [Int]?
        let name: String?
    }

    struct Dataset: Decodable {
        let name: String
        let dtype: String
        let steps: [Step]
        /// documents[k][j] = tokens of the j-th sequence of document k, as megatron-core read them.
        let documents: [[[Int64]]]
    }

    struct Manifest: Decodable {
        let megatron_core: String
        let datasets: [Dataset]
    }

    /// The folder holding `datasets.json` and the `.bin` / `.idx` pairs megatron-core wrote.
    static func folder() throws -> URL {
        guard let url = Bundle.module.url(forResource: "datasets", withExtension: "json", subdirectory: "Fixtures/indexed") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return url.deletingLastPathComponent()
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: folder().appendingPathComponent("datasets.json")))
    }
}

/// A fresh folder under the system temporary directory, removed on deinit.
final class ScratchFolder {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("indexed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func prefix(_ name: String) -> String { url.appendingPathComponent(name).path }
}

extension IndexedDataset {
    /// Every document as lists of Int64 tokens, for comparing with expectations.
    func allDocuments() throws -> [[[Int64]]] {
        try (0..<documentCount).map { k in
            try (documentIndices[k]..<documentIndices[k + 1]).map { try wideTokens(sequence: $0, offset: 0, count: nil) }
        }
    }
}

extension IndexedDatasetError {
    /// The case name (`"badMagic"`), for tallying outcomes.
    var caseName: String { Mirror(reflecting: self).children.first?.label ?? "\(self)" }
}

func fileBytes(_ path: String) throws -> [UInt8] { try Array(Data(contentsOf: URL(fileURLWithPath: path))) }
/// Replaces the file at `path` with `bytes`. It unlinks and creates rather than truncating:
/// ext4 flushes a file truncated and rewritten to disk on close (auto_da_alloc), which made the
/// fuzz test's 8000 small writes take 20 s instead of a fraction of one.
func writeBytes(_ bytes: [UInt8], _ path: String) throws {
    unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw CocoaError(.fileWriteUnknown) }
}
