import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest

final class AsyncSaveTests: XCTestCase {
    static let weight = GlobalTensor("w", "BF16", [8, 5], seed: 51)
    static let moments = GlobalTensor("optimizer.exp_avg", "F32", [8, 5], seed: 52)

    /// Rank r's pieces: a row block of w and a flat range of the optimizer state.
    static func shards(rank r: Int) -> [ShardData] {
        [weight.data(weight.piece([2 * r, 0], [2, 5])), moments.data(moments.piece([0, 0], [8, 5], flat: (10 * r)..<(10 * r + 10)))]
    }

    static let common: [String: JSONValue] = ["iteration": .int(9), "consumed_samples": .int(1152)]

    /// All files of a checkpoint directory, by relative path.
    func contents(_ root: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try listing(root) {
            let url = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                for (inner, data) in try contents(url) { files[name + "/" + inner] = data }
            } else {
                files[name] = try Data(contentsOf: url)
            }
        }
        return files
    }

    func testAsyncSaveWritesTheSameBytesAsASyncSave() throws {
        let sync = try temporaryDirectory()
        let asyncRoot = try temporaryDirectory()
        assertNoErrors(runRanks(4) { rank, group in
            let state: [String: JSONValue] = ["rng": .string("state of rank \(rank)")]
            try CheckpointSaver(directory: sync, group: group).save(iteration: 9, shards: Self.shards(rank: rank), common: Self.common, rankState: state)
            let saver = AsyncCheckpointSaver(directory: asyncRoot, group: group)
            try saver.save(iteration: 9, shards: Self.shards(rank: rank), common: Self.common, rankState: state)
            try expectEqual(saver.isSaving, true, "saving before wait")
            let report = try saver.wait()
            try expectEqual(report?.iteration, 9, "reported iteration")
            try expectEqual(saver.isSaving, false, "saving after wait")
            try expectEqual(try saver.wait(), nil, "a second wait")
        })
        let expected = try contents(sync)
        XCTAssertEqual(expected.keys.sorted(), [
            "iter_0000009/common.json", "iter_0000009/index.json",
            "iter_0000009/rank_00000.json", "iter_0000009/rank_00000.safetensors",
            "iter_0000009/rank_00001.json", "iter_0000009/rank_00001.safetensors",
            "iter_0000009/rank_00002.json", "iter_0000009/rank_00002.safetensors",
            "iter_0000009/rank_00003.json", "iter_0000009/rank_00003.safetensors",
            "latest_checkpointed_iteration.txt",
        ])
        XCTAssertEqual(try contents(asyncRoot), expected)
        let reader = try CheckpointReader(directory: asyncRoot)
        XCTAssertEqual(try reader.read(Self.moments.whole), Data(Self.moments.bytes))
        XCTAssertEqual(try reader.rankState(rank: 2, as: [String: JSONValue].self), ["rng": .string("state of rank 2")])
    }

    /// The writer thread writes the bytes given at `save`, even if the caller's memory changes
    /// before the thread gets to them (the hook holds the thread until it has).
    func testAsyncSaveCopiesTheCallersBytes() throws {
        let root = try temporaryDirectory()
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.moments.bytes.count, alignment: 8)
        defer { memory.deallocate() }
        Self.moments.bytes.withUnsafeBytes { memory.copyMemory(from: $0) }
        let borrowed = Data(bytesNoCopy: memory.baseAddress!, count: memory.count, deallocator: .none)
        let callerDone = DispatchSemaphore(value: 0)
        let address = UInt(bitPattern: memory.baseAddress!)
        let count = memory.count
        assertNoErrors(runRanks(1) { _, group in
            var options = CheckpointSaveOptions()
            options.hook = { point in
                if point == .beforeRankFiles { callerDone.wait() }
                return .proceed
            }
            let saver = AsyncCheckpointSaver(directory: root, group: group, options: options)
            try saver.save(iteration: 1, shards: [ShardData(Self.moments.whole, bytes: borrowed)])
            // The caller reuses its buffer for the next step.
            UnsafeMutableRawPointer(bitPattern: address)!.initializeMemory(as: UInt8.self, repeating: 0xEE, count: count)
            callerDone.signal()
            try saver.wait()
        })
        XCTAssertEqual(try CheckpointReader(directory: root).read(Self.moments.whole), Data(Self.moments.bytes))
    }

    /// An error on the writer thread surfaces at `wait`, on every rank, not at `save`.
    func testWriterErrorsSurfaceAtWait() throws {
        let root = try temporaryDirectory()
        let errors = runRanksCollecting(2) { rank, group in
            let saver = AsyncCheckpointSaver(directory: root, group: group)
            var shards = Self.shards(rank: rank)
            if rank == 1 { shards[0].bytes.removeLast() }
            do {
                try saver.save(iteration: 4, shards: shards)
            } catch {
                throw Mismatch(description: "save threw \(error); the error belongs to wait")
            }
            try saver.wait()
        }
        guard case .invalidShard(tensor: "w", _, _) = errors[1] else { return XCTFail("\(errors)") }
        guard case .rankFailed(rank: 1, _) = errors[0] else { return XCTFail("\(errors)") }
    }

    /// The next `save` waits for (and commits) the previous one.
    func testTheNextSaveWaitsForThePreviousOne() throws {
        let root = try temporaryDirectory()
        assertNoErrors(runRanks(4) { rank, group in
            let saver = AsyncCheckpointSaver(directory: root, group: group, options: .init(keepLast: 5))
            try saver.save(iteration: 1, shards: Self.shards(rank: rank))
            try saver.save(iteration: 2, shards: Self.shards(rank: rank))
            try saver.wait()
        })
        XCTAssertEqual(try listing(root), ["iter_0000001", "iter_0000002", "latest_checkpointed_iteration.txt"])
        XCTAssertEqual(try CheckpointReader(directory: root).iteration, 2)
        XCTAssertEqual(try CheckpointReader(directory: root, iteration: 1).read(Self.weight.whole), Data(Self.weight.bytes))
    }

    /// Keep-last-N keeps the N highest iterations and always the tracker's.
    func testKeepLastKeepsTheNewestAndTheTrackedIteration() throws {
        let root = try temporaryDirectory()
        assertNoErrors(runRanks(4) { rank, group in
            let saver = CheckpointSaver(directory: root, group: group, options: .init(keepLast: 2))
            for iteration in 1...5 {
                let report = try saver.save(iteration: iteration, shards: Self.shards(rank: rank))
                try expectEqual(report.removedIterations, rank == 0 && iteration >= 3 ? [iteration - 2] : [], "removed at \(iteration)")
                try expectEqual(report.cleanupProblems, [], "clean-up problems")
            }
            // Going back to an older iteration (a resumed run) keeps it, the tracker's, too.
            let report = try saver.save(iteration: 2, shards: Self.shards(rank: rank))
            try expectEqual(report.removedIterations, [], "removed when saving an older iteration")
        })
        XCTAssertEqual(try listing(root), ["iter_0000002", "iter_0000004", "iter_0000005", "latest_checkpointed_iteration.txt"])
        XCTAssertEqual(try CheckpointReader(directory: root).iteration, 2)

        let errors = runRanksCollecting(1) { _, group in
            try CheckpointSaver(directory: root, group: group, options: .init(keepLast: 0)).save(iteration: 6, shards: [])
        }
        guard case .invalidArgument = errors[0] else { return XCTFail("\(errors)") }
    }
}
