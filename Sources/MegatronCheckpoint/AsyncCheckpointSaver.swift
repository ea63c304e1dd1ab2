import Foundation
import MegatronParallel
import Synchronization

/// Saves distributed checkpoints in the background: ``save(iteration:shards:common:rankState:)``
/// copies the shard bytes, hands them to a dedicated writer thread and returns; training goes on
/// while the files are written; ``wait()`` then commits.
///
/// Where the barriers run: only on the caller's thread, in the order of its other collectives
/// (an NCCL barrier from another thread could interleave with training's collectives).
/// `save` is collective (rank 0 prepares `iter_N.partial`, one barrier); the writer thread
/// runs no collective; `wait` is collective (two barriers around rank 0's rename and tracker
/// update) and must be called by every rank: the next `save` calls it first, and so must the
/// program before it exits. Until `wait` returns the tracker still names the previous
/// checkpoint. Errors from the writer thread surface at `wait`, on every rank.
///
///     let saver = AsyncCheckpointSaver(directory: root, group: world)
///     try saver.save(iteration: 100, shards: myShards)
///     // … train on …
///     try saver.wait()   // before the next save, and before exiting
public final class AsyncCheckpointSaver {
    /// The checkpoint directory, `DIR`.
    public let directory: URL
    /// The ranks that save together.
    public let group: any ProcessGroup
    /// Retention and the test hook (the `afterRankFiles` point is reached on the writer thread).
    public let options: CheckpointSaveOptions

    private var pending: (session: SaveSession, writer: BackgroundWriter)?

    /// A saver writing into `directory` (created when missing) with the ranks of `group`.
    public init(directory: URL, group: any ProcessGroup, options: CheckpointSaveOptions = .init()) {
        self.directory = directory
        self.group = group
        self.options = options
    }

    /// Whether a save was started and not yet waited for.
    public var isSaving: Bool { pending != nil }

    /// Starts saving this rank's part of `iteration` (collective; see ``CheckpointSaver`` for
    /// the arguments). Waits for the previous save first, rethrowing its error. The shard bytes
    /// are copied before it returns, so the caller may reuse its buffers at once — unless
    /// `bytesAreSnapshots` says each shard's `Data` already owns a private copy (made with
    /// `Data(buffer)`, not `Data(bytesNoCopy:)`), which then is written as it is.
    public func save(
        iteration: Int, shards: [ShardData], common: (any Encodable)? = nil, rankState: (any Encodable)? = nil,
        bytesAreSnapshots: Bool = false
    ) throws(CheckpointError) {
        try wait()
        let payload = Result { () throws(CheckpointError) in
            try RankPayload.make(shards: shards, common: common, rankState: rankState, copyBytes: !bytesAreSnapshots)
        }
        let session = try SaveSession.begin(root: directory, iteration: iteration, group: group, options: options)
        pending = (session, BackgroundWriter { session.writeLocal(payload) })
    }

    /// Waits for the writer thread and commits the checkpoint (collective). Returns nil when no
    /// save is pending.
    @discardableResult
    public func wait() throws(CheckpointError) -> SaveReport? {
        guard let (session, writer) = pending else { return nil }
        pending = nil
        return try session.finish(localError: writer.join())
    }
}

/// A dedicated thread running one write; ranks never block a task of the cooperative pool.
private final class BackgroundWriter: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<CheckpointError?>(nil)

    init(_ work: @escaping @Sendable () -> CheckpointError?) {
        let thread = Thread { [self] in
            let error = work()
            result.withLock { $0 = error }
            done.signal()
        }
        thread.name = "checkpoint-writer"
        thread.start()
    }

    /// Blocks until the write has finished; its error, if any. Call once.
    func join() -> CheckpointError? {
        done.wait()
        return result.withLock { $0 }
    }
}
