/// Everything that can go wrong saving or loading a distributed checkpoint, each naming the
/// file, tensor, rank or iteration involved, so that a line in a log says what to look at.
///
///     do { data = try reader.read(target) } catch { print(error) }
///     // "tensor w: checkpoint has shape [8, 6], model expects [8, 4]"
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A shard description that is not a piece of its tensor, or whose bytes don't fit it.
    case invalidShard(tensor: String, shard: String, reason: String)
    /// A bad argument (negative iteration, keep-last of 0, two shards under one key …).
    case invalidArgument(String)
    /// A file operation failed (full disk, missing directory, permission …).
    case io(path: String, reason: String)
    /// `latest_checkpointed_iteration.txt` does not exist in the directory.
    case noTracker(directory: String)
    /// The tracker holds something other than an iteration number.
    case malformedTracker(path: String, content: String)
    /// The iteration's directory does not exist (`tracker` names the tracker when it chose it).
    case missingIteration(path: String, iteration: Int, tracker: String?)
    /// `index.json` is missing, unreadable or inconsistent.
    case badIndex(path: String, reason: String)
    /// `common.json` or a rank's state file is unreadable or does not decode as asked.
    case badState(path: String, reason: String)
    /// No tensor of that name was saved.
    case unknownTensor(tensor: String, checkpoint: String)
    /// The saved dtype differs from the requested one.
    case dtypeMismatch(tensor: String, checkpoint: String, expected: String)
    /// The saved global shape differs from the requested one.
    case shapeMismatch(tensor: String, checkpoint: [Int], expected: [Int])
    /// A shard's bytes do not match the checksum recorded when it was saved.
    case checksumMismatch(file: String, tensor: String, expected: String, actual: String)
    /// A data file is missing, truncated, or disagrees with the index.
    case damagedFile(file: String, tensor: String, reason: String)
    /// Elements of the requested piece lie in no saved shard.
    case uncovered(tensor: String, target: String, missing: Int, firstMissing: [Int])
    /// Ranks saved pieces of one tensor with different dtypes or global shapes.
    case inconsistentShards(tensor: String, reason: String)
    /// A rank could not write its part of the checkpoint (reported by rank 0).
    case rankFailed(rank: Int, reason: String)
    /// Rank 0 did not commit the checkpoint (reported by the other ranks).
    case commitFailed(iteration: Int, reason: String)
    /// A barrier between the phases of a save failed (a peer died or timed out).
    case collective(reason: String)
    /// A test hook stopped the save at this point, as if the process had been killed.
    case stopped(at: SavePoint)

    public var description: String {
        switch self {
        case let .invalidShard(tensor, shard, reason): "tensor \(tensor): shard \(shard): \(reason)"
        case let .invalidArgument(message): "checkpoint: \(message)"
        case let .io(path, reason): "checkpoint I/O error on \(path): \(reason)"
        case let .noTracker(directory):
            "no checkpoint in \(directory): latest_checkpointed_iteration.txt does not exist"
        case let .malformedTracker(path, content):
            "\(path) should hold an iteration number but holds \"\(content.prefix(80))\""
        case let .missingIteration(path, iteration, tracker):
            "checkpoint of iteration \(iteration) missing: \(path) does not exist"
                + (tracker.map { " (named by \($0))" } ?? "")
        case let .badIndex(path, reason): "checkpoint index \(path): \(reason)"
        case let .badState(path, reason): "checkpoint state \(path): \(reason)"
        case let .unknownTensor(tensor, checkpoint): "tensor \(tensor) is not in the checkpoint \(checkpoint)"
        case let .dtypeMismatch(tensor, checkpoint, expected):
            "tensor \(tensor): checkpoint has dtype \(checkpoint), model expects \(expected)"
        case let .shapeMismatch(tensor, checkpoint, expected):
            "tensor \(tensor): checkpoint has shape \(checkpoint), model expects \(expected)"
        case let .checksumMismatch(file, tensor, expected, actual):
            "\(file): tensor \(tensor): checksum mismatch (CRC32C \(actual), index says \(expected)): the file is damaged"
        case let .damagedFile(file, tensor, reason): "\(file): tensor \(tensor): \(reason)"
        case let .uncovered(tensor, target, missing, first):
            "tensor \(tensor): \(missing) element(s) of \(target) are in no saved shard (the first at index \(first))"
        case let .inconsistentShards(tensor, reason): "tensor \(tensor): ranks disagree: \(reason)"
        case let .rankFailed(rank, reason): "checkpoint save: rank \(rank) failed: \(reason)"
        case let .commitFailed(iteration, reason): "checkpoint of iteration \(iteration) not committed: \(reason)"
        case let .collective(reason): "checkpoint save: barrier failed: \(reason)"
        case let .stopped(point): "checkpoint save stopped by the test hook at \(point.rawValue)"
        }
    }
}
