import Foundation
import MegatronParallel

/// One save in flight on one rank: the commit protocol every rank of the group runs.
///
/// 1. ``begin(root:iteration:group:options:)`` (collective): rank 0 repairs what an earlier
///    crash left (an `iter_N.replaced` goes back in place if `iter_N` is missing; stale
///    `.partial` and `.deleting` siblings are removed) and creates `iter_N.partial`; barrier;
///    every rank notes the directory's identity (device, inode), which a rename keeps.
/// 2. ``writeLocal(_:)`` (this rank alone, on any thread): writes the rank's files into
///    `.partial`; a failure leaves `rank_NNNNN.error` there for rank 0 to report.
/// 3. ``finish(localError:)`` (collective): barrier; rank 0 merges the ranks' shard records into
///    `index.json`, syncs, renames `.partial` to `iter_N` (moving an existing `iter_N` aside to
///    `.replaced` first), syncs `DIR`, replaces the tracker, then cleans up; barrier; the other
///    ranks confirm that `iter_N` is the directory they wrote into and the tracker names N.
///
/// Until the rename the previous checkpoint and tracker are untouched; after it, the tracker
/// is replaced atomically; so a crash anywhere leaves a loadable checkpoint named by the
/// tracker. Once begun, every rank attends every barrier whatever fails, so a failure on one
/// rank makes all ranks throw rather than leaving some waiting; only a hook stop (a simulated
/// crash) or a failed barrier leaves at once.
final class SaveSession: Sendable {
    let root: URL
    let iteration: Int
    let group: any ProcessGroup
    let options: CheckpointSaveOptions
    let partial: URL
    let final: URL
    /// The `.partial` directory rank 0 created, or why this rank cannot use it.
    private let partialIdentity: Result<FileIdentity, CheckpointError>

    private init(root: URL, iteration: Int, group: any ProcessGroup, options: CheckpointSaveOptions,
                 partialIdentity: Result<FileIdentity, CheckpointError>) {
        self.root = root
        self.iteration = iteration
        self.group = group
        self.options = options
        let name = CheckpointLayout.iterationDirectoryName(iteration)
        self.partial = root.appendingPathComponent(name + CheckpointLayout.partialSuffix)
        self.final = root.appendingPathComponent(name)
        self.partialIdentity = partialIdentity
    }

    /// Phase 1 (collective): prepares `iter_N.partial`.
    static func begin(root: URL, iteration: Int, group: any ProcessGroup, options: CheckpointSaveOptions) throws(CheckpointError) -> SaveSession {
        // Every rank gets the same arguments, so every rank throws here alike, before any barrier.
        guard iteration >= 0 else { throw .invalidArgument("iteration \(iteration) is negative") }
        if let keep = options.keepLast, keep < 1 { throw .invalidArgument("keep-last \(keep): keep at least 1 checkpoint") }
        let draft = SaveSession(root: root, iteration: iteration, group: group, options: options, partialIdentity: .failure(.invalidArgument("")))
        var prepared: CheckpointError?
        if group.rank == 0 {
            do throws(CheckpointError) { try draft.prepare() } catch { prepared = error }
        }
        try draft.barrier("before writing")
        let identity: Result<FileIdentity, CheckpointError>
        if let prepared {
            identity = .failure(prepared)
        } else {
            do {
                identity = .success(try DurableFile.identity(of: draft.partial.path))
            } catch {
                identity = .failure(.io(path: draft.partial.path, reason: "\(error.description) (rank 0 should have created it)"))
            }
        }
        return SaveSession(root: root, iteration: iteration, group: group, options: options, partialIdentity: identity)
    }

    /// Phase 2 (local): writes this rank's files; returns the error instead of throwing so that
    /// phase 3 still runs the barriers. Safe on a background thread: it runs no collective.
    func writeLocal(_ payload: Result<RankPayload, CheckpointError>) -> CheckpointError? {
        do throws(CheckpointError) {
            _ = try partialIdentity.get()
            try options.reach(.beforeRankFiles)
            try RankFiles.write(try payload.get(), rank: group.rank, worldSize: group.size, iteration: iteration, into: partial)
            try options.reach(.afterRankFiles)
            return nil
        } catch .stopped(let point) {
            return .stopped(at: point)
        } catch {
            let marker = partial.appendingPathComponent(CheckpointLayout.errorName(rank: group.rank)).path
            try? DurableFile.write([Data(error.description.utf8)], to: marker)
            return error
        }
    }

    /// Phase 3 (collective): commits on rank 0 and confirms on the others. Throws on every rank
    /// when any rank failed.
    func finish(localError: CheckpointError?) throws(CheckpointError) -> SaveReport {
        if case .stopped = localError, let localError { throw localError }
        try barrier("after writing")
        var outcome: Result<SaveReport, CheckpointError> = .failure(.invalidArgument("not rank 0"))
        if group.rank == 0 {
            if let localError {
                outcome = .failure(localError)
            } else {
                do throws(CheckpointError) {
                    outcome = .success(try commit())
                } catch .stopped(let point) {
                    throw .stopped(at: point)
                } catch {
                    outcome = .failure(error)
                }
            }
        }
        try barrier("after the commit")
        if group.rank == 0 { return try outcome.get() }
        if let localError { throw localError }
        return try confirm()
    }

    // MARK: - Rank 0

    /// Repairs what an earlier crash left, then creates an empty `.partial`.
    /// Assumes one save at a time in `root`.
    private func prepare() throws(CheckpointError) {
        let files = FileManager.default
        do {
            try files.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw .io(path: root.path, reason: "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        for name in try listing(root) {
            for suffix in [CheckpointLayout.replacedSuffix, CheckpointLayout.partialSuffix, CheckpointLayout.deletingSuffix]
            where name.hasSuffix(suffix) {
                let base = String(name.dropLast(suffix.count))
                guard CheckpointLayout.iteration(ofDirectoryName: base) != nil else { continue }
                let path = root.appendingPathComponent(name).path
                let basePath = root.appendingPathComponent(base).path
                if suffix == CheckpointLayout.replacedSuffix, !files.fileExists(atPath: basePath) {
                    // A crash between moving the old iter_N aside and moving the new one in.
                    try rename(path, to: basePath)
                } else {
                    try remove(path)
                }
            }
        }
        do { try DurableFile.makeDirectory(partial.path) } catch { throw .io(path: partial.path, reason: error.description) }
        try syncDirectory(root)
    }

    /// Merges the ranks' records into `index.json`, then moves the checkpoint into place and
    /// names it in the tracker.
    private func commit() throws(CheckpointError) -> SaveReport {
        let index = try mergedIndex()
        try RankFiles.writeFile([try index.encoded()], CheckpointLayout.indexName, in: partial)
        for rank in 0..<group.size {
            try remove(partial.appendingPathComponent(CheckpointLayout.fragmentName(rank: rank)).path)
        }
        try syncDirectory(partial)
        try options.reach(.beforeRename)

        let files = FileManager.default
        let replaced = final.path + CheckpointLayout.replacedSuffix
        let replacing = files.fileExists(atPath: final.path)
        if replacing {
            // No atomic directory swap is portable; the reader falls back to `.replaced` while
            // `iter_N` is missing, and the next save puts it back.
            if files.fileExists(atPath: replaced) { try remove(replaced) }
            try rename(final.path, to: replaced)
            try syncDirectory(root)
            try options.reach(.afterMoveAside)
        }
        try rename(partial.path, to: final.path)
        try syncDirectory(root)
        try options.reach(.beforeTracker)
        try CheckpointLayout.writeTracker(iteration: iteration, in: root)
        try options.reach(.beforeCleanup)

        // The checkpoint is committed; what fails from here on is reported, not thrown.
        var problems: [String] = []
        if replacing {
            do throws(CheckpointError) { try remove(replaced) } catch { problems.append(error.description) }
        }
        var removed: [Int] = []
        if let keep = options.keepLast {
            let pruned = Retention.prune(root: root, keep: keep, protecting: iteration)
            removed = pruned.removed
            problems += pruned.problems
        }
        return SaveReport(iteration: iteration, directory: final, removedIterations: removed, cleanupProblems: problems)
    }

    /// Every rank's shard records as one index; a missing record file means that rank failed.
    private func mergedIndex() throws(CheckpointError) -> CheckpointIndex {
        var tensors: [String: CheckpointIndex.TensorRecord] = [:]
        var firstRank: [String: Int] = [:]
        for rank in 0..<group.size {
            let path = partial.appendingPathComponent(CheckpointLayout.fragmentName(rank: rank)).path
            guard FileManager.default.fileExists(atPath: path) else {
                let marker = partial.appendingPathComponent(CheckpointLayout.errorName(rank: rank))
                let reason = (try? String(contentsOf: marker, encoding: .utf8))
                    ?? "it wrote no shard records (it stopped, or cannot reach \(partial.path))"
                throw .rankFailed(rank: rank, reason: reason)
            }
            for (name, tensor) in try CheckpointIndex.load(from: path).tensors {
                guard var merged = tensors[name] else {
                    tensors[name] = tensor
                    firstRank[name] = rank
                    continue
                }
                guard merged.dtype == tensor.dtype, merged.shape == tensor.shape else {
                    throw .inconsistentShards(tensor: name, reason: "rank \(firstRank[name] ?? 0) saved \(merged.dtype) "
                                              + "\(merged.shape), rank \(rank) \(tensor.dtype) \(tensor.shape)")
                }
                merged.shards += tensor.shards
                tensors[name] = merged
            }
        }
        for name in tensors.keys {
            tensors[name]?.shards.sort { ($0.file, $0.byteOffset) < ($1.file, $1.byteOffset) }
        }
        return CheckpointIndex(format: CheckpointIndex.formatName, version: CheckpointIndex.currentVersion,
                               iteration: iteration, worldSize: group.size, tensors: tensors)
    }

    // MARK: - Other ranks

    /// Whether rank 0 committed the directory this rank wrote into.
    private func confirm() throws(CheckpointError) -> SaveReport {
        let written = try partialIdentity.get()
        guard (try? DurableFile.identity(of: final.path)) == written else {
            throw .commitFailed(iteration: iteration, reason: "rank 0 did not move \(partial.path) into place; its error says why")
        }
        let tracked = try? CheckpointLayout.trackedIteration(in: root)
        guard tracked == iteration else {
            throw .commitFailed(iteration: iteration, reason: "rank 0 did not name it in \(CheckpointLayout.trackerName), which names "
                                + (tracked.map(String.init) ?? "nothing readable"))
        }
        return SaveReport(iteration: iteration, directory: final, removedIterations: [], cleanupProblems: [])
    }

    // MARK: - Helpers

    private func barrier(_ phase: String) throws(CheckpointError) {
        do { try group.barrier() } catch { throw .collective(reason: "iteration \(iteration), \(phase): \(error)") }
    }

    private func listing(_ directory: URL) throws(CheckpointError) -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw .io(path: directory.path, reason: "cannot list: \(error.localizedDescription)")
        }
    }

    private func remove(_ path: String) throws(CheckpointError) {
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw .io(path: path, reason: "cannot remove: \(error.localizedDescription)")
        }
    }

    private func rename(_ source: String, to destination: String) throws(CheckpointError) {
        do { try DurableFile.rename(source, to: destination) } catch { throw .io(path: source, reason: error.description) }
    }

    private func syncDirectory(_ url: URL) throws(CheckpointError) {
        do { try DurableFile.syncDirectory(url.path) } catch { throw .io(path: url.path, reason: error.description) }
    }
}
