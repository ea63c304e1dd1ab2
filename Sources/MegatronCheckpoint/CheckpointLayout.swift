import Foundation

/// File and directory names of a distributed checkpoint, and its tracker file.
///
/// Megatron-LM's outer layout, so existing tooling finds the latest checkpoint:
///
///     DIR/latest_checkpointed_iteration.txt   the iteration as decimal text ("100")
///     DIR/iter_0000100/                       one directory per iteration (7-digit padding)
///         index.json                          every shard: file, bytes, place, checksum
///         common.json                         non-tensor state, written by rank 0
///         rank_00003.safetensors              tensor data written by rank 3
///         rank_00003.json                     rank 3's own non-tensor state (RNG …)
///
/// Siblings that a save uses on the way and removes (or the next save removes, after a crash):
/// `iter_0000100.partial` (being written), `iter_0000100.replaced` (the previous save of the
/// same iteration, while it is replaced) and `iter_0000100.deleting` (dropped by keep-last-N).
///
///     let dir = root.appendingPathComponent(CheckpointLayout.iterationDirectoryName(100))
public enum CheckpointLayout {
    /// The tracker file naming the latest complete checkpoint.
    public static let trackerName = "latest_checkpointed_iteration.txt"
    /// The index of every shard, in an iteration's directory.
    public static let indexName = "index.json"
    /// The non-tensor state common to all ranks, in an iteration's directory.
    public static let commonName = "common.json"

    static let partialSuffix = ".partial"
    static let replacedSuffix = ".replaced"
    static let deletingSuffix = ".deleting"

    /// `iter_0000100` for 100: Megatron's `iter_{:07d}`.
    public static func iterationDirectoryName(_ iteration: Int) -> String {
        let digits = String(iteration)
        return "iter_" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits
    }

    /// The iteration of a directory named `iter_NNNNNNN` (at least 7 digits), else nil.
    public static func iteration(ofDirectoryName name: String) -> Int? {
        guard name.hasPrefix("iter_") else { return nil }
        let digits = name.dropFirst(5)
        guard digits.count >= 7, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// `rank_00003.safetensors`: the tensor data a rank writes (five digits, more past 99999).
    public static func dataFileName(rank: Int) -> String { rankPrefix(rank) + ".safetensors" }
    /// `rank_00003.json`: a rank's own non-tensor state.
    public static func rankStateName(rank: Int) -> String { rankPrefix(rank) + ".json" }
    /// A rank's shard records, merged into the index by rank 0 and then removed.
    static func fragmentName(rank: Int) -> String { rankPrefix(rank) + ".index.json" }
    /// Written instead of a fragment when a rank fails, so rank 0 can name the reason.
    static func errorName(rank: Int) -> String { rankPrefix(rank) + ".error" }

    private static func rankPrefix(_ rank: Int) -> String {
        let digits = String(rank)
        return "rank_" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// The iteration the tracker in `directory` names.
    ///
    /// Throws ``CheckpointError/noTracker(directory:)`` when there is none and
    /// ``CheckpointError/malformedTracker(path:content:)`` when it holds no iteration number.
    public static func trackedIteration(in directory: URL) throws(CheckpointError) -> Int {
        let path = directory.appendingPathComponent(trackerName).path
        guard FileManager.default.fileExists(atPath: path) else { throw .noTracker(directory: directory.path) }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .io(path: path, reason: "\(error.localizedDescription)")
        }
        let text = String(decoding: data, as: UTF8.self)
        // Megatron writes str(iteration) and reads int(text.strip()).
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }), let iteration = Int(trimmed) else {
            throw .malformedTracker(path: path, content: text)
        }
        return iteration
    }

    /// Replaces the tracker atomically (temporary file, fsync, rename, fsync of `directory`).
    static func writeTracker(iteration: Int, in directory: URL) throws(CheckpointError) {
        let path = directory.appendingPathComponent(trackerName).path
        do {
            try DurableFile.writeAtomically([Data(String(iteration).utf8)], to: path)
        } catch {
            throw .io(path: path, reason: error.description)
        }
    }
}
