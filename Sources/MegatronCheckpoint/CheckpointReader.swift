import Foundation
import Synchronization

/// Reads a distributed checkpoint in any layout: ``read(_:)`` assembles whatever block (or
/// flat range of a block) of a tensor is asked for from the overlapping pieces that were
/// saved, however the saving ranks split it.
///
/// Data files are memory-mapped and copied straight into the result; each saved piece's
/// checksum is verified the first time its bytes are used. Safe to share between threads.
///
///     let reader = try CheckpointReader(directory: root)          // the tracker's iteration
///     let mine = TensorShard(name: "w", dtype: "BF16", globalShape: [8, 6],
///                            offset: [0, 3], blockShape: [8, 3])   // saved as row blocks, say
///     let bytes = try reader.read(mine)
public final class CheckpointReader: Sendable {
    /// The iteration's directory, `DIR/iter_NNNNNNN`.
    public let iterationDirectory: URL
    /// The iteration loaded.
    public let iteration: Int
    /// The checkpoint's index: every tensor and saved piece.
    public let index: CheckpointIndex

    /// Opened data files by name, and the pieces (file, key) whose checksum has been verified.
    private let state = Mutex<(files: [String: SafeTensorsFile], verified: Set<String>)>(([:], []))

    /// Opens the checkpoint in `directory` (`DIR`) at `iteration`, or at the iteration the
    /// tracker names when nil.
    ///
    /// Throws, naming the path: no tracker, a malformed tracker, a missing iteration directory,
    /// a missing or malformed `index.json`.
    public init(directory: URL, iteration: Int? = nil) throws(CheckpointError) {
        let chosen: Int
        if let iteration { chosen = iteration } else { chosen = try CheckpointLayout.trackedIteration(in: directory) }
        let name = CheckpointLayout.iterationDirectoryName(chosen)
        var folder = directory.appendingPathComponent(name)
        let files = FileManager.default
        if !files.fileExists(atPath: folder.path) {
            // A crash while re-saving this iteration left the complete old copy aside.
            let replaced = directory.appendingPathComponent(name + CheckpointLayout.replacedSuffix)
            guard files.fileExists(atPath: replaced.path) else {
                throw .missingIteration(
                    path: folder.path, iteration: chosen,
                    tracker: iteration == nil ? directory.appendingPathComponent(CheckpointLayout.trackerName).path : nil)
            }
            folder = replaced
        }
        let index = try CheckpointIndex.load(from: folder.appendingPathComponent(CheckpointLayout.indexName).path)
        guard index.iteration == chosen else {
            throw .badIndex(path: folder.appendingPathComponent(CheckpointLayout.indexName).path,
                            reason: "it describes iteration \(index.iteration), not \(chosen)")
        }
        self.iterationDirectory = folder
        self.iteration = chosen
        self.index = index
    }

    /// The names of the saved tensors, sorted.
    public var tensorNames: [String] { index.tensors.keys.sorted() }

    /// The saved dtype, global shape and pieces of `name`.
    public func record(_ name: String) throws(CheckpointError) -> CheckpointIndex.TensorRecord {
        guard let record = index.tensors[name] else { throw .unknownTensor(tensor: name, checkpoint: iterationDirectory.path) }
        return record
    }

    /// The bytes of `target` (a block of its tensor, or a flat range of one), row-major,
    /// assembled from the saved pieces.
    ///
    /// Throws for an unknown tensor, a dtype or global shape that differs from the saved one,
    /// elements no saved piece holds, and a damaged, truncated or missing data file (naming
    /// the file and tensor).
    public func read(_ target: TensorShard) throws(CheckpointError) -> Data {
        try target.validate()
        var data = Data(count: target.byteCount)
        let result: Result<Void, CheckpointError> = data.withUnsafeMutableBytes { buffer in
            Result { () throws(CheckpointError) in try read(target, into: buffer) }
        }
        try result.get()
        return data
    }

    /// Reads `target` into `buffer`, which holds exactly its ``TensorShard/byteCount`` bytes
    /// (a host tensor's memory, say): the one copy out of the memory-mapped files.
    public func read(_ target: TensorShard, into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) {
        try target.validate()
        let saved = try record(target.name)
        guard saved.dtype == target.dtype else {
            throw .dtypeMismatch(tensor: target.name, checkpoint: saved.dtype, expected: target.dtype)
        }
        guard saved.shape == target.globalShape else {
            throw .shapeMismatch(tensor: target.name, checkpoint: saved.shape, expected: target.globalShape)
        }
        guard buffer.count == target.byteCount else {
            throw .invalidArgument("tensor \(target.name): buffer of \(buffer.count) bytes for \(target.byteCount)")
        }
        let width = dtypeByteSizes[target.dtype] ?? 0
        var coverage = CoverageBitmap(count: target.elementCount)
        for piece in saved.shards {
            let stored = piece.shard(of: target.name, saved)
            let runs = BlockOverlap.runs(from: stored, to: target)
            guard !runs.isEmpty else { continue }
            // Cheap insurance: a run outside either piece would be a bug here, never a reason
            // to write outside the caller's buffer.
            for run in runs where run.source < 0 || run.target < 0 || run.count <= 0
                || run.source + run.count > stored.elementCount || run.target + run.count > target.elementCount {
                throw .invalidArgument("tensor \(target.name): internal error: copy run \(run) outside \(stored) or \(target)")
            }
            let file = try verifiedFile(piece, tensor: target.name)
            file.withFileBytes { bytes in
                // Runs exist only for pieces and targets of at least one element, so neither
                // buffer is empty; the index check in verifiedFile keeps reads inside the file.
                guard let source = bytes.baseAddress, let destination = buffer.baseAddress else { return }
                for run in runs {
                    (destination + run.target * width)
                        .copyMemory(from: source + piece.byteOffset + run.source * width, byteCount: run.count * width)
                    coverage.insert(run.target..<(run.target + run.count))
                }
            }
        }
        if let first = coverage.firstMissing {
            throw .uncovered(tensor: target.name, target: target.description, missing: coverage.missingCount,
                             firstMissing: BlockOverlap.globalIndex(of: first, in: target))
        }
    }

    /// `common.json` decoded as `type`, or nil when the save had no common state.
    public func common<T: Decodable>(as type: T.Type) throws(CheckpointError) -> T? {
        try state(CheckpointLayout.commonName, as: type)
    }

    /// Rank `rank`'s `rank_NNNNN.json` decoded as `type`, or nil when it saved none.
    public func rankState<T: Decodable>(rank: Int, as type: T.Type) throws(CheckpointError) -> T? {
        try state(CheckpointLayout.rankStateName(rank: rank), as: type)
    }

    private func state<T: Decodable>(_ name: String, as type: T.Type) throws(CheckpointError) -> T? {
        let url = iterationDirectory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(type, from: Data(contentsOf: url))
        } catch {
            throw .badState(path: url.path, reason: "\(error)")
        }
    }

    /// The data file holding `piece`, opened (memory-mapped) once, with the piece checked
    /// against the index and its checksum verified on first use.
    private func verifiedFile(_ piece: CheckpointIndex.ShardRecord, tensor: String) throws(CheckpointError) -> SafeTensorsFile {
        let path = iterationDirectory.appendingPathComponent(piece.file).path
        let cached = state.withLock { $0.files[piece.file] }
        let file: SafeTensorsFile
        if let cached {
            file = cached
        } else {
            do {
                file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
            } catch {
                let reason: String = switch error {
                case .io: "missing or unreadable (\(error))"
                default: "damaged or truncated: \(error)"
                }
                throw .damagedFile(file: path, tensor: tensor, reason: reason)
            }
            state.withLock { $0.files[piece.file] = file }
        }
        let identity = piece.file + "\n" + piece.key
        if state.withLock({ $0.verified.contains(identity) }) { return file }

        let expected = piece.byteOffset..<(piece.byteOffset + piece.byteLength)
        guard let entry = file.entries[piece.key], entry.byteRange == expected, entry.dtype == (index.tensors[tensor]?.dtype ?? "") else {
            throw .damagedFile(file: path, tensor: tensor, reason: "the file does not hold piece \(piece.key) at bytes "
                               + "\(expected.lowerBound)..<\(expected.upperBound) as the index says")
        }
        let actual = file.withFileBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[expected]))
        }
        guard CRC32C.hex(actual) == piece.crc32c else {
            throw .checksumMismatch(file: path, tensor: tensor, expected: piece.crc32c, actual: CRC32C.hex(actual))
        }
        state.withLock { _ = $0.verified.insert(identity) }
        return file
    }
}
