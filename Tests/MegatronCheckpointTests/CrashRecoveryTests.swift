import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest

/// Saves stopped at each named point, as a killed process would stop: the previous checkpoint
/// must still load, the tracker must still name it, and the next save must clean up.
final class CrashRecoveryTests: XCTestCase {
    static let old = GlobalTensor("w", "F32", [4, 6], seed: 31)
    static let new = GlobalTensor("w", "F32", [4, 6], seed: 32)

    /// Four ranks save `tensor` as row blocks; `stopAt` stops every rank that reaches it.
    /// Returns each rank's error.
    @discardableResult
    static func save(_ root: URL, iteration: Int, _ tensor: GlobalTensor, stopAt: SavePoint? = nil,
                     keepLast: Int? = nil) -> [Int: CheckpointError] {
        runRanksCollecting(4) { rank, group in
            var options = CheckpointSaveOptions(keepLast: keepLast)
            options.hook = { $0 == stopAt ? .stop : .proceed }
            try CheckpointSaver(directory: root, group: group, options: options)
                .save(iteration: iteration, shards: [tensor.data(tensor.piece([rank, 0], [1, 6]))])
        }
    }

    /// The tracker's checkpoint: its iteration and w's bytes.
    static func latest(_ root: URL) throws -> (Int, Data) {
        let reader = try CheckpointReader(directory: root)
        return (reader.iteration, try reader.read(old.whole))
    }

    func testAStopAtAnyPointLeavesALoadableCheckpoint() throws {
        for point in SavePoint.allCases where point != .afterMoveAside {
            let root = try temporaryDirectory()
            XCTAssertEqual(Self.save(root, iteration: 1, Self.old), [:])
            let errors = Self.save(root, iteration: 2, Self.new, stopAt: point)
            XCTAssertEqual(errors[0], .stopped(at: point), "\(point)")
            XCTAssertEqual(errors.count, 4, "every rank stops or loses its peer at \(point): \(errors)")

            let (iteration, bytes) = try Self.latest(root)
            if point == .beforeCleanup {
                // The tracker was replaced: the new checkpoint is complete.
                XCTAssertEqual(iteration, 2)
                XCTAssertEqual(bytes, Data(Self.new.bytes))
            } else {
                XCTAssertEqual(iteration, 1, "\(point)")
                XCTAssertEqual(bytes, Data(Self.old.bytes), "\(point)")
            }
            XCTAssertEqual(try CheckpointReader(directory: root, iteration: 1).read(Self.old.whole), Data(Self.old.bytes))

            // The next save cleans up what the stopped one left.
            XCTAssertEqual(Self.save(root, iteration: 2, Self.new), [:], "\(point)")
            XCTAssertEqual(try listing(root), ["iter_0000001", "iter_0000002", "latest_checkpointed_iteration.txt"], "\(point)")
            XCTAssertEqual(try Self.latest(root).1, Data(Self.new.bytes))
        }
    }

    /// Saving an iteration that exists: a stop between moving the old directory aside and moving
    /// the new one in leaves only `iter_N.replaced`; the reader loads it, and the next save puts
    /// it back when it saves another iteration, or replaces it when it saves the same one.
    func testAStopWhileReplacingAnIterationLeavesTheOldOneLoadable() throws {
        for nextIteration in [1, 2] {
            let root = try temporaryDirectory()
            XCTAssertEqual(Self.save(root, iteration: 1, Self.old), [:])
            XCTAssertEqual(Self.save(root, iteration: 1, Self.new, stopAt: .afterMoveAside)[0], .stopped(at: .afterMoveAside))
            XCTAssertEqual(try listing(root), ["iter_0000001.partial", "iter_0000001.replaced", "latest_checkpointed_iteration.txt"])
            XCTAssertEqual(try Self.latest(root).0, 1)
            XCTAssertEqual(try Self.latest(root).1, Data(Self.old.bytes))

            XCTAssertEqual(Self.save(root, iteration: nextIteration, Self.new), [:])
            let expected = nextIteration == 1 ? ["iter_0000001"] : ["iter_0000001", "iter_0000002"]
            XCTAssertEqual(try listing(root), expected + ["latest_checkpointed_iteration.txt"])
            XCTAssertEqual(try Self.latest(root).1, Data(Self.new.bytes))
            if nextIteration == 2 {
                XCTAssertEqual(try CheckpointReader(directory: root, iteration: 1).read(Self.old.whole), Data(Self.old.bytes))
            }
        }
    }

    /// Re-saving an iteration replaces it; a stop after the tracker leaves the new copy in place
    /// and the old one aside, which the next save removes.
    func testReplacingAnIterationStoppedBeforeCleanup() throws {
        let root = try temporaryDirectory()
        XCTAssertEqual(Self.save(root, iteration: 1, Self.old), [:])
        XCTAssertEqual(Self.save(root, iteration: 1, Self.new, stopAt: .beforeCleanup)[0], .stopped(at: .beforeCleanup))
        XCTAssertEqual(try listing(root), ["iter_0000001", "iter_0000001.replaced", "latest_checkpointed_iteration.txt"])
        XCTAssertEqual(try Self.latest(root).1, Data(Self.new.bytes))
        XCTAssertEqual(Self.save(root, iteration: 1, Self.old), [:])
        XCTAssertEqual(try listing(root), ["iter_0000001", "latest_checkpointed_iteration.txt"])
        XCTAssertEqual(try Self.latest(root).1, Data(Self.old.bytes))
    }

    /// Stale `.partial` directories of any iteration, with files in them, go at the next save.
    func testStalePartialDirectoriesAreRemovedByTheNextSave() throws {
        let root = try temporaryDirectory()
        for name in ["iter_0000002.partial", "iter_0000009.partial", "iter_0000003.deleting"] {
            let dir = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data("junk".utf8).write(to: dir.appendingPathComponent("rank_00000.safetensors"))
        }
        XCTAssertEqual(Self.save(root, iteration: 2, Self.new), [:])
        XCTAssertEqual(try listing(root), ["iter_0000002", "latest_checkpointed_iteration.txt"])
        XCTAssertEqual(try listing(root.appendingPathComponent("iter_0000002")),
                       ["index.json"] + (0..<4).map { "rank_0000\($0).safetensors" })
    }

    /// A rank that fails (here: bytes that don't fit its shard) makes every rank throw, rank 0
    /// naming it; nothing is committed.
    func testAFailingRankMakesEveryRankThrowAndNothingIsCommitted() throws {
        let root = try temporaryDirectory()
        XCTAssertEqual(Self.save(root, iteration: 1, Self.old), [:])
        let errors = runRanksCollecting(4) { rank, group in
            let piece = Self.new.piece([rank, 0], [1, 6])
            let bytes = rank == 1 ? Self.new.bytes(of: piece).dropLast() : Self.new.bytes(of: piece)
            try CheckpointSaver(directory: root, group: group).save(iteration: 2, shards: [ShardData(piece, bytes: bytes)])
        }
        guard case let .invalidShard(tensor, _, reason) = errors[1] else { return XCTFail("\(errors)") }
        XCTAssertEqual(tensor, "w")
        XCTAssertTrue(reason.contains("has 23 bytes"), reason)
        guard case let .rankFailed(rank, rankReason) = errors[0] else { return XCTFail("\(errors)") }
        XCTAssertEqual(rank, 1)
        XCTAssertTrue(rankReason.contains("has 23 bytes"), rankReason)
        for rank in [2, 3] {
            guard case .commitFailed(iteration: 2, _) = errors[rank] else { return XCTFail("rank \(rank): \(errors)") }
        }
        XCTAssertEqual(try Self.latest(root).0, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("iter_0000002").path))
    }

    /// Ranks that disagree on a tensor's global shape are refused at the commit.
    func testRanksDisagreeingOnAShapeAreRefused() throws {
        let root = try temporaryDirectory()
        let errors = runRanksCollecting(2) { rank, group in
            let tensor = GlobalTensor("w", "F32", [2, 6 + rank], seed: 33)
            try CheckpointSaver(directory: root, group: group).save(iteration: 1, shards: [tensor.data(tensor.piece([rank, 0], [1, 6]))])
        }
        XCTAssertEqual(errors[0], .inconsistentShards(tensor: "w", reason: "rank 0 saved F32 [2, 6], rank 1 F32 [2, 7]"))
        guard case .commitFailed = errors[1] else { return XCTFail("\(errors)") }
        XCTAssertThrowsError(try CheckpointReader(directory: root)) { error in
            XCTAssertEqual(error as? CheckpointError, .noTracker(directory: root.path))
        }
    }
}
