import Foundation

/// A named moment of a save, where a test hook may stop it as a killed process would.
public enum SavePoint: String, Sendable, CaseIterable {
    /// Every rank: `iter_N.partial` exists; the rank has written nothing yet.
    case beforeRankFiles
    /// Every rank: its own files are written and synced in `iter_N.partial`.
    case afterRankFiles
    /// Rank 0: the index and common state are written and synced; `.partial` not yet renamed.
    case beforeRename
    /// Rank 0, saving an iteration that already exists: the old directory has become
    /// `iter_N.replaced`; the new one is not yet in place.
    case afterMoveAside
    /// Rank 0: `iter_N` is in place; the tracker still names the previous checkpoint.
    case beforeTracker
    /// Rank 0: the tracker names `N`; `.replaced` and dropped iterations are not yet deleted.
    case beforeCleanup
}

/// What a save does at a ``SavePoint``.
public enum SaveHookAction: Sendable {
    /// Carry on.
    case proceed
    /// Stop at once without cleaning up, as if killed: the save throws
    /// ``CheckpointError/stopped(at:)`` and attends no further barrier.
    case stop
}

/// How saves behave: retention, and a hook for crash tests.
///
///     var options = CheckpointSaveOptions(keepLast: 3)
///     options.hook = { point in point == .beforeTracker ? .stop : .proceed }  // tests only
public struct CheckpointSaveOptions: Sendable {
    /// After a successful save, keep only this many `iter_*` directories (the highest
    /// iterations, and always the one the tracker names); nil keeps all.
    public var keepLast: Int?
    /// Called at each ``SavePoint`` this rank reaches; tests use it to simulate crashes (or, in a
    /// child process, to block there until killed). Nil in production.
    public var hook: (@Sendable (SavePoint) -> SaveHookAction)?

    /// Options with the given retention and no hook.
    public init(keepLast: Int? = nil) {
        self.keepLast = keepLast
    }

    func reach(_ point: SavePoint) throws(CheckpointError) {
        if hook?(point) == .stop { throw .stopped(at: point) }
    }
}

/// What a committed save did.
public struct SaveReport: Sendable, Equatable {
    /// The iteration saved.
    public let iteration: Int
    /// Its directory, `DIR/iter_NNNNNNN`.
    public let directory: URL
    /// Iterations whose directories keep-last-N removed (rank 0 only; empty elsewhere).
    public let removedIterations: [Int]
    /// Clean-up steps that failed after the commit (the checkpoint itself is complete and
    /// named by the tracker); rank 0 only.
    public let cleanupProblems: [String]
}

/// One piece of a tensor that a rank saves, with its bytes (little-endian, row-major, the
/// shard's ``TensorShard/elementCount`` elements).
///
///     let piece = ShardData(TensorShard(name: "b", dtype: "F32", globalShape: [4]), bytes: data)
public struct ShardData: Sendable {
    /// Which piece of which tensor.
    public var shard: TensorShard
    /// Its bytes.
    public var bytes: Data

    /// A piece with bytes the caller already holds as `Data`.
    public init(_ shard: TensorShard, bytes: Data) {
        self.shard = shard
        self.bytes = bytes
    }

    /// A piece whose bytes are copied out of `buffer` now (a host tensor's memory, say).
    public init(_ shard: TensorShard, copying buffer: UnsafeRawBufferPointer) {
        self.init(shard, bytes: Data(buffer))
    }
}
