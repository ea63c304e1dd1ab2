import Foundation
import MegatronParallel

/// Saves distributed checkpoints: every rank of `group` calls ``save(iteration:shards:common:rankState:)``
/// with the pieces of tensors it owns, and the call returns once rank 0 has committed
/// `DIR/iter_NNNNNNN` and named it in `DIR/latest_checkpointed_iteration.txt` (see
/// ``CheckpointLayout`` for the files and ``AsyncCheckpointSaver`` to write in the background).
///
/// A crash at any point leaves the previous checkpoint and tracker loadable; a failure on any
/// rank (full disk, bad shard) makes every rank throw, and the new checkpoint is not committed.
/// The group's members must share one file system, and one save at a time may run in `DIR`.
///
///     let saver = CheckpointSaver(directory: root, group: world, options: .init(keepLast: 3))
///     try saver.save(iteration: 100, shards: myShards, common: ["iteration": JSONValue.int(100)],
///                    rankState: ["rng": JSONValue.string(rngState)])
public struct CheckpointSaver: Sendable {
    /// The checkpoint directory, `DIR`.
    public let directory: URL
    /// The ranks that save together; each writes its own data file.
    public let group: any ProcessGroup
    /// Retention and the test hook.
    public let options: CheckpointSaveOptions

    /// A saver writing into `directory` (created when missing) with the ranks of `group`.
    public init(directory: URL, group: any ProcessGroup, options: CheckpointSaveOptions = .init()) {
        self.directory = directory
        self.group = group
        self.options = options
    }

    /// Saves this rank's part of iteration `iteration` (collective: every rank of the group
    /// calls it, in the same order as its other collectives).
    ///
    /// - Parameters:
    ///   - shards: the pieces this rank writes. A tensor replicated on several ranks is
    ///     usually given by one of them only; overlapping pieces are allowed and must agree.
    ///   - common: non-tensor state shared by all ranks (iteration, arguments …), encoded as
    ///     JSON into `common.json`; taken from rank 0, ignored elsewhere.
    ///   - rankState: this rank's own non-tensor state (RNG states …), into `rank_NNNNN.json`.
    /// - Returns: what was saved and, on rank 0, what keep-last-N removed.
    @discardableResult
    public func save(
        iteration: Int, shards: [ShardData], common: (any Encodable)? = nil, rankState: (any Encodable)? = nil
    ) throws(CheckpointError) -> SaveReport {
        let session = try SaveSession.begin(root: directory, iteration: iteration, group: group, options: options)
        let payload = Result { () throws(CheckpointError) in
            try RankPayload.make(shards: shards, common: common, rankState: rankState, copyBytes: false)
        }
        return try session.finish(localError: session.writeLocal(payload))
    }
}
